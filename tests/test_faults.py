"""Fault injection end to end: a real OpenAI-compatible server that misbehaves on purpose.

One ``run_job`` against :class:`FaultServer` meets every fault the client must survive (429 with
``Retry-After``, 5xx, reset connections, hangs, broken bodies, prose, schema violations,
truncation) plus two items that cannot be saved. The counts in the manifest are checked
against the plan, then re-runs retry only the failures and finally make no call at all.
A 401 stops the run: in process with ``FatalLLMError``, through the CLI with exit status 2.

Before a run the server is checked once (``GET /models``): nothing listening, a model it does not
serve or a refused key stop the command within seconds; a server that cannot list its models
(404, not JSON, 500) gets a warning and the run goes on.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from tests.support.commands import assert_ends_with_one_error, free_port, generate_ruhnp_args
from tests.support.fault_server import FaultServer, LoggedRequest

from rudatagen.config import load_recipe
from rudatagen.errors import RudatagenError
from rudatagen.generators.job import GenerateStage, run_job
from rudatagen.generators.ruhnp import RuHNPTask
from rudatagen.generators.settings import GenerateSettings
from rudatagen.llm.types import FatalLLMError
from rudatagen.sources import SourceText, read_source

REPO = Path(__file__).resolve().parents[1]

N_POS = 3
N_NEG = 2
MAX_RETRIES = 2
MAX_REASKS = 1
RETRY_AFTER_S = 0.3

# Each text is its own marker (it appears verbatim in the prompt's last user message).
T_429 = "Весной на старой пристани открылось маленькое кафе для рыбаков."
T_5XX = "Учёные обнаружили в пещере следы древнего поселения охотников."
T_RESET = "Вечерний поезд до Казани отправился с опозданием на десять минут."
T_HANG = "В городском парке высадили три сотни молодых лип и клёнов."
T_BAD_JSON = "Школьный хор занял первое место на областном конкурсе песни."
T_PROSE = "Бабушка испекла пирог с яблоками и корицей к приезду внуков."
T_SCHEMA = "Новая линия метро соединит северные районы с центром города."
T_TRUNCATED = "Фермер собрал небывалый урожай картофеля этой осенью."
T_GIVE_UP = "Экспедиция вернулась с Северного полюса после трёх месяцев пути."
T_NEVER_VALID = "Музей получил в дар коллекцию старинных часов и барометров."
T_OK_1 = "Библиотека продлила часы работы читального зала до полуночи."
T_OK_2 = "Местные жители своими силами отремонтировали деревянную церковь."

PLAN: dict[str, list[Any]] = {
    T_429: ["429"],
    T_5XX: ["500", "503"],
    T_RESET: ["reset"],
    T_HANG: ["hang"],
    T_BAD_JSON: ["bad_json"],
    T_PROSE: ["not_json_content"],
    T_SCHEMA: ["schema_invalid"],
    T_TRUNCATED: ["truncated"],
    # more transport failures than max_retries allows: fails with "transport"
    T_GIVE_UP: ["500"] * (MAX_RETRIES + 1),
    # more invalid answers than max_reasks allows: fails with "invalid_answer"
    T_NEVER_VALID: ["schema_invalid"] * (MAX_REASKS + 1),
}
ALL_TEXTS = [*PLAN, T_OK_1, T_OK_2]
UNRECOVERABLE = {T_GIVE_UP: "transport", T_NEVER_VALID: "invalid_answer"}

TRANSPORT_REASON = {
    "429": "http_429",
    "500": "http_500",
    "503": "http_503",
    "reset": "connection",
    "hang": "timeout",
    "bad_json": "bad_response",
}
ANSWER_REASON = {
    "not_json_content": "not_json",
    "schema_invalid": "schema",
    "truncated": "truncated",
}


def expected_counts() -> tuple[Counter[str], Counter[str], dict[str, int], dict[str, int]]:
    """Retries and invalid answers by reason, requests and answer attempts per text."""
    retries: Counter[str] = Counter()
    invalid: Counter[str] = Counter()
    calls: dict[str, int] = {}
    attempts: dict[str, int] = {}
    for text, faults in PLAN.items():
        transport = [f for f in faults if f in TRANSPORT_REASON]
        answers = [f for f in faults if f in ANSWER_REASON]
        if text == T_GIVE_UP:  # the last failure is not retried
            transport = transport[:MAX_RETRIES]
        retries.update(TRANSPORT_REASON[f] for f in transport)
        invalid.update(ANSWER_REASON[f] for f in answers)
        calls[text] = len(faults) + (0 if text in UNRECOVERABLE else 1)
        attempts[text] = len(answers) + 1
    for text in (T_OK_1, T_OK_2):
        calls[text] = 1
        attempts[text] = 1
    return retries, invalid, calls, attempts


def write_sources(path: Path, texts: list[str]) -> Path:
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    return path


def make_recipe(source: Path, base_url: str, *extra: str) -> GenerateSettings:
    return load_recipe(
        None,
        [
            f"source.path={source}",
            "llm.backend=openai",
            f"llm.base_url={base_url}",
            "llm.model=test",
            "llm.dialect=vllm",
            "llm.prompt_style=chat",
            "llm.timeout_s=2",
            # FaultServer listens with the socketserver default backlog of 5: more simultaneous
            # connects get their SYN dropped and retransmitted after 1 s, a spurious "timeout".
            "llm.max_concurrency=4",
            f"llm.max_reasks={MAX_REASKS}",
            f"llm.retry.max_retries={MAX_RETRIES}",
            "llm.retry.backoff_base_s=0.01",
            "llm.retry.backoff_max_s=0.05",
            f"ruhnp.n_paraphrases={N_POS}",
            f"ruhnp.n_non_paraphrases={N_NEG}",
            *extra,
        ],
    ).generate_settings()


def last_user_message(request: LoggedRequest) -> str:
    messages = request.body.get("messages") or []
    return str(messages[-1]["content"]) if messages else request.prompt


def requested_texts(requests: list[LoggedRequest], texts: list[str]) -> list[str]:
    """The source text behind each logged request (each text is in its last user message)."""
    found = []
    for request in requests:
        last = last_user_message(request)
        matches = [t for t in texts if t in last]
        assert matches, f"a request for no known source text: {last[:120]!r}"
        found.append(max(matches, key=len))
    return found


def read_rows(out: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for shard in sorted((out / "data").glob("shard-*.parquet")):
        rows.extend(pq.read_table(shard).to_pylist())
    return rows


def read_failed(out: Path) -> list[dict[str, Any]]:
    text = (out / "failed.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def read_manifest(out: Path) -> dict[str, Any]:
    value = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert isinstance(value, dict)
    return value


@pytest.fixture
def sources(tmp_path: Path) -> tuple[Path, list[SourceText]]:
    path = write_sources(tmp_path / "texts.txt", ALL_TEXTS)
    kept, _ = read_source(path, load_recipe(None, [f"source.path={path}"]).source)
    assert [s.text for s in kept] == ALL_TEXTS  # nothing filtered, nothing renormalised
    return path, kept


@pytest.fixture
def source(sources: tuple[Path, list[SourceText]]) -> Path:
    """The source file of ``sources``, for tests that need no ids."""
    return sources[0]


def test_faults_are_retried_counted_and_failures_resumed(
    tmp_path: Path, sources: tuple[Path, list[SourceText]]
) -> None:
    source, kept = sources
    id_of = {s.text: s.id for s in kept}
    out = tmp_path / "run"
    retries, invalid, calls, attempts = expected_counts()

    # -- run 1: every fault at once ------------------------------------------------------------
    with FaultServer(PLAN, retry_after_s=RETRY_AFTER_S, hang_s=10.0) as srv:
        recipe = make_recipe(source, srv.url)
        result = run_job(recipe, RuHNPTask(recipe), out, show_progress=False)
        logged = list(srv.requests)
        assert srv.models_requests == 1  # checked once before the run, never during it

    assert result.status == "incomplete"
    per_text = Counter(requested_texts(logged, ALL_TEXTS))
    assert dict(per_text) == calls

    stamps = sorted(r.time for r in logged if r.marker == T_429)
    assert len(stamps) == 2
    assert stamps[1] - stamps[0] >= RETRY_AFTER_S, "Retry-After was not honoured"

    rows = read_rows(out)
    row_ids = [r["id"] for r in rows]
    recoverable = {id_of[t] for t in ALL_TEXTS if t not in UNRECOVERABLE}
    assert sorted(row_ids) == sorted(recoverable)  # each exactly once, none of the failures
    for row in rows:
        assert len(row["pos"]) == N_POS and all(row["pos"]), row
        assert len(row["neg"]) == N_NEG and all(row["neg"]), row
        text = next(t for t in ALL_TEXTS if id_of[t] == row["id"])
        assert row["query"] == text
        assert row["attempts"] == attempts[text], text

    failed = read_failed(out)
    assert {f["id"]: f["error"].split(":", 1)[0] for f in failed} == {
        id_of[t]: reason for t, reason in UNRECOVERABLE.items()
    }
    assert {f["text"] for f in failed} == set(UNRECOVERABLE)

    manifest = read_manifest(out)
    last = manifest["last_run"]
    assert manifest["status"] == "incomplete"
    assert manifest["counts"] == {
        "sources": len(ALL_TEXTS),
        "rows": len(recoverable),
        "failed": len(UNRECOVERABLE),
    }
    assert last["retries"] == dict(retries)
    assert last["invalid_answers"] == dict(invalid)
    assert last["failures"] == {"transport": 1, "invalid_answer": 1}
    assert manifest["llm_calls"] == last["llm_calls"] == len(logged) == sum(calls.values())
    assert manifest["prompt_tokens"] > 0 and manifest["completion_tokens"] > 0

    # -- run 2: a healthy server; only the two failures are asked again --------------------------
    with FaultServer() as healthy:
        recipe = make_recipe(source, healthy.url)
        result = run_job(recipe, RuHNPTask(recipe), out, show_progress=False)
        logged = list(healthy.requests)

    assert sorted(requested_texts(logged, ALL_TEXTS)) == sorted(UNRECOVERABLE)
    assert result.status == "complete"
    assert read_failed(out) == []
    rows = read_rows(out)
    assert sorted(r["id"] for r in rows) == sorted(s.id for s in kept)
    manifest = read_manifest(out)
    assert manifest["status"] == "complete"
    assert manifest["llm_calls"] == len(UNRECOVERABLE)
    assert manifest["last_run"]["already_done"] == len(recoverable)
    assert manifest["last_run"]["retried_failures"] == len(UNRECOVERABLE)
    assert manifest["counts"] == {"sources": len(ALL_TEXTS), "rows": len(ALL_TEXTS), "failed": 0}

    # -- run 3: nothing left to do ---------------------------------------------------------------
    with FaultServer() as idle:
        recipe = make_recipe(source, idle.url)
        run_job(recipe, RuHNPTask(recipe), out, show_progress=False)
        assert idle.requests == []
    manifest = read_manifest(out)
    assert manifest["llm_calls"] == 0
    assert manifest["last_run"]["pending"] == 0
    assert len(read_rows(out)) == len(ALL_TEXTS)
    assert len(manifest["runs"]) == 3


# ----------------------------------------------------------------------------- 401


class _Unauthorized(BaseHTTPRequestHandler):
    """Answers every POST with an OpenAI-style 401."""

    protocol_version = "HTTP/1.1"
    posts: list[str]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        type(self).posts.append(self.path)
        payload = json.dumps(
            {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}
        ).encode()
        with contextlib.suppress(OSError):  # the client may hang up once the run stops
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    def log_message(self, fmt: str, *args: Any) -> None:
        pass


@pytest.fixture
def unauthorized_url() -> Iterator[tuple[str, list[str]]]:
    posts: list[str] = []
    handler = type("Handler", (_Unauthorized,), {"posts": posts})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler, bind_and_activate=False)
    httpd.daemon_threads = True
    httpd.request_queue_size = 64
    httpd.server_bind()
    httpd.server_activate()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", posts
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_401_stops_the_run_in_process(
    tmp_path: Path,
    source: Path,
    unauthorized_url: tuple[str, list[str]],
) -> None:
    url, posts = unauthorized_url
    out = tmp_path / "run"
    recipe = make_recipe(source, url)
    with pytest.raises(FatalLLMError, match="HTTP 401") as caught:
        run_job(recipe, RuHNPTask(recipe), out, show_progress=False)
    assert isinstance(caught.value, RudatagenError)
    assert posts  # it did ask ...
    assert len(posts) <= recipe.llm.max_concurrency  # ... but nobody retried a 401
    assert read_rows(out) == []
    assert read_manifest(out)["status"] == "interrupted"


def run_cli(
    source: Path, out: Path, url: str, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``rudatagen generate ruhnp`` against ``url`` (the openai backend), as a user runs it."""
    return subprocess.run(
        generate_ruhnp_args(source, out, url, "llm.timeout_s=5", *extra),
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_401_through_the_cli_exits_2_with_one_line(
    tmp_path: Path,
    source: Path,
    unauthorized_url: tuple[str, list[str]],
) -> None:
    url, posts = unauthorized_url
    error = assert_ends_with_one_error(run_cli(source, tmp_path / "run", url))
    assert "401" in error and url in error
    assert posts


# ----------------------------------------------------------------------------- before the run


def test_nothing_listening_fails_within_seconds(tmp_path: Path, source: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    out = tmp_path / "run"
    started = time.monotonic()
    proc = run_cli(source, out, url)
    elapsed = time.monotonic() - started
    error = assert_ends_with_one_error(proc)
    assert error == f"error: cannot reach {url} (connection refused); is the server running?"
    assert elapsed < 15, f"took {elapsed:.1f}s"
    assert not (out / "manifest.json").exists()  # stopped before the run began


def test_a_model_the_server_does_not_serve_fails_naming_those_it_serves(
    tmp_path: Path, source: Path
) -> None:
    out = tmp_path / "run"
    with FaultServer(models=["Qwen/Qwen2.5-7B-Instruct", "gemma"]) as srv:
        started = time.monotonic()
        proc = run_cli(source, out, srv.url, "llm.model=Qwen2.5-7B-Instruct")
        elapsed = time.monotonic() - started
        assert srv.models_requests == 1
        assert srv.requests == []  # not one generation request
    error = assert_ends_with_one_error(proc)
    assert error.startswith(f"error: {srv.url} does not serve model 'Qwen2.5-7B-Instruct' ")
    assert "(it serves: Qwen/Qwen2.5-7B-Instruct, gemma)" in error
    assert elapsed < 15, f"took {elapsed:.1f}s"
    assert not (out / "manifest.json").exists()


def test_a_refused_key_fails_before_the_run_without_showing_it(
    tmp_path: Path, source: Path
) -> None:
    secret = f"sk-test-{secrets.token_hex(16)}"
    variable = "RUDATAGEN_PREFLIGHT_KEY"
    out = tmp_path / "run"
    with FaultServer(models_fault="401") as srv:
        proc = run_cli(source, out, srv.url, f"llm.api_key_env={variable}", env={variable: secret})
        assert srv.models_requests == 1
        assert srv.requests == []
    error = assert_ends_with_one_error(proc)
    assert error == f"error: {srv.url} refused the API key (HTTP 401); check ${variable}"
    assert secret not in proc.stderr + proc.stdout
    assert not (out / "manifest.json").exists()


@pytest.mark.parametrize("models_fault", ["403", "401"])
def test_a_refused_key_stops_run_job_before_the_store(
    tmp_path: Path, source: Path, models_fault: Any
) -> None:
    out = tmp_path / "run"
    with FaultServer(models_fault=models_fault) as srv:
        recipe = make_recipe(source, srv.url)
        with pytest.raises(FatalLLMError, match=f"HTTP {models_fault}"):
            run_job(recipe, RuHNPTask(recipe), out, show_progress=False)
        assert srv.requests == []
    assert not (out / "manifest.json").exists()


@pytest.mark.parametrize("models_fault", ["404", "not_json", "500"])
def test_a_server_that_cannot_list_its_models_warns_once_and_runs(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    models_fault: Any,
) -> None:
    source = write_sources(tmp_path / "texts.txt", [T_OK_1, T_OK_2])
    out = tmp_path / "run"
    with FaultServer(models_fault=models_fault) as srv:
        recipe = make_recipe(source, srv.url)
        result = run_job(recipe, RuHNPTask(recipe), out, show_progress=False)
        assert srv.models_requests == 1
        assert srv.count() == 2  # both texts were asked for
    assert result.status == "complete"
    assert len(read_rows(out)) == 2
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning:" in line]
    assert len(warnings) == 1, warnings
    assert f"{srv.url}/models" in warnings[0] and "going on" in warnings[0]


# ----------------------------------------------------------------------------- the stage

FLAT_LLM_RUN = REPO / "tests" / "fixtures" / "resume" / "ruhnp-flat-llm"
"""Two rows made by ``generate ruhnp`` before ``llm:`` became one settings model per backend
(FaultServer's answers, 1 paraphrase and 1 non-paraphrase, no cache). It resumes only while its
fingerprint is unchanged (and the shipped RuHNP prompt files with it)."""


def test_a_run_made_before_the_llm_union_resumes(tmp_path: Path) -> None:
    out = tmp_path / "run"
    shutil.copytree(FLAT_LLM_RUN, out)
    before = read_manifest(out)
    done = [row["query"] for row in read_rows(out)]
    assert len(done) == 2 and "llamacpp" in before["recipe"]["llm"]  # the flat layout
    texts = [*done, T_OK_1]
    source = write_sources(tmp_path / "texts.txt", texts)
    with FaultServer() as srv:
        settings = make_recipe(
            tmp_path / "not-read.txt",  # the stage's input wins over source.path
            srv.url,
            "ruhnp.n_paraphrases=1",
            "ruhnp.n_non_paraphrases=1",
            "cache.enabled=false",
        )
        stage = GenerateStage(settings, RuHNPTask(settings))
        result = stage.run([source], out, progress=False)
        assert requested_texts(list(srv.requests), texts) == [T_OK_1]
    assert result.manifest.fingerprint == before["fingerprint"]
    assert (result.report.already_done, result.rows, result.status) == (2, 3, "complete")
    after = read_manifest(out)
    assert after["stage"] == "generate" and after["kind"] == "ruhnp"
    assert after["created"] == before["created"] and len(after["runs"]) == 2
    assert after["recipe"]["llm"]["backend"] == "openai"
    assert "llamacpp" not in after["recipe"]["llm"]  # only the openai backend's keys now
    assert set(after["recipe"]) == {"task", "name", "source", "llm", "ruhnp", "output", "cache"}


def test_the_stage_result_is_its_manifest_and_summary(tmp_path: Path) -> None:
    source = write_sources(tmp_path / "texts.txt", [T_OK_1, T_OK_2])
    with FaultServer() as srv:
        settings = make_recipe(
            source, srv.url, "ruhnp.n_paraphrases=1", "ruhnp.n_non_paraphrases=1"
        )
        result = GenerateStage(settings, RuHNPTask(settings)).run([], tmp_path / "run")
    assert GenerateStage.name == result.manifest.stage == "generate"
    assert result.manifest.kind == "ruhnp" and result.manifest.counts["rows"] == 2
    assert result.manifest.extra("backend")["name"] == "openai"
    assert result.manifest.to_json() == read_manifest(tmp_path / "run")
    assert result.summary == result.report.summary() and result.out == tmp_path / "run"


@pytest.mark.parametrize(
    ("inputs", "needle"),
    [
        pytest.param(["a.txt", "b.txt"], "generate reads one source, got 2", id="two"),
        pytest.param([], "no source texts", id="none"),
    ],
)
def test_the_stage_needs_one_source(tmp_path: Path, inputs: list[str], needle: str) -> None:
    settings = load_recipe(None).generate_settings()  # source.path: null
    stage = GenerateStage(settings, RuHNPTask(settings))
    with pytest.raises(RudatagenError, match=needle):
        stage.run([tmp_path / name for name in inputs], tmp_path / "run")
    assert not (tmp_path / "run").exists()
