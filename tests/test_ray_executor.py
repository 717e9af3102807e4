"""The Ray executor on a real Ray cluster: ``ray start --head`` on loopback, as a user runs it.

The cluster (two CPUs, its own directory, ports and token) is the session's (`cluster`, in
tests/support/ray_fixtures.py). Generation runs through the ``rudatagen`` command with
``--ray-address``: two replicas of the embedded llama.cpp model (one thread each); and, for the
kill -9 test and the comparison with the local executor, two replicas of the OpenAI client
against the fault server, whose answers do not depend on timing. Filter and mine run in this
process, on the cluster and locally, and must decide the same. The chunking of the filters and
the shard names are also checked without a cluster.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from tests.support.commands import (
    CLI,
    REPO,
    TEST_SERVER_OVERRIDES,
    assert_one_line_error,
    free_port,
    set_args,
    stop,
)
from tests.support.fault_server import FaultServer
from tests.support.run_dirs import GENERATION_MANIFEST, ruhnp_records, write_run

from rudatagen.config import load_recipe
from rudatagen.core.manifest import Manifest, write_manifest
from rudatagen.core.rundir import prepare_output, read_run_table, write_records
from rudatagen.core.store import RunStore, write_shard
from rudatagen.core.tables import read_table
from rudatagen.executor.filters import merge_results, split
from rudatagen.executor.generate import units_in_flight, work_units
from rudatagen.executor.replica import unit_shard_name
from rudatagen.executor.settings import ExecutorSettings
from rudatagen.filters.base import Filter, FilterResult
from rudatagen.filters.job import FilterStage
from rudatagen.filters.pipeline import run_stages
from rudatagen.filters.registry import build_filters
from rudatagen.filters.settings import FilterSettings
from rudatagen.generators.job import GenerateStage
from rudatagen.generators.ruhnp import ROW_SCHEMA, RuHNPTask
from rudatagen.kinds import get_kind
from rudatagen.kinds.candidates import CandidateTable
from rudatagen.mine.job import MineStage
from rudatagen.mine.settings import CorpusSettings, MineSettings
from rudatagen.sources import SourceText, read_source

FAULT_SERVER = REPO / "tests" / "support" / "fault_server.py"
REPLICA_TITLE = "MapWorker(MapBatches(GenerateReplica))"


# -- the cluster ------------------------------------------------------------------------------


def ray_executor(cluster: Any, **changes: Any) -> ExecutorSettings:
    return ExecutorSettings(kind="ray", address=cluster.address, **{"replicas": 2, **changes})


# -- helpers ----------------------------------------------------------------------------------


def shard_rows(out: Path) -> list[dict[str, Any]]:
    return [
        r
        for p in sorted((out / "data").glob("shard-*.parquet"))
        for r in pq.read_table(p).to_pylist()
    ]


def failed_ids(out: Path) -> list[str]:
    path = out / "failed.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    return [json.loads(line)["id"] for line in lines]


def manifest_of(out: Path) -> dict[str, Any]:
    return json.loads((out / "manifest.json").read_text(encoding="utf-8"))


def expected_ids(source: Path, limit: int) -> set[str]:
    settings = load_recipe(None, [f"source.path={source}", f"source.limit={limit}"]).source
    return {s.id for s in read_source(source, settings)[0]}


def generate_args(source: Path, out: Path, limit: int, *overrides: str) -> list[str]:
    command = [CLI, "generate", "ruhnp", "--source", str(source), "--out", str(out)]
    return [*command, "--limit", str(limit), *set_args(overrides), "--no-progress"]


def start_fault_server(log: Path, delay: float) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, str(FAULT_SERVER), "--port", "0", "--delay", str(delay)]
    proc = subprocess.Popen(
        [*command, "--log", str(log)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("READY "), line
    return proc, line.split()[1]


def logged_requests(log: Path) -> int:
    return log.read_bytes().count(b"\n") if log.exists() else 0


# -- generate ---------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.integration
def test_two_embedded_replicas_write_one_row_per_source_and_resume(
    cluster: Any, embedded_gguf: Path, small_corpus: Path, tmp_path: Path
) -> None:
    """Two replicas of the in-process llama.cpp model (one thread each), one unit each. Run
    in this process (the command's ``--ray-address`` path is the kill -9 test's)."""
    out = tmp_path / "run"
    overrides = [
        f"source.path={small_corpus}",
        "source.limit=2",
        "ruhnp.n_paraphrases=1",
        "ruhnp.n_non_paraphrases=1",
        "ruhnp.n_examples=0",
        "llm.max_tokens=200",
    ]
    settings = load_recipe(None, overrides).generate_settings()
    executor = ray_executor(cluster, batch_size=1)

    def generate() -> None:
        GenerateStage(settings, RuHNPTask(settings), executor=executor).run([], out, progress=False)

    generate()
    rows, failed = shard_rows(out), failed_ids(out)
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)), "a source was written twice"
    assert set(ids) | set(failed) == expected_ids(small_corpus, 2) and not set(ids) & set(failed)
    assert rows, "the embedded model produced no valid answer at all"
    for row in rows:
        assert row["backend"] == "llamacpp" and len(row["pos"]) == len(row["neg"]) == 1
    manifest = manifest_of(out)
    assert manifest["executor"]["kind"] == "ray" and manifest["executor"]["replicas"] == 2
    assert manifest["executor"]["units"] == 2
    assert manifest["executor"]["startup_s"] > 0 and manifest["executor"]["units_s"] > 0
    replicas = manifest["replicas"].values()
    assert sum(r["completed"] for r in replicas) == len(rows)
    assert [r["units"] for r in replicas] == [1, 1]  # the pool started whole, then dispatched
    assert manifest["counts"]["rows"] == len(rows)

    # a re-run finds every completed source in the replicas' shards and asks only for the
    # failed ones (with none failed: no call, no Ray connection)
    generate()
    manifest = manifest_of(out)
    assert manifest["last_run"]["already_done"] == len(rows)
    assert manifest["last_run"]["pending"] == len(failed)
    if not failed:
        assert manifest["llm_calls"] == 0 and manifest["executor"]["units"] == 0
    after = [r["id"] for r in shard_rows(out)]
    assert len(after) == len(set(after)) and set(ids) <= set(after)


@pytest.mark.slow
@pytest.mark.integration
def test_kill_9_of_a_replica_mid_run_loses_nothing_and_doubles_nothing(
    cluster: Any, wiki_sentences: Path, tmp_path: Path
) -> None:
    """A replica's worker process is SIGKILLed while both replicas hold two units each: Ray
    restarts it and retries its units, which rewrite the same shards. Then the same sources
    through the local executor give the same rows."""
    log = tmp_path / "requests.jsonl"
    server, url = start_fault_server(log, delay=0.5)
    n = 16
    common = (
        *TEST_SERVER_OVERRIDES,
        f"llm.base_url={url}",
        "ruhnp.n_paraphrases=1",
        "ruhnp.n_non_paraphrases=1",
    )
    try:
        out = tmp_path / "ray"
        on_ray = (*common, "llm.max_concurrency=1", "executor.replicas=2", "executor.batch_size=4")
        args = [*generate_args(wiki_sentences, out, n, *on_ray), "--ray-address", cluster.address]
        proc = subprocess.Popen(
            args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        killed = None
        deadline = time.monotonic() + 400
        while proc.poll() is None and time.monotonic() < deadline and killed is None:
            # three requests in (one at a time per replica): both replicas are inside their
            # two four-request units
            workers = [
                w for w in cluster.workers(REPLICA_TITLE) if "__init__" not in " ".join(w.cmdline())
            ]
            if logged_requests(log) >= 3 and workers:
                workers[0].send_signal(signal.SIGKILL)
                killed = workers[0].pid
            time.sleep(0.05)
        _, stderr = proc.communicate(timeout=max(deadline - time.monotonic(), 1))
        assert proc.returncode == 0, stderr
        assert killed is not None, "the run ended before a replica could be killed"

        rows = shard_rows(out)
        ids = [r["id"] for r in rows]
        assert len(ids) == len(set(ids)) == n, "a source was lost or written twice"
        assert set(ids) == expected_ids(wiki_sentences, n)
        assert len(list((out / "data").glob("shard-*.parquet"))) == n // 4  # one per unit
        manifest = manifest_of(out)
        assert manifest["status"] == "complete"
        assert manifest["counts"] == {"sources": n, "rows": n, "failed": 0}
        replicas = manifest["replicas"]
        # the killed actor came back under its id (a restart, not a third actor) and did its
        # retried unit in a new process: the dead one never reported a unit
        assert len(replicas) == 2, replicas
        assert killed not in [pid for r in replicas.values() for pid in r["pids"]], replicas
        assert sum(r["completed"] for r in replicas.values()) == n
        assert [(r["units"], r["units_at_once"]) for r in replicas.values()] == [(2, 2)] * 2
        # the unit it was in was done again: its answered requests from the shared cache, the
        # others asked again
        assert manifest["cache_hits"] > 0 or logged_requests(log) > n

        local = tmp_path / "local"  # in this process: the same settings, less a process start
        here = [*common, "llm.max_concurrency=4", f"source.path={wiki_sentences}"]
        settings = load_recipe(None, [*here, f"source.limit={n}"]).generate_settings()
        GenerateStage(settings, RuHNPTask(settings)).run([], local, progress=False)
    finally:
        stop(server)
    local_rows = shard_rows(local)
    assert "executor" not in manifest_of(local)  # the local executor's manifest is as before

    def content(row: dict[str, Any]) -> tuple[Any, ...]:
        return (row["query"], row["pos"], row["neg"], row["model"], row["prompt_version"])

    assert {r["id"]: content(r) for r in rows} == {r["id"]: content(r) for r in local_rows}


@pytest.mark.slow
@pytest.mark.integration
def test_a_replica_runs_several_units_at_once_on_its_engine(
    cluster: Any, wiki_sentences: Path, tmp_path: Path
) -> None:
    """One replica, four two-source units, a server that takes 0.3 s an answer and
    ``llm.max_concurrency=4``: with two units in flight they run at the same time on the
    replica; with one, one after another (each at least the server's delay)."""
    n, delay = 8, 0.3
    manifests = {}
    with FaultServer(delay_s=delay) as server:
        overrides = (
            *TEST_SERVER_OVERRIDES,
            f"llm.base_url={server.url}",
            "ruhnp.n_paraphrases=1",
            "ruhnp.n_non_paraphrases=1",
            f"source.path={wiki_sentences}",
            f"source.limit={n}",
        )
        settings = load_recipe(None, list(overrides)).generate_settings()
        for in_flight in (2, 1):  # in this process: one Ray connection for both runs
            executor = ray_executor(cluster, replicas=1, batch_size=2, units_in_flight=in_flight)
            out = tmp_path / f"in-flight-{in_flight}"
            stage = GenerateStage(settings, RuHNPTask(settings), fresh=True, executor=executor)
            stage.run([], out, progress=False)
            ids = [r["id"] for r in shard_rows(out)]
            assert len(ids) == len(set(ids)) == n and set(ids) == expected_ids(wiki_sentences, n)
            manifests[in_flight] = manifest_of(out)
    for in_flight, manifest in manifests.items():
        assert manifest["counts"] == {"sources": n, "rows": n, "failed": 0}
        assert manifest["executor"]["units"] == n // 2
        (replica,) = manifest["replicas"].values()
        assert replica["units"] == n // 2 and replica["completed"] == n
        assert replica["units_at_once"] == in_flight, replica
    assert manifests[1]["executor"]["units_s"] >= (n // 2) * delay


# -- filter -----------------------------------------------------------------------------------


def filter_settings(minilm: str) -> FilterSettings:
    """The text filters, dedup and a MiniLM bi-encoder whose bounds reject some candidates."""
    return FilterSettings.model_validate(
        {
            "biencoder": {
                "enabled": True,
                "model": minilm,
                "device": "cpu",
                "paraphrase_min": 0.6,
                "non_paraphrase_min": 0.2,
                "non_paraphrase_max": 0.9,
            }
        }
    )


@pytest.mark.slow
def test_filter_on_ray_makes_the_local_decisions(
    cluster: Any, shared_data: Path, minilm: str, tmp_path: Path
) -> None:
    run = write_run(tmp_path / "gen", ruhnp_records(shared_data)[:150], GENERATION_MANIFEST)
    settings = filter_settings(minilm)
    local = FilterStage(settings).run([run], tmp_path / "local", progress=False)
    executor = ray_executor(cluster, chunk_size=200)
    on_ray = FilterStage(settings, executor=executor).run([run], tmp_path / "ray", progress=False)

    here = pq.read_table(tmp_path / "local" / "candidates.parquet")
    there = pq.read_table(tmp_path / "ray" / "candidates.parquet")
    assert here.column_names == there.column_names
    for column in ("record_id", "position", "field", "text", "kept", "filter", "reason", "flags"):
        assert here.column(column).to_pylist() == there.column(column).to_pylist(), column
    for column in ("heuristic_length_ratio", "lexical_similarity", "biencoder_cosine"):
        np.testing.assert_allclose(
            here.column(column).to_numpy(zero_copy_only=False),
            there.column(column).to_numpy(zero_copy_only=False),
            atol=1e-5,
        )
    rejected_by = set(here.column("filter").to_pylist()) - {None}
    assert {"heuristic", "lexical", "biencoder"} <= rejected_by, rejected_by
    assert (
        read_run_table(tmp_path / "local").to_pylist()
        == read_run_table(tmp_path / "ray").to_pylist()
    )
    assert local.funnel is not None and on_ray.funnel is not None
    assert local.funnel.counts_out == on_ray.funnel.counts_out
    placement = on_ray.manifest.extra("executor")["filters"]
    assert placement["dedup"] == "driver"  # global: needs every candidate
    assert placement["biencoder"] == "2 actors"
    assert placement["heuristic"].endswith("tasks") and placement["heuristic"] != "1 tasks"


# -- mine -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_mine_on_ray_finds_the_local_negatives(
    cluster: Any, shared_data: Path, minilm: str, tmp_path: Path
) -> None:
    rows = read_table(shared_data / "ru_wiki_sentences.tsv").to_pylist()[:160]
    sentences = [r for r in rows if len(r["text"].split()) > 8]
    run = tmp_path / "gen"
    records = [
        {
            "id": f"{row['sent_id']}-keyword-0",
            "query": " ".join(row["text"].split()[:6]),
            "positive": row["text"],
            "negatives": [],
            "query_type": "keyword",
            "passage_id": row["sent_id"],
        }
        for row in sentences[:20]
    ]
    prepare_output(run)
    write_records(run, pa.Table.from_pylist(records))
    write_manifest(run, Manifest(stage="generate", kind="retrieval", counts={"rows": 20}))
    corpus = tmp_path / "corpus.parquet"
    pq.write_table(pa.table({"text": [r["text"] for r in sentences]}), corpus)
    settings = MineSettings(
        model=minilm,
        num_negatives=3,
        batch_size=32,
        device="cpu",
        corpus=CorpusSettings(path=str(corpus)),
    )

    MineStage(settings).run([run], tmp_path / "local")
    executor = ray_executor(cluster, chunk_size=64)  # the corpus in three encoding tasks
    result = MineStage(settings, executor=executor).run([run], tmp_path / "ray")

    here, there = read_run_table(tmp_path / "local"), read_run_table(tmp_path / "ray")
    assert here.column("negatives").to_pylist() == there.column("negatives").to_pylist()
    assert sum(len(n) for n in there.column("negatives").to_pylist()) > 0
    for column in ("negative_scores", "positive_score", "hardest_score"):
        np.testing.assert_allclose(floats(here, column), floats(there, column), atol=1e-5)
    facts = result.manifest.extra("executor")
    assert facts["kind"] == "ray" and sorted(facts["encoded"]) == ["corpus", "query"]
    assert result.manifest.extra("embeddings")["corpus"] == "encoded"
    folder = tmp_path / "ray" / result.manifest.extra("embeddings")["folder"]
    local_folder = tmp_path / "local" / result.manifest.extra("embeddings")["folder"]
    for path in folder.glob("*.npy"):  # the same files, where the miner looks for them
        np.testing.assert_allclose(np.load(path), np.load(local_folder / path.name), atol=1e-5)


def floats(table: pa.Table, column: str) -> np.ndarray:
    """A numeric column (a list column flattened) as floats, nulls as NaN."""
    values = table.column(column)
    if pa.types.is_list(values.type):
        values = pc.list_flatten(values)
    return np.array(values.to_pylist(), dtype=float)


# -- without a cluster ------------------------------------------------------------------------


class Record(Filter):
    """A stand-in filter with record-level state: rejects every candidate after the first
    live one of its record, and says how many of its record it saw (local or chunked alike)."""

    name = "record_rule"
    row_local = True

    def __init__(self) -> None:
        super().__init__(FilterSettings())

    def apply(self, table: CandidateTable, rows: np.ndarray) -> FilterResult:
        seen: dict[str, int] = {}
        sizes = {rid: len(members) for rid, members in table.rows_by_record().items()}
        reject = np.zeros(len(rows), dtype=bool)
        for index, row in enumerate(rows.tolist()):
            rid = table.record_id[row]
            reject[index] = seen.get(rid, 0) > 0
            seen[rid] = seen.get(rid, 0) + 1
        size = np.array([sizes[table.record_id[r]] for r in rows.tolist()], dtype=np.float32)
        reasons = ["not the first of its record"] * int(reject.sum())
        return FilterResult(
            rows, {"record_size": size}, reject, reasons, details={"seen": len(rows)}
        )


def assert_same_candidates(first: CandidateTable, second: CandidateTable) -> None:
    """Same candidates, decisions, reasons and flags; the same scores (NaN where unscored)."""
    a, b = first.to_arrow(), second.to_arrow()
    assert a.column_names == b.column_names
    for column in a.column_names:
        if column in first.scores:
            np.testing.assert_array_equal(floats(a, column), floats(b, column), err_msg=column)
        else:
            assert a.column(column).to_pylist() == b.column(column).to_pylist(), column


def test_chunks_of_whole_records_decide_as_the_whole_table(shared_data: Path) -> None:
    """The Ray filter path's split and merge, run here: every filter decides as it does on the
    whole table (records are never split, earlier rejections travel with the chunk)."""
    records = ruhnp_records(shared_data)[:300]
    kind = get_kind("ruhnp")
    filters = [*build_filters(FilterSettings().sections(), "ruhnp"), Record()]

    def chunked(stage: Filter, table: CandidateTable, rows: np.ndarray) -> FilterResult:
        if not stage.row_local:
            return stage.apply(table, rows)
        chunks, parts = split(table, rows, 37)
        assert len(chunks) > 5
        return merge_results(table, chunks, [stage.apply(part, live) for part, live in parts])

    whole, pieces = kind.candidates(records), kind.candidates(records)
    funnel = run_stages(whole, filters)
    chunked_funnel = run_stages(pieces, filters, apply=chunked)
    assert_same_candidates(whole, pieces)
    for step, chunked_step in zip(funnel.steps, chunked_funnel.steps, strict=True):
        assert (
            step.counts == chunked_step.counts
            and step.rejected_by_rule == chunked_step.rejected_by_rule
        )
    assert chunked_funnel.details == funnel.details
    assert {"heuristic", "lexical", "record_rule"} <= {
        s.name for s in funnel.steps if s.rejected_by_rule
    }


def test_unit_shards_are_named_by_their_ids_and_resume_reads_them(tmp_path: Path) -> None:
    sources = [SourceText(f"id-{i}", f"Текст {i}.") for i in range(10)]
    units = work_units(sources, 4)
    assert [len(u["payload"]) > 0 for u in units] == [True] * 3
    assert units[0]["unit"] == unit_shard_name(["id-3", "id-1", "id-2", "id-0"])  # order-free
    assert len({u["unit"] for u in units}) == 3
    store = RunStore(tmp_path / "run", ROW_SCHEMA)
    store.open()
    try:
        row = {field.name: None for field in ROW_SCHEMA}
        name = units[0]["unit"]
        for _ in range(2):  # a retried unit writes the same file again: still one shard
            write_shard(
                store.data_dir / name, [{**row, "id": s.id} for s in sources[:4]], ROW_SCHEMA
            )
        assert store.completed_ids() == {s.id for s in sources[:4]}
        store.add_rows([{**row, "id": "id-9"}])
        store.flush()  # a local run continues numbering beside the replicas' shards
    finally:
        store.close()
    assert sorted(p.name for p in store.shard_paths()) == ["shard-00000.parquet", name]


def test_units_in_flight_keep_the_engine_full_and_one_more() -> None:
    def resolved(llm: dict[str, Any], **executor: Any) -> int:
        settings = load_recipe(None, [f"llm.{key}={value}" for key, value in llm.items()])
        return units_in_flight(ExecutorSettings(**executor), settings.llm)

    assert resolved({}) == 2  # llm.max_concurrency 8, units of 32: one unit fills it
    assert resolved({"max_concurrency": 4}, batch_size=2) == 3
    assert resolved({"backend": "vllm", "model": "m"}) == 512 // 32 + 1  # llm.vllm.batch_size
    assert resolved({"backend": "vllm", "model": "m", "vllm.batch_size": 8}, batch_size=4) == 3
    assert resolved({}, units_in_flight=5) == 5


def test_executor_flags(tmp_path: Path) -> None:
    section = ExecutorSettings()
    assert section.with_flags(None, "127.0.0.1:6379").kind == "ray"
    assert section.with_flags("ray", None).address is None
    assert section.with_flags(None, None) == section
    with pytest.raises(Exception, match="--ray-address needs --executor ray"):
        section.with_flags("local", "auto")
    with pytest.raises(Exception, match="choose local or ray"):
        section.with_flags("slurm", None)


EXIT_MARK = "::exit-status"
WITHOUT_RAY = f"""
import json, sys
sys.modules["ray"] = None  # what ``import ray`` meets where the extra is not installed
from rudatagen.cli import main
for args in json.loads(sys.argv[1]):
    sys.argv = ["rudatagen", *args]
    try:
        main()
    except SystemExit as exc:
        print("{EXIT_MARK}", exc.code, file=sys.stderr, flush=True)
"""


def test_without_ray_executor_ray_is_a_one_line_error(tmp_path: Path) -> None:
    """``import ray`` fails (as where the extra is not installed): one line naming the extra.
    The three commands run one after another in one process (one interpreter start)."""
    run = write_run(tmp_path / "gen", [{"id": "a", "query": "Кот.", "pos": ["Кошка."], "neg": []}])
    commands = [
        ["filter", "--in", str(run), "--out", str(tmp_path / "f"), "--executor", "ray"],
        ["mine", "--in", str(run), "--out", str(tmp_path / "m"), "--ray-address", "auto"],
        [
            "generate",
            "ruhnp",
            "--source",
            str(tmp_path / "none.txt"),
            "--out",
            str(tmp_path / "g"),
            "--executor",
            "ray",
        ],
    ]
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_RAY, json.dumps(commands)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    for command in split_by_exit(result, len(commands)):
        assert_one_line_error(command, "pip install 'rudatagen[ray]'")


def split_by_exit(
    result: subprocess.CompletedProcess[str], count: int
) -> list[subprocess.CompletedProcess[str]]:
    """One result per command of a process that ran several, each ended by an ``EXIT_MARK``
    line with its exit status."""
    parts: list[subprocess.CompletedProcess[str]] = []
    lines: list[str] = []
    for line in result.stderr.splitlines():
        if line.startswith(EXIT_MARK):
            status = int(line.split()[1])
            parts.append(subprocess.CompletedProcess(result.args, status, "", "\n".join(lines)))
            lines = []
        else:
            lines.append(line)
    assert len(parts) == count and not lines, result.stderr
    return parts


def test_an_address_nobody_listens_on_is_a_one_line_error(tmp_path: Path) -> None:
    run = write_run(tmp_path / "gen", [{"id": "a", "query": "Кот.", "pos": ["Кошка."], "neg": []}])
    address = f"127.0.0.1:{free_port()}"
    args = ["filter", "--in", str(run), "--out", str(tmp_path / "f"), "--ray-address", address]
    result = subprocess.run([CLI, *args], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert_one_line_error(result, f"cannot reach the Ray cluster at {address}")
