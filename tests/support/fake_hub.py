"""A local HTTP server that impersonates the four Hub endpoints a dataset push uses.

``POST /api/repos/create`` (``HfApi.create_repo``), ``POST /api/validate-yaml`` (the README's
metadata, checked by ``upload_folder``), ``POST /api/datasets/{repo}/preupload/{rev}``
(which files are regular or LFS: here every file is "regular") and ``POST
/api/datasets/{repo}/commit/{rev}`` (the ndjson commit with base64 file contents). Every request is
recorded with its Authorization header and body; anything else is answered 404 and recorded too.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    method: str
    path: str
    authorization: str
    body: bytes


@dataclass
class FakeHub:
    url: str
    requests: list[Request] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    created: list[dict[str, Any]] = field(default_factory=list)


_PRE = re.compile(r"^/api/datasets/([^/]+/[^/]+)/preupload/([^/]+)$")
_COMMIT = re.compile(r"^/api/datasets/([^/]+/[^/]+)/commit/([^/]+)$")


def start_fake_hub() -> tuple[FakeHub, ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    hub = FakeHub(url=f"http://127.0.0.1:{server.server_address[1]}")
    server.hub = hub  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return hub, server


def _yaml_errors(readme: str) -> list[dict[str, str]]:
    """The Hub checks a README's YAML header on upload; here: it must parse into a mapping."""
    import yaml

    if not readme.startswith("---\n"):
        return [{"message": "no YAML header"}]
    try:
        header = yaml.safe_load(readme.split("---\n", 2)[1])
    except yaml.YAMLError as exc:
        return [{"message": f"invalid YAML: {exc}"}]
    return [] if isinstance(header, dict) else [{"message": "YAML header is not a mapping"}]


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _reply(self, status: int, value: Any) -> None:
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        hub: FakeHub = self.server.hub  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        path = self.path.split("?")[0]
        hub.requests.append(
            Request(self.command, path, self.headers.get("Authorization", ""), body)
        )
        if self.command == "POST" and path == "/api/repos/create":
            payload = json.loads(body)
            hub.created.append(payload)
            repo = f"{payload.get('organization')}/{payload['name']}"
            self._reply(200, {"url": f"{hub.url}/datasets/{repo}", "name": repo, "id": "1"})
        elif self.command == "POST" and path == "/api/validate-yaml":
            errors = _yaml_errors(json.loads(body).get("content", ""))
            self._reply(400 if errors else 200, {"errors": errors, "warnings": []})
        elif self.command == "POST" and (m := _PRE.match(path)):
            files = json.loads(body)["files"]
            self._reply(
                200,
                {
                    "files": [
                        {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                        for f in files
                    ],
                    "commitOid": "0" * 40,
                },
            )
        elif self.command == "POST" and (m := _COMMIT.match(path)):
            for line in body.decode().splitlines():
                item = json.loads(line)
                if item.get("key") == "file":
                    value = item["value"]
                    hub.files[value["path"]] = base64.b64decode(value["content"])
            self._reply(
                200,
                {
                    "commitUrl": f"{hub.url}/datasets/{m.group(1)}/commit/{'1' * 40}",
                    "commitOid": "1" * 40,
                    "pullRequestUrl": None,
                },
            )
        else:
            self._reply(404, {"error": f"fake hub: no route {self.command} {path}"})

    do_GET = do_POST = do_PUT = do_HEAD = _handle
