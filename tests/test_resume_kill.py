"""Crash safety: the CLI is killed with SIGKILL mid-run, three times, then resumed to the end.

Both processes are real: the standalone fault server (``--delay``, ``--log``) and the
``rudatagen`` console script. After each kill the answered items (cache rows and shard rows) are
recorded; no later run may ask the server about any of them again. The finished directory must
hold exactly one row per source text, load with ``datasets``, and a re-run must make no call.
"""

from __future__ import annotations

import json
import select
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from tests.support.commands import generate_ruhnp_args, stop

from rudatagen.config import load_recipe
from rudatagen.sources import SourceText, read_source

REPO = Path(__file__).resolve().parents[1]
SERVER_SCRIPT = REPO / "tests" / "support" / "fault_server.py"
WIKI = REPO.parent / "shared" / "data" / "ru_wiki_sentences.tsv"
N_TEXTS = 60
KILL_AFTER = (1, 10, 25)  # requests logged during the run before SIGKILL: very early .. mid-run


@dataclass
class Server:
    url: str
    log: Path

    def size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def count_since(self, offset: int) -> int:
        """Complete request lines logged after byte ``offset``."""
        if not self.log.exists():
            return 0
        with self.log.open("rb") as handle:
            handle.seek(offset)
            return handle.read().count(b"\n")

    def requests_since(self, offset: int) -> list[dict[str, Any]]:
        with self.log.open("rb") as handle:
            handle.seek(offset)
            data = handle.read()
        complete = data[: data.rfind(b"\n") + 1]
        return [json.loads(line) for line in complete.decode("utf-8").splitlines() if line]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    log = tmp_path / "requests.jsonl"
    cmd = [sys.executable, str(SERVER_SCRIPT), "--port", "0", "--delay", "0.05", "--log", str(log)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        line = proc.stdout.readline() if ready else ""
        assert line.startswith("READY "), f"fault server did not start: {line!r}"
        yield Server(line.split()[1], log)
    finally:
        stop(proc)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    if WIKI.is_file():
        return WIKI
    path = tmp_path / "texts.tsv"  # the shared data is absent: texts written for this test
    rows = [f"Заметка номер {i:03d}: в городе открылась новая библиотека." for i in range(80)]
    path.write_text("text\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def cli_args(source: Path, out: Path, url: str) -> list[str]:
    overrides = (
        "llm.timeout_s=10",
        "output.shard_size=5",
        "ruhnp.n_paraphrases=2",
        "ruhnp.n_non_paraphrases=2",
    )
    return [*generate_ruhnp_args(source, out, url, *overrides), "--limit", str(N_TEXTS)]


def run_and_kill(args: list[str], server: Server, after: int, log: Path) -> int:
    """Start the CLI, SIGKILL it once the server logged ``after`` requests from it."""
    offset = server.size()
    with log.open("ab") as sink:
        proc = subprocess.Popen(args, cwd=REPO, stdout=sink, stderr=sink)
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if server.count_since(offset) >= after:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.002)
        else:
            proc.kill()
        returncode = proc.wait()
    time.sleep(0.3)  # let the server log whatever the dead client had already sent
    return returncode


def run_to_end(args: list[str], log: Path) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run(args, cwd=REPO, capture_output=True, timeout=120)
    with log.open("ab") as sink:
        sink.write(proc.stdout + proc.stderr)
    return proc


def cache_ids(out: Path) -> set[str]:
    path = out / "cache.sqlite"
    if not path.exists():
        return set()
    db = sqlite3.connect(path)
    try:
        return {row[0] for row in db.execute("SELECT item_id FROM responses")}
    finally:
        db.close()


def shard_ids(out: Path) -> list[str]:
    ids: list[str] = []
    for shard in sorted((out / "data").glob("shard-*.parquet")):
        ids.extend(pq.read_table(shard, columns=["id"]).column("id").to_pylist())
    return ids


def ids_of(
    requests: list[dict[str, Any]], sources: list[SourceText], *, killed: bool = False
) -> list[str]:
    """The source id behind each request: its text is in the prompt's last user message.

    A client killed while sending leaves requests whose body never arrived (the server logs
    them with an empty body); they are skipped when ``killed``, and an error otherwise.
    """
    found = []
    for request in requests:
        if killed and not request["body"].get("messages"):
            continue
        last = str(request["body"]["messages"][-1]["content"])
        matches = [s for s in sources if s.text in last]
        assert matches, f"a request for no known source text: {last[:120]!r}"
        found.append(max(matches, key=lambda s: len(s.text)).id)
    return found


def test_sigkill_three_times_then_resume_to_exactly_one_row_each(
    tmp_path: Path, server: Server, source: Path
) -> None:
    settings = load_recipe(None, [f"source.path={source}", f"source.limit={N_TEXTS}"]).source
    sources, _ = read_source(source, settings)
    assert len(sources) == N_TEXTS
    expected = {s.id for s in sources}
    out = tmp_path / "run"
    args = cli_args(source, out, server.url)
    cli_log = tmp_path / "cli.log"

    answered: set[str] = set()
    for after in KILL_AFTER:
        offset = server.size()
        returncode = run_and_kill(args, server, after, cli_log)
        assert returncode == -signal.SIGKILL, cli_log.read_text(errors="replace")
        asked = ids_of(server.requests_since(offset), sources, killed=True)
        assert not set(asked) & answered, "an item answered before the kill was asked again"
        in_shards = shard_ids(out)
        assert len(in_shards) == len(set(in_shards)), "a shard row was written twice"
        cached = cache_ids(out)
        assert set(in_shards) <= cached, "a row was stored without its answer in the cache"
        now = cached | set(in_shards)
        assert answered <= now <= expected
        answered = now

    assert 0 < len(answered) < N_TEXTS, "the kills should fall mid-run"
    done_before = set(shard_ids(out))
    cached_only = cache_ids(out) - done_before

    # -- resume to the end ---------------------------------------------------------------------
    offset = server.size()
    proc = run_to_end(args, cli_log)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    asked = ids_of(server.requests_since(offset), sources)
    assert not set(asked) & answered, "an item answered before the last kill was asked again"
    assert set(asked) == expected - answered  # and everything else was asked

    ids = shard_ids(out)
    assert len(ids) == len(set(ids)) == N_TEXTS
    assert set(ids) == expected
    assert cache_ids(out) == expected
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] == "complete"
    assert manifest["counts"] == {"sources": N_TEXTS, "rows": N_TEXTS, "failed": 0}
    assert manifest["last_run"]["already_done"] == len(done_before)
    assert manifest["cache_hits"] == len(cached_only)
    assert manifest["llm_calls"] == len(asked)
    assert not list((out / "data").glob(".*.tmp"))

    datasets = pytest.importorskip("datasets")
    shards = sorted(str(p) for p in (out / "data").glob("shard-*.parquet"))
    loaded = datasets.load_dataset(
        "parquet", data_files=shards, split="train", cache_dir=str(tmp_path / "hf-cache")
    )
    assert loaded.num_rows == N_TEXTS
    assert {"id", "query", "pos", "neg"} <= set(loaded.column_names)
    assert sorted(loaded["id"]) == sorted(expected)
    by_id = {s.id: s.text for s in sources}
    for row in loaded:
        assert row["query"] == by_id[row["id"]]
        assert len(row["pos"]) == 2 and len(row["neg"]) == 2

    # -- a re-run has nothing to do ---------------------------------------------------------------
    size = server.size()
    proc = run_to_end(args, cli_log)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert server.size() == size
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["llm_calls"] == 0
    assert manifest["last_run"]["already_done"] == N_TEXTS
    assert sorted(shard_ids(out)) == sorted(expected)
