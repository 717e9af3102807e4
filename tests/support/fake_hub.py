"""A local HTTP server that impersonates the Hub endpoints a dataset push uses.

What ``huggingface_hub`` (2.x, with ``hf_xet`` installed) sends for ``rudatagen publish --push``:

* ``POST /api/repos/create`` (``HfApi.create_repo``): a new repo gets an initial commit with no
  files; an existing one is answered 409 with its ``url``, which ``exist_ok=True`` accepts.
* ``GET /api/datasets/{repo}/tree/{rev}[/{path}]?recursive=…`` (``list_repo_files``, which
  ``upload_folder(delete_patterns=…)`` calls to know which remote files match the patterns).
* ``POST /api/validate-yaml`` (the README's metadata, checked by ``upload_folder``).
* ``POST /api/datasets/{repo}/preupload/{rev}``: every file is "regular"; a file that already
  exists comes back with its git blob ``oid``, so an unchanged file is left out of the commit.
* ``POST /api/datasets/{repo}/commit/{rev}``: the ndjson commit: a ``header`` line, then
  ``file`` (base64 content), ``deletedFile`` and ``deletedFolder`` lines, applied atomically.
* ``GET /api/datasets/{repo}/refs`` (``list_repo_refs``): ``main`` and the tags.
* ``POST /api/datasets/{repo}/tag/{rev}`` (``create_tag``): 409 when the tag exists.
* ``GET /api/datasets/{repo}/revision/{rev}`` (``repo_info``, asked by an upload that had
  nothing to commit).

Every request is recorded with its Authorization header and body; anything else is answered 404
and recorded too. Each repo keeps its files, its commits (oid, summary, the files after it) and
its tags; ``FakeHub.files`` is the files of the one repo that was pushed to.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote


@dataclass
class Request:
    method: str
    path: str
    authorization: str
    body: bytes


@dataclass
class Commit:
    oid: str
    summary: str
    files: dict[str, bytes]  # the whole tree after this commit


@dataclass
class FakeRepo:
    private: bool
    files: dict[str, bytes] = field(default_factory=dict)
    commits: list[Commit] = field(default_factory=list)  # oldest first
    tags: dict[str, str] = field(default_factory=dict)  # tag -> commit oid

    @property
    def head(self) -> str:
        return self.commits[-1].oid

    def commit(self, oid: str) -> Commit:
        return next(c for c in self.commits if c.oid == oid)

    def resolve(self, revision: str) -> str | None:
        """A commit oid for ``main``, a tag, a full oid or a 7+ character oid prefix."""
        if revision == "main":
            return self.head
        if revision in self.tags:
            return self.tags[revision]
        if len(revision) >= 7:
            found = [c.oid for c in self.commits if c.oid.startswith(revision)]
            if len(found) == 1:
                return found[0]
        return None


@dataclass
class FakeHub:
    url: str
    requests: list[Request] = field(default_factory=list)
    created: list[dict[str, Any]] = field(default_factory=list)
    repos: dict[str, FakeRepo] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def files(self) -> dict[str, bytes]:
        """The files of the only repo with more than its initial commit."""
        pushed = [repo for repo in self.repos.values() if len(repo.commits) > 1]
        assert len(pushed) == 1, f"pushed to {len(pushed)} repos: use hub.repos[REPO].files"
        return pushed[0].files


_REPO_ROUTE = re.compile(
    r"^/api/datasets/(?P<repo>[^/]+/[^/]+)/(?P<op>preupload|commit|tree|tag|revision)/"
    r"(?P<rev>[^/]+)(?P<rest>/.*)?$"
)
_REFS = re.compile(r"^/api/datasets/(?P<repo>[^/]+/[^/]+)/refs$")


def start_fake_hub() -> tuple[FakeHub, ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    hub = FakeHub(url=f"http://127.0.0.1:{server.server_address[1]}")
    server.hub = hub  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return hub, server


def git_blob_oid(content: bytes) -> str:
    """What git (and the Hub's preupload) calls a regular file's oid."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


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


class _Error(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.extra = status, message, code, extra


def _new_commit(repo_id: str, repo: FakeRepo, summary: str, files: dict[str, bytes]) -> Commit:
    seed = json.dumps([repo_id, len(repo.commits), summary, sorted(files)]).encode()
    digest = hashlib.sha1(seed + b"".join(files[p] for p in sorted(files))).hexdigest()
    commit = Commit(oid=digest, summary=summary, files=dict(files))
    repo.commits.append(commit)
    repo.files = dict(files)
    return commit


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _reply(self, status: int, value: Any, code: str | None = None) -> None:
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if code:
            self.send_header("X-Error-Code", code)
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        hub: FakeHub = self.server.hub  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        path, _, query = self.path.partition("?")
        hub.requests.append(
            Request(self.command, path, self.headers.get("Authorization", ""), body)
        )
        try:
            with hub.lock:
                status, value = self._route(hub, path, parse_qs(query), body)
        except _Error as err:
            self._reply(err.status, {"error": err.message, **err.extra}, err.code)
        else:
            self._reply(status, value)

    def _route(
        self, hub: FakeHub, path: str, query: dict[str, list[str]], body: bytes
    ) -> tuple[int, Any]:
        if self.command == "POST" and path == "/api/repos/create":
            payload = json.loads(body)
            hub.created.append(payload)
            repo_id = f"{payload.get('organization')}/{payload['name']}"
            url = f"{hub.url}/datasets/{repo_id}"
            if repo_id in hub.repos:  # the Hub's answer carries the URL, which the client reads
                raise _Error(409, "You already created this dataset repo", url=url)
            repo = hub.repos[repo_id] = FakeRepo(private=payload.get("visibility") == "private")
            _new_commit(repo_id, repo, "initial commit", {})
            return 200, {"url": url, "name": repo_id, "id": "1"}
        if self.command == "POST" and path == "/api/validate-yaml":
            errors = _yaml_errors(json.loads(body).get("content", ""))
            return (400 if errors else 200), {"errors": errors, "warnings": []}
        if self.command == "GET" and (m := _REFS.match(path)):
            repo = self._repo(hub, m["repo"])
            return 200, {
                "branches": [{"name": "main", "ref": "refs/heads/main", "targetCommit": repo.head}],
                "converts": [],
                "tags": [
                    {"name": name, "ref": f"refs/tags/{name}", "targetCommit": oid}
                    for name, oid in repo.tags.items()
                ],
            }
        if m := _REPO_ROUTE.match(path):
            repo_id, op, rest = m["repo"], m["op"], unquote(m["rest"] or "")
            repo = self._repo(hub, repo_id)
            revision = unquote(m["rev"])
            oid = repo.resolve(revision)
            if oid is None:
                raise _Error(404, f"Invalid rev id: {revision}", "RevisionNotFound")
            if self.command == "GET" and op == "tree":
                return 200, self._tree(repo.commit(oid).files, rest.strip("/"), query)
            if self.command == "GET" and op == "revision" and not rest:
                return 200, {"id": repo_id, "sha": oid, "private": repo.private}
            if self.command == "POST" and op == "preupload" and not rest:
                return 200, self._preupload(repo.commit(oid).files, json.loads(body)["files"])
            if self.command == "POST" and op == "commit" and not rest:
                if revision != "main":
                    raise _Error(400, f"fake hub: commits go to main, not {revision}")
                return 200, self._commit(hub, repo_id, repo, body)
            if self.command == "POST" and op == "tag" and not rest:
                tag = json.loads(body)["tag"]
                if tag in repo.tags or tag == "main":
                    raise _Error(409, f"Tag {tag} already exists")
                repo.tags[tag] = oid
                return 200, {}
        raise _Error(404, f"fake hub: no route {self.command} {path}")

    @staticmethod
    def _repo(hub: FakeHub, repo_id: str) -> FakeRepo:
        if repo_id not in hub.repos:
            raise _Error(404, "Repository not found", "RepoNotFound")
        return hub.repos[repo_id]

    @staticmethod
    def _tree(files: dict[str, bytes], under: str, query: dict[str, list[str]]) -> list[dict]:
        recursive = query.get("recursive", ["false"])[0].lower() == "true"
        prefix = f"{under}/" if under else ""
        entries: dict[str, dict[str, Any]] = {}
        for path in sorted(files):
            if not path.startswith(prefix):
                continue
            parts = path[len(prefix) :].split("/")
            depth = len(parts) if recursive else 1
            for i in range(1, min(depth, len(parts) - 1) + 1):  # the folders on the way
                folder = prefix + "/".join(parts[:i])
                entries.setdefault(folder, {"type": "directory", "oid": "0" * 40, "path": folder})
            if recursive or len(parts) == 1:
                content = files[path]
                entries[path] = {
                    "type": "file",
                    "oid": git_blob_oid(content),
                    "size": len(content),
                    "path": path,
                }
        if under and not entries:
            raise _Error(404, f"{under} does not exist", "EntryNotFound")
        return list(entries.values())

    @staticmethod
    def _preupload(files: dict[str, bytes], asked: list[dict[str, Any]]) -> dict[str, Any]:
        answer = []
        for item in asked:
            info = {"path": item["path"], "uploadMode": "regular", "shouldIgnore": False}
            if item["path"] in files:
                info["oid"] = git_blob_oid(files[item["path"]])
            answer.append(info)
        return {"files": answer}

    @staticmethod
    def _commit(hub: FakeHub, repo_id: str, repo: FakeRepo, body: bytes) -> dict[str, Any]:
        files = dict(repo.files)
        summary = ""
        for line in body.decode().splitlines():
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "header":
                summary = value.get("summary", "")
                parent = value.get("parentCommit")
                if parent is not None and parent != repo.head:
                    raise _Error(412, f"parent commit {parent} is not the head of main")
            elif key == "file":
                files[value["path"]] = base64.b64decode(value["content"])
            elif key == "deletedFile":
                if value["path"] not in files:
                    raise _Error(404, f"cannot delete {value['path']}: no such file")
                del files[value["path"]]
            elif key == "deletedFolder":
                prefix = value["path"].strip("/") + "/"
                gone = [p for p in files if p.startswith(prefix)]
                if not gone:
                    raise _Error(404, f"cannot delete {value['path']}: no such folder")
                for p in gone:
                    del files[p]
            else:
                raise _Error(400, f"fake hub: commit line {key!r} not supported")
        commit = _new_commit(repo_id, repo, summary, files)
        return {
            "commitUrl": f"{hub.url}/datasets/{repo_id}/commit/{commit.oid}",
            "commitOid": commit.oid,
            "pullRequestUrl": None,
        }

    do_GET = do_POST = do_PUT = do_HEAD = _handle
