"""Tests for the fault-injection OpenAI-compatible test server (tests/support/fault_server.py)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import httpx
import pytest

try:
    from tests.support.fault_server import FaultServer
except ImportError:  # tests/ is not a package: pytest puts tests/ itself on sys.path
    from support.fault_server import FaultServer

SCRIPT = Path(__file__).parent / "support" / "fault_server.py"

SCHEMA = {
    "type": "object",
    "properties": {
        "paraphrases": {"type": "array", "items": {"type": "string"}, "minItems": 3},
        "non_paraphrases": {"type": "array", "items": {"type": "string"}, "minItems": 2},
        "score": {"type": "integer"},
        "ok": {"type": "boolean"},
    },
    "required": ["paraphrases", "non_paraphrases", "score", "ok"],
}
RESPONSE_FORMAT = {"type": "json_schema", "json_schema": {"name": "answer", "schema": SCHEMA}}


def chat_body(prompt: str, **extra: object) -> dict:
    return {"model": "test-model", "messages": [{"role": "user", "content": prompt}], **extra}


def post_chat(
    client: httpx.Client, srv: FaultServer, prompt: str, **extra: object
) -> httpx.Response:
    return client.post(f"{srv.url}/chat/completions", json=chat_body(prompt, **extra))


@pytest.fixture
def client():
    with httpx.Client(timeout=5.0) as c:
        yield c


def test_ok_chat_answer_matches_schema(client: httpx.Client) -> None:
    with FaultServer() as srv:
        r = post_chat(client, srv, "Перефразируй: кот сидит", response_format=RESPONSE_FORMAT)
        assert r.status_code == 200
        data = r.json()
        assert data["object"] == "chat.completion"
        assert data["model"] == "test-model"
        choice = data["choices"][0]
        assert choice["finish_reason"] == "stop"
        assert choice["message"]["role"] == "assistant"
        content = json.loads(choice["message"]["content"])
        assert len(content["paraphrases"]) == 3
        assert len(content["non_paraphrases"]) == 2
        assert content["score"] == 0 and content["ok"] is True
        strings = content["paraphrases"] + content["non_paraphrases"]
        assert len(set(strings)) == len(strings)
        usage = data["usage"]
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0

        # a different prompt gives a different answer; the same prompt the same one
        other = post_chat(client, srv, "Перефразируй: пёс лежит", response_format=RESPONSE_FORMAT)
        again = post_chat(client, srv, "Перефразируй: кот сидит", response_format=RESPONSE_FORMAT)
        assert other.json()["choices"][0]["message"]["content"] != choice["message"]["content"]
        assert again.json()["choices"][0]["message"]["content"] == choice["message"]["content"]
        assert srv.count() == 3 and srv.count(fault="ok") == 3
        assert srv.requests[0].prompt == "Перефразируй: кот сидит"
        assert srv.requests[0].path == "/v1/chat/completions"


def test_ok_completions_answer_matches_schema(client: httpx.Client) -> None:
    with FaultServer() as srv:
        body = {"model": "m", "prompt": "текст", "guided_json": SCHEMA}
        r = client.post(f"{srv.url}/completions", json=body)
        assert r.status_code == 200
        data = r.json()
        assert data["object"] == "text_completion"
        assert data["choices"][0]["finish_reason"] == "stop"
        content = json.loads(data["choices"][0]["text"])
        assert len(content["paraphrases"]) == 3 and len(content["non_paraphrases"]) == 2
        assert "usage" in data
        # structured_outputs.json (vLLM >= 0.10 style) and no schema at all
        body2 = {"model": "m", "prompt": "x", "structured_outputs": {"json": json.dumps(SCHEMA)}}
        data2 = client.post(f"{srv.url}/completions", json=body2).json()
        assert len(json.loads(data2["choices"][0]["text"])["paraphrases"]) == 3
        data3 = client.post(f"{srv.url}/completions", json={"model": "m", "prompt": "x"}).json()
        assert json.loads(data3["choices"][0]["text"]) == {
            "paraphrases": ["вариант"],
            "non_paraphrases": ["не вариант"],
        }


def test_plan_consumed_in_order_per_marker(client: httpx.Client) -> None:
    plan = {"item-1": ["429", "500"], "item-2": ["503"]}
    with FaultServer(plan, retry_after_s=0) as srv:
        statuses = [post_chat(client, srv, "prompt item-1").status_code for _ in range(3)]
        assert statuses == [429, 500, 200]
        assert [post_chat(client, srv, "item-2 !").status_code for _ in range(2)] == [503, 200]
        assert post_chat(client, srv, "no marker here").status_code == 200
        assert [r.fault for r in srv.requests if r.marker == "item-1"] == ["429", "500", "ok"]
        assert [r.fault for r in srv.requests if r.marker == "item-2"] == ["503", "ok"]
        assert srv.requests[-1].marker is None
        assert srv.count(fault="429") == 1 and srv.count(marker="item-1") == 3
        assert srv.count(fault="ok", marker="item-2") == 1


def test_plan_is_thread_safe() -> None:
    with FaultServer({"m": ["500"] * 10}) as srv:
        codes: list[int] = []

        def worker() -> None:
            with httpx.Client(timeout=5.0) as c:
                for _ in range(4):
                    codes.append(post_chat(c, srv, "m").status_code)

        threads = [threading.Thread(target=worker) for _ in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(codes) == [200] * 10 + [500] * 10
        assert srv.count(fault="500") == 10


def test_429_has_retry_after_and_error_body(client: httpx.Client) -> None:
    with FaultServer(default="429", retry_after_s=2.5) as srv:
        r = post_chat(client, srv, "x")
        assert r.status_code == 429
        assert float(r.headers["Retry-After"]) == 2.5
        assert "error" in r.json()
    with FaultServer(default="429", retry_after_s=3) as srv:
        assert post_chat(client, srv, "x").headers["Retry-After"] == "3"


def test_reset_raises_connection_error(client: httpx.Client) -> None:
    with FaultServer({"boom": ["reset", "reset"]}) as srv:
        # an abrupt RST (not a clean FIN): httpx reports ReadError, urllib ConnectionResetError
        with pytest.raises(httpx.ReadError):
            post_chat(client, srv, "boom")
        req = urllib.request.Request(
            f"{srv.url}/chat/completions",
            data=json.dumps(chat_body("boom")).encode(),
            headers={"Content-Type": "application/json"},
        )
        with pytest.raises(ConnectionResetError):
            urllib.request.urlopen(req, timeout=5.0)
        assert post_chat(client, srv, "boom").status_code == 200  # recovers on a new connection
        assert [r.fault for r in srv.requests] == ["reset", "reset", "ok"]


def _handler_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if "process_request" in t.name]


def test_hang_times_out_and_stop_is_prompt() -> None:
    before = set(_handler_threads())
    srv = FaultServer(default="hang", hang_s=30.0).start()
    try:
        with httpx.Client(timeout=0.5) as c:
            t0 = time.monotonic()
            with pytest.raises(httpx.TimeoutException):
                post_chat(c, srv, "x")
            assert time.monotonic() - t0 < 3.0
        # a second request still hanging in a background thread while we stop
        hung = threading.Thread(target=lambda: _swallow(srv.url), daemon=True)
        hung.start()
        deadline = time.monotonic() + 2.0
        while srv.count(fault="hang") < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert srv.count(fault="hang") == 2
    finally:
        t0 = time.monotonic()
        srv.stop()
        assert time.monotonic() - t0 < 2.0
    hung.join(timeout=2.0)
    assert not hung.is_alive()  # the hanging request was ended by stop()
    deadline = time.monotonic() + 2.0
    while set(_handler_threads()) - before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not set(_handler_threads()) - before  # hanging handlers woke up and exited


def _swallow(url: str) -> None:
    with contextlib.suppress(httpx.HTTPError):
        httpx.post(f"{url}/chat/completions", json=chat_body("x"), timeout=10.0)


def test_bad_json_body_is_not_parseable(client: httpx.Client) -> None:
    with FaultServer(default="bad_json") as srv:
        r = post_chat(client, srv, "x")
        assert r.status_code == 200
        assert r.headers["Content-Type"].startswith("application/json")
        with pytest.raises(json.JSONDecodeError):
            json.loads(r.content)


def test_invalid_content_faults(client: httpx.Client) -> None:
    plan = {"a": ["not_json_content"], "b": ["schema_invalid"], "c": ["truncated"]}
    with FaultServer(plan) as srv:
        prose = post_chat(client, srv, "a", response_format=RESPONSE_FORMAT).json()
        with pytest.raises(json.JSONDecodeError):
            json.loads(prose["choices"][0]["message"]["content"])

        invalid = post_chat(client, srv, "b", response_format=RESPONSE_FORMAT).json()
        content = json.loads(invalid["choices"][0]["message"]["content"])
        assert len(content.get("paraphrases", [])) < 3 or "non_paraphrases" not in content

        trunc = post_chat(client, srv, "c", response_format=RESPONSE_FORMAT).json()
        assert trunc["choices"][0]["finish_reason"] == "length"
        text = trunc["choices"][0]["message"]["content"]
        full = post_chat(client, srv, "c", response_format=RESPONSE_FORMAT).json()
        full_text = full["choices"][0]["message"]["content"]
        assert full_text.startswith(text) and 0 < len(text) < len(full_text)
        with pytest.raises(json.JSONDecodeError):
            json.loads(text)


def answer_with_model(body: dict) -> str:
    return "ответ:" + body["model"]


def test_answer_callback_delay_models_health_and_log(client: httpx.Client, tmp_path: Path) -> None:
    log = tmp_path / "req.jsonl"
    with FaultServer(answer=answer_with_model, delay_s=0.2, log_path=log) as srv:
        t0 = time.monotonic()
        r = post_chat(client, srv, "привет")
        assert time.monotonic() - t0 >= 0.2
        assert r.json()["choices"][0]["message"]["content"] == "ответ:test-model"
        assert client.get(srv.url.removesuffix("/v1") + "/health").status_code == 200
        models = client.get(f"{srv.url}/models").json()
        assert models["object"] == "list" and models["data"][0]["id"]
        lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
        assert len(lines) == 1
        assert lines[0]["prompt"] == "привет" and lines[0]["fault"] == "ok"
        assert lines[0]["body"]["model"] == "test-model"


def test_models_list_and_models_faults(client: httpx.Client) -> None:
    with FaultServer() as srv:
        ids = [m["id"] for m in client.get(f"{srv.url}/models").json()["data"]]
        assert "test" in ids  # the llm.model of the tests that run against it
    with FaultServer(models=["a", "b"]) as srv:
        assert [m["id"] for m in client.get(f"{srv.url}/models").json()["data"]] == ["a", "b"]
        assert srv.models_requests == 1 and srv.requests == []  # GETs are not logged requests
    expected = {"404": 404, "401": 401, "403": 403, "500": 500}
    for fault, status in expected.items():
        with FaultServer(models_fault=fault) as srv:  # type: ignore[arg-type]
            r = client.get(f"{srv.url}/models")
            assert r.status_code == status and r.json()["error"]["code"] == status
            assert post_chat(client, srv, "x").status_code == 200  # completions unaffected
    with FaultServer(models_fault="not_json") as srv:
        r = client.get(f"{srv.url}/models")
        assert r.status_code == 200 and r.headers["content-type"] == "text/html"
        with pytest.raises(json.JSONDecodeError):
            r.json()
    with pytest.raises(ValueError, match="models fault"):
        FaultServer(models_fault="teapot")  # type: ignore[arg-type]


def test_upstream_forwarding(client: httpx.Client) -> None:
    with FaultServer(answer=lambda body: "from upstream") as up:
        with FaultServer({"x": ["500"]}, upstream=up.url) as proxy:
            assert post_chat(client, proxy, "x").status_code == 500  # fault injected in front
            r = post_chat(client, proxy, "x", temperature=0.3)
            assert r.status_code == 200
            assert r.json()["choices"][0]["message"]["content"] == "from upstream"
        assert up.count() == 1
        assert up.requests[0].body == chat_body("x", temperature=0.3)  # forwarded unchanged


def test_standalone_ready_answers_and_sigterm(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    proc = subprocess.Popen(
        [sys.executable, str(SCRIPT), "--port", "0", "--log", str(log), "--delay", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout=5.0)
        assert lines and lines[0].startswith("READY http://127.0.0.1:"), lines
        url = lines[0].split()[1]
        r = httpx.post(f"{url}/chat/completions", json=chat_body("hi"), timeout=5.0)
        assert r.status_code == 200
        assert json.loads(r.json()["choices"][0]["message"]["content"])["paraphrases"]
        assert json.loads(log.read_text(encoding="utf-8").splitlines()[0])["fault"] == "ok"
        proc.terminate()
        assert proc.wait(timeout=3.0) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
