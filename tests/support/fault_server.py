"""A local OpenAI-compatible HTTP server that misbehaves on purpose.

Used for fault-injection tests of the LLM client (retries on 429/5xx/resets/timeouts,
re-asks on invalid answers) and as a fast, well-behaved stand-in server for benchmarks.

In-process::

    with FaultServer({"item-7": ["429", "500"]}, default="ok") as srv:
        client = OpenAIClient(base_url=srv.url)
        ...
        assert srv.count(fault="429") == 1

``GET /v1/models`` lists ``models`` (by default the names the tests' and benches' recipes use,
so the client's check before a run passes), or misbehaves as ``models_fault`` says: ``404``,
``not_json`` (an HTML page, as some proxies answer), ``401``/``403`` (a refused key) or ``500``.

Standalone (prints ``READY http://127.0.0.1:PORT/v1`` once listening, serves until
SIGTERM/SIGINT)::

    python tests/support/fault_server.py --port 0 --delay 0.01 --log requests.jsonl

Stdlib only, so it can run in any interpreter without the project installed.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal, get_args

Fault = Literal[
    "ok",
    "429",
    "500",
    "503",
    "reset",
    "hang",
    "bad_json",
    "not_json_content",
    "schema_invalid",
    "truncated",
]
FAULTS: tuple[str, ...] = get_args(Fault)
ModelsFault = Literal["ok", "404", "not_json", "401", "403", "500"]
MODELS_FAULTS: tuple[str, ...] = get_args(ModelsFault)

MODEL_ID = "fault-server"
# Any model name is answered; /v1/models lists these: ours and the llm.model of the tests and
# benches that run against this server.
DEFAULT_MODELS: tuple[str, ...] = (MODEL_ID, "test", "bench")
NOT_JSON_PAGE = b"<html><body><h1>It works!</h1></body></html>"
DEFAULT_ANSWER = '{"paraphrases": ["вариант"], "non_paraphrases": ["не вариант"]}'
PROSE_ANSWER = "Конечно! Вот ответ:"
INVALID_ANSWER = '{"paraphrases": ["один"]}'
BAD_JSON_BODY = b'{"choices": ['
UPSTREAM_TIMEOUT_S = 600.0


@dataclass
class LoggedRequest:
    path: str  # "/v1/chat/completions" or "/v1/completions"
    marker: str | None  # the first plan key found in the prompt text, else None
    fault: str  # what the server did
    prompt: str  # full prompt text (completion "prompt", or chat contents joined by "\n")
    body: dict
    time: float


# ----------------------------------------------------------------------------- helpers


def prompt_text(body: dict) -> str:
    """The prompt of a completions request, or all chat message contents joined by newlines."""
    if "messages" in body:
        parts: list[str] = []
        for message in body.get("messages") or []:
            if isinstance(message, dict):
                parts.append(_content_text(message.get("content")))
        return "\n".join(parts)
    prompt = body.get("prompt", "")
    if isinstance(prompt, list):
        return "\n".join(str(p) for p in prompt)
    return "" if prompt is None else str(prompt)


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": ...}, ...]
        texts = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif isinstance(part, str):
                texts.append(part)
        return "\n".join(texts)
    return str(content)


def _as_schema(value: Any) -> dict | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


def find_schema(body: dict) -> dict | None:
    """The JSON schema requested by a body, wherever OpenAI/vLLM/llama.cpp put it."""
    containers = [body]
    if isinstance(body.get("extra_body"), dict):
        containers.append(body["extra_body"])
    for container in containers:
        rf = container.get("response_format")
        if isinstance(rf, dict):
            js = rf.get("json_schema")
            if isinstance(js, dict) and _as_schema(js.get("schema")) is not None:
                return _as_schema(js.get("schema"))
            if _as_schema(rf.get("schema")) is not None:
                return _as_schema(rf.get("schema"))
        if _as_schema(container.get("guided_json")) is not None:
            return _as_schema(container.get("guided_json"))
        so = container.get("structured_outputs")
        if isinstance(so, dict) and _as_schema(so.get("json")) is not None:
            return _as_schema(so.get("json"))
        if _as_schema(container.get("json_schema")) is not None:  # llama.cpp native
            return _as_schema(container.get("json_schema"))
    return None


def digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:6]


def _resolve(schema: dict, root: dict) -> dict:
    ref = schema.get("$ref")
    seen = 0
    while isinstance(ref, str) and ref.startswith("#/") and seen < 32:
        node: Any = root
        for key in ref[2:].split("/"):
            node = (
                node.get(key.replace("~1", "/").replace("~0", "~"), {})
                if isinstance(node, dict)
                else {}
            )
        schema = {**node, **{k: v for k, v in schema.items() if k != "$ref"}}
        ref = node.get("$ref") if isinstance(node, dict) else None
        seen += 1
    return schema


def _schema_type(schema: dict) -> str | None:
    t = schema.get("type")
    if isinstance(t, list):
        non_null = [x for x in t if x != "null"]
        t = non_null[0] if non_null else "null"
    if t is None:
        if "properties" in schema:
            return "object"
        if "items" in schema:
            return "array"
    return t


def instance_for(schema: dict, prompt: str) -> Any:
    """A deterministic instance of ``schema``; strings are unique and carry a prompt digest."""
    counter = [0]
    tag = digest(prompt)

    def build(node: Any, depth: int) -> Any:
        if not isinstance(node, dict) or depth > 32:
            return None
        node = _resolve(node, schema)
        if "const" in node:
            return node["const"]
        if isinstance(node.get("enum"), list) and node["enum"]:
            return node["enum"][0]
        for key in ("anyOf", "oneOf"):
            options = node.get(key)
            if isinstance(options, list) and options:
                non_null = [
                    o for o in options if not (isinstance(o, dict) and o.get("type") == "null")
                ]
                return build((non_null or options)[0], depth + 1)
        if isinstance(node.get("allOf"), list) and node["allOf"]:
            merged: dict = {}
            for part in node["allOf"]:
                merged.update(_resolve(part, schema) if isinstance(part, dict) else {})
            merged.update({k: v for k, v in node.items() if k != "allOf"})
            return build(merged, depth + 1)
        t = _schema_type(node)
        if t == "object":
            props = node.get("properties") or {}
            return {name: build(sub, depth + 1) for name, sub in props.items()}
        if t == "array":
            n = node.get("minItems") or 1
            items = node.get("items")
            if isinstance(items, list):  # tuple form
                return [build(items[i % len(items)], depth + 1) for i in range(max(n, len(items)))]
            return [build(items if isinstance(items, dict) else {}, depth + 1) for _ in range(n)]
        if t == "string":
            counter[0] += 1
            text = f"вариант {counter[0]} текста {tag}"
            min_len = node.get("minLength") or 0
            if len(text) < min_len:
                text = text + " текст" * ((min_len - len(text)) // 6 + 1)
            return text
        if t in ("integer", "number"):
            value = node.get("minimum", node.get("exclusiveMinimum", 0))
            if "exclusiveMinimum" in node and "minimum" not in node:
                value = value + 1
            return int(value) if t == "integer" else value
        if t == "boolean":
            return True
        if t == "null":
            return None
        counter[0] += 1  # untyped: a string is the most useful guess
        return f"вариант {counter[0]} текста {tag}"

    return build(schema, 0)


def default_answer(body: dict) -> str:
    schema = find_schema(body)
    if schema is None:
        return DEFAULT_ANSWER
    return json.dumps(instance_for(schema, prompt_text(body)), ensure_ascii=False)


def invalid_answer(body: dict) -> str:
    """JSON that violates the requested schema (wrong type / too few items / missing keys)."""
    schema = find_schema(body)
    if schema is None:
        return INVALID_ANSWER
    schema_r = _resolve(schema, schema)
    props = schema_r.get("properties")
    if _schema_type(schema_r) != "object" or not isinstance(props, dict) or not props:
        return INVALID_ANSWER if _schema_type(schema_r) != "object" else "[]"
    name, sub = next(iter(props.items()))
    sub = _resolve(sub, schema) if isinstance(sub, dict) else {}
    if _schema_type(sub) == "array" and (sub.get("minItems") or 0) >= 2:
        bad: Any = ["один"]
    elif _schema_type(sub) == "string":
        bad = ["один"]
    else:
        bad = "один"
    return json.dumps({name: bad}, ensure_ascii=False)


def _tokens(text: str) -> int:
    return len(text.split()) + 1


def _format_seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


# ----------------------------------------------------------------------------- server


class _HTTPServer(ThreadingHTTPServer):
    request_queue_size = 128  # the default 5 drops connects when many clients start at once
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    fault_server: FaultServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (OSError, ValueError)):  # client went away, socket reset, ...
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: every response carries Content-Length
    server_version = "FaultServer/1.0"
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        with contextlib.suppress(OSError):  # no Nagle/delayed-ACK stalls on keep-alive
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.fault_server._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fault_server._track(self.connection, add=False)

    def log_message(self, fmt: str, *args: Any) -> None:
        if self.server.fault_server.verbose:
            super().log_message(fmt, *args)

    # -- low-level responses

    def _send(
        self,
        status: int,
        payload: bytes,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Connection", "close" if self.close_connection else "keep-alive")
        self._headers_buffer.append(b"\r\n" + payload)  # headers + body in one write
        self.flush_headers()

    def _send_json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"), headers)

    def _send_error_json(
        self, status: int, message: str, kind: str, headers: dict[str, str] | None = None
    ) -> None:
        self._send_json(
            status, {"error": {"message": message, "type": kind, "code": status}}, headers
        )

    def _reset(self) -> None:
        """Close the socket abruptly (RST, no response)."""
        self.close_connection = True
        sock = self.connection
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            os.close(sock.detach())

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            raise ConnectionAbortedError("the client went away mid-request")
        return body

    # -- routes

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        fs = self.server.fault_server
        if path in ("/health", "/v1/health"):
            self._send_json(200, {"status": "ok"})
        elif path == "/v1/models":
            with fs._lock:
                fs.models_requests += 1
            if fs.models_fault == "404":
                self._send_error_json(404, f"unknown path {self.path}", "not_found")
                return
            if fs.models_fault == "not_json":
                self._send(200, NOT_JSON_PAGE, content_type="text/html")
                return
            if fs.models_fault in ("401", "403", "500"):
                status = int(fs.models_fault)
                self._send_error_json(status, f"HTTP {status} (injected)", "models_error")
                return
            if fs.upstream:
                try:
                    status, data, ctype = fs._forward("GET", "/v1/models", None, {})
                except OSError:
                    pass
                else:
                    self._send(status, data, content_type=ctype)
                    return
            self._send_json(
                200,
                {
                    "object": "list",
                    "data": [
                        {
                            "id": model,
                            "object": "model",
                            "created": 0,
                            "owned_by": "rudatagen-tests",
                        }
                        for model in fs.models
                    ],
                },
            )
        else:
            self._send_error_json(404, f"unknown path {self.path}", "not_found")

    def do_POST(self) -> None:
        fs = self.server.fault_server
        path = self.path.split("?", 1)[0].rstrip("/")
        try:
            raw = self._read_body()
        except ConnectionAbortedError:
            self.close_connection = True
            return  # a half-sent request (client killed): neither logged nor answered
        if path not in ("/v1/chat/completions", "/v1/completions"):
            self._send_error_json(404, f"unknown path {self.path}", "not_found")
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError as exc:
            body = f"invalid JSON body: {exc}"
        if not isinstance(body, dict):
            fs._log(LoggedRequest(path, None, "bad_request", "", {}, time.time()))
            msg = body if isinstance(body, str) else "JSON body is not an object"
            self._send_error_json(400, msg, "invalid_request_error")
            return
        prompt = prompt_text(body)
        marker, fault = fs._choose(prompt)
        fs._log(LoggedRequest(path, marker, fault, prompt, body, time.time()))
        chat = path == "/v1/chat/completions"

        if fault == "429":
            self._send_error_json(
                429,
                "rate limit exceeded (injected)",
                "rate_limit_exceeded",
                {"Retry-After": _format_seconds(fs.retry_after_s)},
            )
        elif fault in ("500", "503"):
            self._send_error_json(int(fault), f"server error {fault} (injected)", "server_error")
        elif fault == "reset":
            self._reset()
        elif fault == "hang":
            fs._stopping.wait(fs.hang_s)
            self.close_connection = True  # close without answering
        elif fault == "bad_json":
            self._send(200, BAD_JSON_BODY)
        else:
            self._answer(fs, fault, path, raw, body, prompt, chat)

    def _answer(
        self,
        fs: FaultServer,
        fault: str,
        path: str,
        raw: bytes,
        body: dict,
        prompt: str,
        chat: bool,
    ) -> None:
        if fs.delay_s > 0 and fs._stopping.wait(fs.delay_s):
            self._reset()
            return
        finish = "stop"
        if fault == "ok":
            if fs.answer is None and fs.upstream:
                try:
                    status, data, ctype = fs._forward("POST", path, raw, dict(self.headers))
                except OSError as exc:
                    self._send_error_json(502, f"upstream unreachable: {exc}", "upstream_error")
                    return
                self._send(status, data, content_type=ctype)
                return
            text = fs._answer_text(path, raw, body)
        elif fault == "not_json_content":
            text = PROSE_ANSWER
        elif fault == "schema_invalid":
            text = invalid_answer(body)
        elif fault == "truncated":
            full = fs._answer_text(path, raw, body)
            text = full[: len(full) // 2]
            finish = "length"
        else:  # pragma: no cover - guarded by _choose
            self._send_error_json(500, f"unknown fault {fault!r}", "server_error")
            return
        self._send_json(200, completion_payload(body, text, prompt, chat, finish))


def completion_payload(
    body: dict, text: str, prompt: str, chat: bool, finish_reason: str = "stop"
) -> dict:
    p, c = _tokens(prompt), _tokens(text)
    usage = {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}
    model = body.get("model") or MODEL_ID
    if chat:
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": finish_reason,
                }
            ],
            "usage": usage,
        }
    return {
        "id": f"cmpl-{uuid.uuid4().hex[:24]}",
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}],
        "usage": usage,
    }


class FaultServer:
    """OpenAI-compatible server on 127.0.0.1 that injects faults according to a plan.

    ``plan`` maps marker substrings to fault lists: the first key (in dict order) contained in a
    request's prompt selects its list, and each such request consumes the next fault; once a list
    is exhausted, or when no marker matches, ``default`` is used. ``models`` and
    ``models_fault`` decide what ``GET /v1/models`` answers (counted in ``models_requests``).
    """

    def __init__(
        self,
        plan: dict[str, list[Fault]] | None = None,
        *,
        default: Fault = "ok",
        answer: Callable[[dict], str] | None = None,
        delay_s: float = 0.0,
        retry_after_s: float = 1.0,
        hang_s: float = 30.0,
        port: int = 0,
        upstream: str | None = None,
        log_path: Path | None = None,
        verbose: bool = False,
        models: Sequence[str] = DEFAULT_MODELS,
        models_fault: ModelsFault = "ok",
    ) -> None:
        self.plan: dict[str, list[str]] = {k: list(v) for k, v in (plan or {}).items()}
        for marker, faults in self.plan.items():
            for fault in faults:
                if fault not in FAULTS:
                    raise ValueError(f"unknown fault {fault!r} for marker {marker!r}")
        if default not in FAULTS:
            raise ValueError(f"unknown default fault {default!r}")
        self.default: str = default
        if models_fault not in MODELS_FAULTS:
            raise ValueError(f"unknown models fault {models_fault!r}")
        self.models: list[str] = list(models)
        self.models_fault: str = models_fault
        self.models_requests = 0
        self.answer = answer
        self.delay_s = delay_s
        self.retry_after_s = retry_after_s
        self.hang_s = hang_s
        self.port = port
        self.upstream = upstream.rstrip("/") if upstream else None
        self.log_path = Path(log_path) if log_path is not None else None
        self.verbose = verbose
        self.requests: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self._log_lock = threading.Lock()
        self._consumed: dict[str, int] = {}
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    @property
    def url(self) -> str:
        if not self.port:
            raise RuntimeError("FaultServer is not started (port unknown)")
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FaultServer:
        if self._httpd is not None:
            return self
        self._stopping = threading.Event()
        httpd = _HTTPServer(("127.0.0.1", self.port), _Handler)
        httpd.fault_server = self
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"FaultServer:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._stopping.set()  # wakes hanging / delayed handlers
        httpd.shutdown()
        with self._lock:
            conns = list(self._connections)
        for conn in conns:  # unblock idle keep-alive readers
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=2.0)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- inspection

    def count(self, fault: str | None = None, marker: str | None = None) -> int:
        with self._lock:
            return sum(
                1
                for r in self.requests
                if (fault is None or r.fault == fault) and (marker is None or r.marker == marker)
            )

    # -- internals used by the handler

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _choose(self, prompt: str) -> tuple[str | None, str]:
        with self._lock:
            for marker, faults in self.plan.items():
                if marker in prompt:
                    i = self._consumed.get(marker, 0)
                    self._consumed[marker] = i + 1
                    return marker, faults[i] if i < len(faults) else self.default
            return None, self.default

    def _log(self, entry: LoggedRequest) -> None:
        with self._lock:
            self.requests.append(entry)
        if self.log_path is not None:
            line = json.dumps(asdict(entry), ensure_ascii=False)
            with self._log_lock, self.log_path.open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")
                fh.flush()

    def _forward(
        self, method: str, path: str, raw: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes, str]:
        assert self.upstream is not None
        sub = path.removeprefix("/v1")
        fwd_headers = {"Content-Type": "application/json"}
        for key, value in headers.items():
            if key.lower() == "authorization":
                fwd_headers["Authorization"] = value
        req = urllib.request.Request(
            self.upstream + sub, data=raw, method=method, headers=fwd_headers
        )
        try:
            with urllib.request.urlopen(req, timeout=UPSTREAM_TIMEOUT_S) as resp:
                ctype = resp.headers.get("Content-Type", "application/json")
                return resp.status, resp.read(), ctype
        except urllib.error.HTTPError as exc:
            ctype = (
                exc.headers.get("Content-Type", "application/json")
                if exc.headers
                else ("application/json")
            )
            return exc.code, exc.read(), ctype

    def _answer_text(self, path: str, raw: bytes, body: dict) -> str:
        if self.answer is not None:
            return self.answer(body)
        if self.upstream:
            try:
                status, data, _ = self._forward("POST", path, raw, {})
                choice = json.loads(data)["choices"][0]
                text = choice["message"]["content"] if "message" in choice else choice["text"]
                if status == 200 and isinstance(text, str):
                    return text
            except (OSError, ValueError, KeyError, IndexError, TypeError):
                pass
        return default_answer(body)


# ----------------------------------------------------------------------------- standalone


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--log", type=Path, default=None, help="append requests as JSON lines")
    parser.add_argument("--default", choices=FAULTS, default="ok")
    parser.add_argument("--upstream", default=None, help="e.g. http://127.0.0.1:8080/v1")
    parser.add_argument(
        "--plan",
        default=None,
        help='JSON object marker -> faults, e.g. \'{"item-3": ["429", "ok"]}\'',
    )
    parser.add_argument("--retry-after", type=float, default=1.0)
    parser.add_argument("--hang", type=float, default=30.0)
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    parser.add_argument(
        "--models",
        default=",".join(DEFAULT_MODELS),
        help="comma-separated model names that GET /v1/models lists",
    )
    parser.add_argument("--models-fault", choices=MODELS_FAULTS, default="ok")
    args = parser.parse_args(argv)

    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    server = FaultServer(
        json.loads(args.plan) if args.plan else None,
        default=args.default,
        delay_s=args.delay,
        retry_after_s=args.retry_after,
        hang_s=args.hang,
        port=args.port,
        upstream=args.upstream,
        log_path=args.log,
        verbose=args.verbose,
        models=[m for m in args.models.split(",") if m],
        models_fault=args.models_fault,
    ).start()
    print(f"READY {server.url}", flush=True)
    try:
        while not stop.wait(0.2):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
