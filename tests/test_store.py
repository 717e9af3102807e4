"""Tests for ``RunStore``: atomic Parquet shards, locking, resume checks and failures."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rudatagen.core.store import RunStore
from rudatagen.errors import RudatagenError
from rudatagen.generators.ruhnp import ROW_SCHEMA


def row(n: int) -> dict[str, Any]:
    return {
        "id": f"id-{n:03d}",
        "query": f"Исходный текст номер {n}.",
        "pos": [f"Перефразирование {n}.{k}" for k in range(2)],
        "neg": [f"Неперефразирование {n}.{k}" for k in range(3)],
        "model": "test-model",
        "backend": "fake",
        "prompt_version": "ruhnp/1.0+deadbeef",
        "prompt_tokens": 100 + n,
        "completion_tokens": 50 + n,
        "attempts": 1,
    }


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "run"


@pytest.fixture
def stores() -> Iterator[list[RunStore]]:
    """Stores opened by a test; closed afterwards so no lock outlives it."""
    opened: list[RunStore] = []
    yield opened
    for store in opened:
        store.close()


def make(out: Path, stores: list[RunStore], **kwargs: Any) -> RunStore:
    store = RunStore(out, ROW_SCHEMA, **kwargs)
    stores.append(store)
    return store


def opened(out: Path, stores: list[RunStore], **kwargs: Any) -> RunStore:
    store = make(out, stores, **kwargs)
    store.open()
    return store


def shard_names(out: Path) -> list[str]:
    return sorted(p.name for p in (out / "data").iterdir() if not p.name.startswith("."))


# -- shards ---------------------------------------------------------------------------------


def test_open_creates_the_layout(out: Path, stores: list[RunStore]) -> None:
    opened(out, stores)
    assert (out / "data").is_dir()
    assert shard_names(out) == []


def test_shards_are_written_at_shard_size(out: Path, stores: list[RunStore]) -> None:
    store = opened(out, stores, shard_size=3)
    for n in range(2):
        store.add(row(n))
    assert shard_names(out) == []  # still buffered
    assert store.completed_ids() == set()
    store.add(row(2))
    assert shard_names(out) == ["shard-00000.parquet"]
    for n in range(3, 7):
        store.add(row(n))
    assert shard_names(out) == ["shard-00000.parquet", "shard-00001.parquet"]
    store.close()
    assert shard_names(out) == [f"shard-{i:05d}.parquet" for i in range(3)]
    assert [pq.read_metadata(out / "data" / name).num_rows for name in shard_names(out)] == [
        3,
        3,
        1,
    ]
    assert store.rows_written == 7
    assert store.shards_written == 3
    assert store.total_rows() == 7
    assert store.completed_ids() == {row(n)["id"] for n in range(7)}


def test_shard_contents_roundtrip(out: Path, stores: list[RunStore]) -> None:
    store = opened(out, stores, shard_size=2)
    store.add(row(1))
    store.add(row(2))
    table = pq.read_table(out / "data" / "shard-00000.parquet")
    assert table.schema.equals(ROW_SCHEMA)
    assert table.to_pylist() == [row(1), row(2)]


def test_shard_names_sort_numerically(out: Path, stores: list[RunStore]) -> None:
    store = opened(out, stores, shard_size=1)
    for n in range(12):
        store.add(row(n))
    names = shard_names(out)
    assert names == [f"shard-{i:05d}.parquet" for i in range(12)]
    assert [p.name for p in store.shard_paths()] == names
    for index, name in enumerate(names):
        assert pq.read_table(out / "data" / name).column("id").to_pylist() == [row(index)["id"]]


def test_flush_with_empty_buffer_writes_nothing(out: Path, stores: list[RunStore]) -> None:
    store = opened(out, stores)
    store.flush()
    store.flush()
    store.close()
    assert list((out / "data").iterdir()) == []
    assert store.shards_written == 0


def test_flush_writes_a_partial_shard(out: Path, stores: list[RunStore]) -> None:
    store = opened(out, stores, shard_size=100)
    store.add(row(1))
    store.flush()
    store.flush()
    assert shard_names(out) == ["shard-00000.parquet"]
    assert store.completed_ids() == {row(1)["id"]}


def test_time_based_flush(out: Path, stores: list[RunStore]) -> None:
    store = opened(out, stores, shard_size=1000, flush_seconds=0.2)
    store.flush()  # start the clock now
    store.add(row(1))
    assert shard_names(out) == []
    time.sleep(0.25)
    store.add(row(2))
    assert shard_names(out) == ["shard-00000.parquet"]
    assert store.completed_ids() == {row(1)["id"], row(2)["id"]}


def test_rows_must_match_the_schema(out: Path) -> None:
    # Not registered in `stores`: the rejected row stays buffered, so close() would raise again.
    store = RunStore(out, ROW_SCHEMA, shard_size=1)
    store.open()
    bad = {**row(1), "prompt_tokens": "many"}
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):
        store.add(bad)
    assert list((out / "data").iterdir()) == []  # no shard, no temporary file


# -- resume ---------------------------------------------------------------------------------


def test_resume_reads_ids_and_continues_numbering(out: Path, stores: list[RunStore]) -> None:
    first = opened(out, stores, shard_size=2)
    for n in range(5):
        first.add(row(n))
    first.close()
    assert shard_names(out) == [f"shard-{i:05d}.parquet" for i in range(3)]

    second = opened(out, stores, shard_size=2)
    assert second.completed_ids() == {row(n)["id"] for n in range(5)}
    second.add(row(5))
    second.close()
    assert shard_names(out)[-1] == "shard-00003.parquet"
    assert second.total_rows() == 6


def test_stale_tmp_is_removed_on_open(out: Path, stores: list[RunStore]) -> None:
    first = opened(out, stores, shard_size=1)
    first.add(row(0))
    first.close()
    stale = out / "data" / ".shard-00001.parquet.tmp"
    stale.write_bytes(b"half a parquet file")

    second = opened(out, stores, shard_size=1)
    assert not stale.exists()
    assert second.completed_ids() == {row(0)["id"]}
    second.add(row(1))
    assert shard_names(out) == ["shard-00000.parquet", "shard-00001.parquet"]


def test_tmp_file_is_ignored_by_completed_ids(out: Path, stores: list[RunStore]) -> None:
    store = opened(out, stores, shard_size=1)
    store.add(row(0))
    # A shard being written right now (e.g. by a crash mid-write, before the next open).
    (out / "data" / ".shard-00001.parquet.tmp").write_bytes(b"\x00garbage")
    assert store.completed_ids() == {row(0)["id"]}
    assert store.total_rows() == 1


def test_unreadable_shard_is_a_user_error(out: Path, stores: list[RunStore]) -> None:
    store = opened(out, stores)
    broken = out / "data" / "shard-00000.parquet"
    broken.write_bytes(b"not parquet")
    with pytest.raises(RudatagenError, match=re.escape(str(broken))):
        store.completed_ids()


# -- locking and refusals -------------------------------------------------------------------


def test_second_open_is_refused_while_locked(out: Path, stores: list[RunStore]) -> None:
    first = opened(out, stores)
    second = make(out, stores)
    with pytest.raises(RudatagenError, match="another rudatagen run"):
        second.open()
    first.close()
    second.open()  # free again once the first run is done


def test_out_is_a_file(tmp_path: Path, stores: list[RunStore]) -> None:
    path = tmp_path / "run.parquet"
    path.write_text("x", encoding="utf-8")
    store = make(path, stores)
    with pytest.raises(RudatagenError, match="not a directory"):
        store.open()
    assert path.read_text(encoding="utf-8") == "x"


def write_manifest(out: Path, stores: list[RunStore], manifest: dict[str, Any]) -> None:
    store = opened(out, stores)
    store.write_manifest(manifest)
    store.close()


def test_fingerprint_mismatch_is_refused(out: Path, stores: list[RunStore]) -> None:
    write_manifest(out, stores, {"fingerprint": "aaaa", "status": "complete"})
    store = make(out, stores)
    with pytest.raises(RudatagenError, match="--fresh") as info:
        store.open(fingerprint="bbbb")
    assert str(out) in str(info.value)


@pytest.mark.parametrize(
    ("manifest", "fingerprint"),
    [
        pytest.param({"fingerprint": "aaaa"}, "aaaa", id="same"),
        pytest.param({"status": "running"}, "aaaa", id="manifest-without-fingerprint"),
        pytest.param({"fingerprint": None}, "aaaa", id="null-fingerprint"),
        pytest.param({"fingerprint": "aaaa"}, None, id="no-fingerprint-asked"),
    ],
)
def test_compatible_manifest_is_accepted(
    out: Path, stores: list[RunStore], manifest: dict[str, Any], fingerprint: str | None
) -> None:
    write_manifest(out, stores, manifest)
    store = make(out, stores)
    store.open(fingerprint=fingerprint)
    assert store.read_manifest() == manifest


def test_corrupt_manifest_reads_as_none(out: Path, stores: list[RunStore]) -> None:
    out.mkdir()
    (out / "manifest.json").write_text('{"fingerprint": "aa', encoding="utf-8")
    store = make(out, stores)
    store.open(fingerprint="bbbb")
    assert store.read_manifest() is None


def test_manifest_roundtrip_is_atomic(out: Path, stores: list[RunStore]) -> None:
    store = opened(out, stores)
    store.write_manifest({"name": "прогон", "path": Path("/x")})
    assert json.loads((out / "manifest.json").read_text(encoding="utf-8")) == {
        "name": "прогон",
        "path": "/x",
    }
    assert not (out / ".manifest.json.tmp").exists()


def test_refused_open_releases_the_lock(out: Path, stores: list[RunStore]) -> None:
    write_manifest(out, stores, {"fingerprint": "aaaa"})
    refused = make(out, stores)
    with pytest.raises(RudatagenError, match="--fresh"):
        refused.open(fingerprint="bbbb")
    # The user follows the advice and starts over in the same process (e.g. a notebook).
    make(out, stores).open(fresh=True, fingerprint="bbbb")


# -- fresh ----------------------------------------------------------------------------------


def test_fresh_wipes_the_previous_run(out: Path, stores: list[RunStore]) -> None:
    first = opened(out, stores, shard_size=1)
    first.add(row(0))
    first.add(row(1))
    first.start_failures()
    first.record_failure({"id": "id-x", "error": "schema"})
    first.write_manifest({"fingerprint": "aaaa"})
    first.close()
    generated = ("cache.sqlite", "cache.sqlite-wal", "cache.sqlite-shm")
    for name in generated:
        (out / name).write_bytes(b"cache")
    (out / "notes.txt").write_text("мои заметки", encoding="utf-8")

    second = make(out, stores)
    second.open(fresh=True, fingerprint="bbbb")  # a mismatch is fine when starting over
    assert (out / "data").is_dir()
    assert list((out / "data").iterdir()) == []
    assert second.completed_ids() == set()
    assert second.previous_failures() == {}
    assert second.read_manifest() is None
    for name in ("failed.jsonl", "manifest.json", *generated):
        assert not (out / name).exists(), name
    assert (out / "notes.txt").read_text(encoding="utf-8") == "мои заметки"


def test_fresh_on_a_new_directory(out: Path, stores: list[RunStore]) -> None:
    store = make(out, stores)
    store.open(fresh=True)
    assert (out / "data").is_dir()


def test_fresh_is_refused_while_another_run_holds_the_lock(
    out: Path, stores: list[RunStore]
) -> None:
    first = opened(out, stores, shard_size=1)
    first.add(row(0))
    with pytest.raises(RudatagenError, match="another rudatagen run"):
        make(out, stores).open(fresh=True)
    assert shard_names(out) == ["shard-00000.parquet"]  # nothing wiped under the running run


# -- failures -------------------------------------------------------------------------------


def test_failures_roundtrip(out: Path, stores: list[RunStore]) -> None:
    store = opened(out, stores)
    assert store.previous_failures() == {}
    store.start_failures()
    assert (out / "failed.jsonl").read_text(encoding="utf-8") == ""
    store.record_failure({"id": "a", "text": "Текст а", "error": "schema: too short", "n": 3})
    store.record_failure({"id": "b", "text": "Текст б", "error": "truncated"})
    assert store.previous_failures() == {"a": "schema: too short", "b": "truncated"}
    lines = (out / "failed.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    assert "Текст а" in lines[0]  # readable, not \u-escaped

    store.start_failures()
    assert store.previous_failures() == {}


def test_later_failure_of_the_same_item_wins(out: Path, stores: list[RunStore]) -> None:
    store = opened(out, stores)
    store.record_failure({"id": "a", "error": "first"})
    store.record_failure({"id": "a", "error": "second"})
    assert store.previous_failures() == {"a": "second"}


def test_bad_lines_in_failed_jsonl_are_skipped(out: Path, stores: list[RunStore]) -> None:
    store = opened(out, stores)
    store.start_failures()
    store.record_failure({"id": "a", "error": "not_json"})
    store.record_failure({"id": "b", "error": "schema"})
    with (out / "failed.jsonl").open("a", encoding="utf-8") as handle:
        handle.write("\n")  # blank line
        handle.write('{"id": "no-error"}\n')  # missing key
        handle.write('["a", "list"]\n')  # not an object
        handle.write('{"id": "c", "err')  # cut by a crash
    assert store.previous_failures() == {"a": "not_json", "b": "schema"}


# -- the shards as a Hugging Face dataset ---------------------------------------------------


def test_shards_load_with_datasets(out: Path, stores: list[RunStore], tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    store = opened(out, stores, shard_size=2)
    for n in range(5):
        store.add(row(n))
    store.close()
    (out / "data" / ".shard-00099.parquet.tmp").write_bytes(b"junk")  # must not be picked up

    loaded = datasets.load_dataset(
        "parquet",
        data_files=str(out / "data" / "*.parquet"),
        split="train",
        cache_dir=str(tmp_path / "hf-cache"),
    )
    assert loaded.num_rows == 5
    assert loaded.column_names == ROW_SCHEMA.names
    assert loaded.features["pos"].feature.dtype == "string"
    assert loaded.features["neg"].feature.dtype == "string"
    by_id = {r["id"]: r for r in loaded}
    assert by_id == {row(n)["id"]: row(n) for n in range(5)}
