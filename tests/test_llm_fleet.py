"""Several OpenAI-compatible servers behind one backend (``llm.base_url`` as a list).

Unit level against the fault server (tests/support/fault_server.py): ties go round robin, a busy
server is passed over, a server answering 500 or refusing connections is taken out and tried
again after its cool-down, requests in flight on a server that is taken out move to another one,
and the check before a run warns about a server that is down and stops when none is left.

End to end against two real llama.cpp servers of the embedded model: one is killed mid-run, the
run completes with one row or failure per source and the manifest shows both servers' counts.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from tests.support.commands import (
    assert_ends_with_one_error,
    free_port,
    generate_ruhnp_args,
    llama_server_command,
    stop,
)
from tests.support.fault_server import FaultServer

from rudatagen.config import load_recipe
from rudatagen.errors import RudatagenError
from rudatagen.generators.job import run_job
from rudatagen.generators.ruhnp import RuHNPTask
from rudatagen.llm.fleet import public_url
from rudatagen.llm.openai_backend import OpenAIBackend
from rudatagen.llm.settings import OpenAISettings
from rudatagen.llm.types import FatalLLMError, LLMRequest, LLMResponse, TransientLLMError

REPO = Path(__file__).resolve().parents[1]
SCHEMA = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}


def settings(urls: list[str], *extra: str) -> OpenAISettings:
    llm = load_recipe(
        None,
        [
            "llm.backend=openai",
            f"llm.base_url=[{', '.join(urls)}]",
            "llm.model=test",
            "llm.dialect=vllm",
            "llm.prompt_style=chat",
            "llm.timeout_s=5",
            "llm.fleet.cooldown_s=0.3",
            *extra,
        ],
    ).llm
    assert isinstance(llm, OpenAISettings)
    return llm


def request(marker: str) -> LLMRequest:
    return LLMRequest(key=marker, messages=({"role": "user", "content": marker},), schema=SCHEMA)


def servers_by_url(backend: OpenAIBackend) -> dict[str, dict[str, Any]]:
    return {s["url"]: s for s in backend.details()["servers"]}


async def ask_all(backend: OpenAIBackend, markers: list[str]) -> list[LLMResponse]:
    """One request after another (no concurrency), each to its answer."""
    return [await backend.complete(request(m)) for m in markers]


def prompts(srv: FaultServer) -> list[str]:
    return [r.prompt for r in srv.requests]


# ----------------------------------------------------------------------------- settings


def test_one_url_or_a_list_and_bad_lists_are_one_line_errors() -> None:
    one = load_recipe(None, ["llm.backend=openai", "llm.base_url=http://a:8000/v1"]).llm
    assert isinstance(one, OpenAISettings)
    assert one.base_url == "http://a:8000/v1" and one.base_urls == ["http://a:8000/v1"]
    two = settings(["http://a:8000/v1", "http://b:8000/v1"])
    assert two.base_urls == ["http://a:8000/v1", "http://b:8000/v1"]
    for bad, needle in [
        ("[]", "needs llm.base_url"),
        ("[http://a/v1, http://a/v1/]", "lists http://a/v1/ twice"),
    ]:
        with pytest.raises(RudatagenError, match=needle):
            load_recipe(None, ["llm.backend=openai", f"llm.base_url={bad}"])


def test_the_manifest_record_lists_the_servers_without_credentials() -> None:
    backend = OpenAIBackend(settings(["http://user:s3cret@a:8000/v1", "http://b:8000/v1"]))
    details = backend.details()
    asyncio.run(backend.aclose())
    assert "s3cret" not in json.dumps(details)
    assert details["base_url"] == ["http://a:8000/v1", "http://b:8000/v1"]
    assert [s["url"] for s in details["servers"]] == details["base_url"]
    assert details["servers"][0] == {
        "url": "http://a:8000/v1",
        "requests": 0,
        "answered": 0,
        "failed": 0,
        "moved": 0,
        "taken_out": 0,
        "in_rotation": True,
    }
    assert public_url("http://h:1/v1") == "http://h:1/v1"


# ----------------------------------------------------------------------------- routing


def test_ties_go_round_robin() -> None:
    with FaultServer() as a, FaultServer() as b:
        backend = OpenAIBackend(settings([a.url, b.url]))
        markers = [f"запрос {i}" for i in range(6)]
        asyncio.run(_ask_and_close(backend, markers))
        assert prompts(a) == markers[0::2]
        assert prompts(b) == markers[1::2]
        counts = servers_by_url(backend)
        assert counts[a.url]["answered"] == counts[b.url]["answered"] == 3


async def _ask_and_close(backend: OpenAIBackend, markers: list[str]) -> list[LLMResponse]:
    try:
        return await ask_all(backend, markers)
    finally:
        await backend.aclose()


def test_a_busy_server_is_passed_over_for_an_idle_one() -> None:
    with FaultServer(delay_s=1.5) as slow, FaultServer() as fast:
        backend = OpenAIBackend(settings([slow.url, fast.url]))

        async def scenario() -> None:
            first = asyncio.ensure_future(backend.complete(request("долгий")))
            while slow.count() == 0:  # the first request has reached the slow server
                await asyncio.sleep(0.01)
            await ask_all(backend, [f"быстрый {i}" for i in range(4)])
            assert not first.done()  # all four answered while the slow one still works
            await first
            await backend.aclose()

        asyncio.run(scenario())
        assert prompts(slow) == ["долгий"]
        assert prompts(fast) == [f"быстрый {i}" for i in range(4)]


# ----------------------------------------------------------------------------- failures


def test_a_server_answering_500_is_taken_out_and_tried_again_later(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with FaultServer(default="500") as sick, FaultServer() as healthy:
        backend = OpenAIBackend(settings([sick.url, healthy.url], "llm.fleet.max_failures=2"))

        async def scenario() -> None:
            # two 500s in a row take it out; each of those requests moved on to the healthy one
            await ask_all(backend, [f"до {i}" for i in range(6)])
            assert sick.count(fault="500") == 2
            await asyncio.sleep(0.4)  # past the 0.3 s cool-down: one request probes it
            await ask_all(backend, ["проба 1", "после 1"])
            assert sick.count(fault="500") == 3  # the probe failed: out for 0.6 s now
            sick.default = "ok"
            await ask_all(backend, ["рано"])  # still cooling down: not sent to it
            await asyncio.sleep(0.7)
            await ask_all(backend, ["проба 2", "после 2", "после 3"])
            await backend.aclose()

        asyncio.run(scenario())
        assert prompts(sick) == ["до 0", "до 1", "проба 1", "проба 2", "после 3"]
        assert sick.count(fault="ok") == 2
        assert sorted(prompts(healthy)) == sorted(
            [f"до {i}" for i in range(6)] + ["проба 1", "после 1", "рано", "после 2"]
        )
        record = servers_by_url(backend)[sick.url]
        assert record == {
            "url": sick.url,
            "requests": 5,
            "answered": 2,
            "failed": 3,
            "moved": 0,
            "taken_out": 2,
            "in_rotation": True,
        }
    err = capsys.readouterr().err
    assert err.count(f"warning: {sick.url} taken out of rotation") == 2
    assert "tried again in 0.3s" in err and "tried again in 0.6s" in err
    assert f"warning: {sick.url} answers again; back in rotation" in err


def test_a_refused_server_is_out_at_once_and_back_once_it_listens(
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = free_port()
    down = f"http://127.0.0.1:{port}/v1"
    with FaultServer() as up:
        backend = OpenAIBackend(settings([down, up.url]))
        backend.preflight()  # down: a warning, out of rotation, the run goes on
        err = capsys.readouterr().err
        assert f"cannot reach {down} (connection refused)" in err
        assert f"{down} taken out of rotation" in err

        async def scenario() -> None:
            await ask_all(backend, ["а", "б"])
            assert servers_by_url(backend)[down]["requests"] == 0
            await asyncio.sleep(0.4)
            await ask_all(backend, ["в"])  # the probe is refused; the request moves on
            assert servers_by_url(backend)[down]["failed"] == 1
            with FaultServer(port=port) as back:
                await asyncio.sleep(0.7)  # the doubled cool-down
                await ask_all(backend, ["г", "д", "е"])
                assert prompts(back) == ["г", "е"]
            await backend.aclose()

        asyncio.run(scenario())
        assert prompts(up) == ["а", "б", "в", "д"]
        record = servers_by_url(backend)[down]
        assert (record["requests"], record["answered"], record["taken_out"]) == (3, 2, 2)


def test_a_refused_connection_takes_a_server_out_at_once() -> None:
    down = f"http://127.0.0.1:{free_port()}/v1"
    with FaultServer() as up:
        backend = OpenAIBackend(settings([down, up.url], "llm.fleet.max_failures=3"))
        asyncio.run(_ask_and_close(backend, ["а", "б", "в"]))  # no check before: found by "а"
        assert prompts(up) == ["а", "б", "в"]
        record = servers_by_url(backend)[down]
        assert (record["requests"], record["failed"], record["taken_out"]) == (1, 1, 1)


def test_requests_in_flight_move_when_their_server_is_taken_out() -> None:
    with FaultServer(default="hang", hang_s=30.0) as hung, FaultServer(delay_s=1.2) as slow:
        backend = OpenAIBackend(
            settings([hung.url, slow.url], "llm.timeout_s=2", "llm.fleet.max_failures=1")
        )

        async def scenario() -> list[LLMResponse]:
            tasks = []
            for marker in ("первый", "второй", "третий"):  # hung, slow, hung (round robin)
                tasks.append(asyncio.ensure_future(backend.complete(request(marker))))
                await asyncio.sleep(0.3)
            try:
                return list(await asyncio.gather(*tasks))
            finally:
                await backend.aclose()

        started = time.monotonic()
        answers = asyncio.run(scenario())
        elapsed = time.monotonic() - started
        assert len(answers) == 3 and all(json.loads(a.text)["a"] for a in answers)
        assert prompts(hung) == ["первый", "третий"]
        assert sorted(prompts(slow)) == sorted(["первый", "второй", "третий"])
        record = servers_by_url(backend)[hung.url]
        # the first timed out and took the server out; the third was moved, not timed out
        assert (record["failed"], record["moved"], record["taken_out"]) == (1, 1, 1)
        assert elapsed < 8.0  # the third did not wait for a timeout of its own on the hung one


def test_with_every_server_failing_the_callers_retry_gets_the_error() -> None:
    with FaultServer(default="503") as a, FaultServer(default="503") as b:
        backend = OpenAIBackend(settings([a.url, b.url]))
        with pytest.raises(TransientLLMError, match="http_503"):
            asyncio.run(_ask_and_close(backend, ["x"]))
        assert a.count() == b.count() == 1  # each tried once within the one call


# ----------------------------------------------------------------------------- before the run


def test_a_server_without_the_model_is_left_out_and_the_run_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = [
        "Библиотека продлила часы работы читального зала до полуночи.",
        "Местные жители своими силами отремонтировали деревянную церковь.",
        "Фермер собрал небывалый урожай картофеля этой осенью.",
    ]
    source = tmp_path / "texts.txt"
    source.write_text("\n".join(texts) + "\n", encoding="utf-8")
    with FaultServer(models=["other"]) as wrong, FaultServer() as right:
        recipe = load_recipe(
            None,
            [
                f"source.path={source}",
                "llm.backend=openai",
                f"llm.base_url=[{wrong.url}, {right.url}]",
                "llm.model=test",
                "llm.dialect=vllm",
                "llm.prompt_style=chat",
                "ruhnp.n_paraphrases=1",
                "ruhnp.n_non_paraphrases=1",
            ],
        ).generate_settings()
        result = run_job(recipe, RuHNPTask(recipe), tmp_path / "run", show_progress=False)
        assert wrong.requests == [] and right.count() == len(texts)
    assert result.status == "complete" and result.rows == len(texts)
    err = capsys.readouterr().err
    assert f"{wrong.url} does not serve model 'test'" in err and "left out of this run" in err
    backend = result.manifest.extra("backend")
    assert backend["base_url"] == [wrong.url, right.url]
    assert [(s["url"], s["answered"]) for s in backend["servers"]] == [
        (wrong.url, 0),
        (right.url, len(texts)),
    ]
    assert backend["servers"][0]["in_rotation"] is False


def test_all_servers_down_is_one_line_naming_each(tmp_path: Path) -> None:
    urls = [f"http://127.0.0.1:{free_port()}/v1" for _ in range(2)]
    source = tmp_path / "texts.txt"
    source.write_text("Фермер собрал небывалый урожай картофеля этой осенью.\n", encoding="utf-8")
    proc = subprocess.run(
        generate_ruhnp_args(source, tmp_path / "run", f"[{', '.join(urls)}]"),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    error = assert_ends_with_one_error(proc)
    assert error.startswith("error: none of the 2 servers in llm.base_url can be used: ")
    for url in urls:
        assert f"cannot reach {url} (connection refused)" in error
    assert not (tmp_path / "run" / "manifest.json").exists()


def test_one_server_as_a_list_behaves_as_one_server() -> None:
    port = free_port()
    backend = OpenAIBackend(settings([f"http://127.0.0.1:{port}/v1"]))
    with pytest.raises(FatalLLMError, match=r"^cannot reach .* \(connection refused\); is the"):
        backend.preflight()
    asyncio.run(backend.aclose())


# ----------------------------------------------------------------------------- real servers

KILL_AFTER = 1  # answers of the second server before it is killed
SOURCES = 6


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 120.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"llama.cpp server exited early with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"llama.cpp server at {url} not ready after {timeout}s")


@pytest.fixture
def two_llama_servers(embedded_gguf: Path, tmp_path: Path) -> Iterator[list[tuple[str, Any]]]:
    """Two llama.cpp OpenAI-compatible servers of the embedded model (one thread each)."""
    started: list[tuple[str, subprocess.Popen[bytes]]] = []
    try:
        for _ in range(2):
            port = free_port()
            with (tmp_path / f"llama-{port}.log").open("w") as log:
                proc = subprocess.Popen(
                    llama_server_command(embedded_gguf, port), stdout=log, stderr=subprocess.STDOUT
                )
            started.append((f"http://127.0.0.1:{port}/v1", proc))
        for url, proc in started:
            _wait_ready(url, proc)
        yield started
    finally:
        for _, proc in started:
            stop(proc)


@pytest.mark.integration
@pytest.mark.slow
def test_a_server_killed_mid_run_loses_no_source(
    two_llama_servers: list[tuple[str, Any]], wiki_sentences: Path, tmp_path: Path
) -> None:
    (first_url, _), (second_url, second) = two_llama_servers
    recipe = load_recipe(
        None,
        [
            f"source.path={wiki_sentences}",
            f"source.limit={SOURCES}",
            "source.max_chars=80",
            "llm.backend=openai",
            f"llm.base_url=[{first_url}, {second_url}]",
            "llm.model=gemma",
            "llm.dialect=llamacpp",
            "llm.max_concurrency=2",
            "llm.max_tokens=80",
            "llm.retry.backoff_base_s=0.1",
            "llm.retry.backoff_max_s=0.5",
            "ruhnp.n_paraphrases=1",
            "ruhnp.n_non_paraphrases=1",
            # short prompts and answers (the grammar caps each candidate at 12 characters):
            # about 50 tokens a request, as few as a real run against real servers can take
            "ruhnp.n_examples=0",
            "ruhnp.max_candidate_chars=12",
        ],
    ).generate_settings()
    assert isinstance(recipe.llm, OpenAISettings)
    backend = OpenAIBackend(recipe.llm)
    killed_at: list[int] = []

    record = backend.fleet.servers[1]  # live counts of the second server

    def kill_the_second() -> None:
        """Once it has answered and holds its next request: SIGKILL, no goodbye."""
        while not (record.answered >= KILL_AFTER and record.in_flight) and not done.is_set():
            time.sleep(0.01)
        second.kill()
        second.wait()
        time.sleep(0.5)  # an answer already read off the socket is counted by now
        killed_at.append(record.answered)

    done = threading.Event()
    killer = threading.Thread(target=kill_the_second, daemon=True)
    killer.start()
    started = time.monotonic()
    try:
        result = run_job(
            recipe,
            RuHNPTask(recipe),
            tmp_path / "run",
            show_progress=False,
            backend_factory=lambda: backend,
        )
    finally:
        done.set()
        killer.join(timeout=10)
    elapsed = time.monotonic() - started

    out = tmp_path / "run"
    rows = [
        r for p in sorted((out / "data").glob("*.parquet")) for r in pq.read_table(p).to_pylist()
    ]
    failed_path = out / "failed.jsonl"
    failed = [json.loads(line) for line in failed_path.read_text(encoding="utf-8").splitlines()]
    ids = [r["id"] for r in rows] + [f["id"] for f in failed]
    assert len(ids) == len(set(ids)) == SOURCES  # every source once: a row or a failure
    assert not [f for f in failed if f["error"].startswith("transport")], failed
    assert len(rows) >= SOURCES // 2, failed  # the embedded model answers most of them

    assert killed_at and killed_at[0] >= KILL_AFTER, "the second server was never killed"
    servers = result.manifest.extra("backend")["servers"]
    assert [s["url"] for s in servers] == [first_url, second_url]
    first, second_record = servers
    assert second_record["answered"] == killed_at[0]  # nothing answered after the kill
    assert second_record["taken_out"] >= 1 and second_record["in_rotation"] is False
    # every call was answered once, by one server, unless it was retried (counted by reason)
    stats = result.report.stats
    assert first["answered"] + second_record["answered"] == stats.llm_calls - sum(
        stats.retries.values()
    )
    assert first["answered"] > second_record["answered"]
    print(f"two llama.cpp servers, one killed: {SOURCES} sources in {elapsed:.1f}s; {servers}")
