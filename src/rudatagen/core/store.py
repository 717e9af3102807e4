"""The run directory: Parquet shards written atomically, failures, and the manifest.

Layout of ``OUT/``::

    data/shard-00000.parquet ...   the rows of each completed source id (never twice)
    data/shard-u<hash>.parquet ... the same, written by Ray replicas (one per work unit)
    failed.jsonl                   items that failed in the last run, with reasons
    manifest.json                  resolved recipe, versions, counts, calls, tokens, wall time
    cache.sqlite                   the response cache (unless the recipe puts it elsewhere)
    response-cache/                the Ray replicas' shared response cache

A shard is written to a temporary name and renamed into place, so a crash leaves either the
whole shard or none of it. The completed ids are read back from the shards at start, which is
what makes a re-run continue where the last one stopped.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.parquet as pq

from rudatagen.core.manifest import write_json_atomic
from rudatagen.errors import RudatagenError

SHARD_GLOB = "shard-*.parquet"
RAY_CACHE_DIR = "response-cache"  # the Ray executor's shared response cache (--fresh drops it)


class RunStore:
    """Owns one output directory for the duration of a run (an exclusive lock guards it)."""

    def __init__(
        self,
        root: Path,
        schema: pa.Schema,
        *,
        shard_size: int = 200,
        flush_seconds: float = 60.0,
    ) -> None:
        self.root = root
        self.data_dir = root / "data"
        self.schema = schema
        self.shard_size = shard_size
        self.flush_seconds = flush_seconds
        self._buffer: list[dict[str, Any]] = []
        self._last_flush = time.monotonic()
        self._lock_handle: IO[str] | None = None
        self.rows_written = 0
        self.shards_written = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def open(self, *, fresh: bool = False, fingerprint: str | None = None) -> None:
        """Lock the directory, wipe it for ``fresh``, refuse one made with other settings."""
        if self.root.exists() and not self.root.is_dir():
            raise RudatagenError(f"--out {self.root} exists and is not a directory")
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock()
        try:
            self._prepare(fresh, fingerprint)
        except BaseException:
            self._unlock()
            raise

    def _prepare(self, fresh: bool, fingerprint: str | None) -> None:
        if fresh:
            self._wipe()
        self.data_dir.mkdir(exist_ok=True)
        for stale in self.data_dir.glob(".*.tmp"):
            stale.unlink()
        previous = self.read_manifest()
        if fingerprint and previous and previous.get("fingerprint") not in (None, fingerprint):
            raise RudatagenError(
                f"{self.root} holds a run made with other generation settings "
                f"(model, prompt files, counts or sampling differ); use --fresh to start over "
                f"or choose another --out"
            )

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._unlock()

    def _unlock(self) -> None:
        if self._lock_handle is not None:
            fcntl.flock(self._lock_handle, fcntl.LOCK_UN)
            self._lock_handle.close()
            self._lock_handle = None

    def _lock(self) -> None:
        handle = (self.root / ".lock").open("w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise RudatagenError(f"another rudatagen run is using {self.root}") from None
        self._lock_handle = handle

    def _wipe(self) -> None:
        shutil.rmtree(self.data_dir, ignore_errors=True)
        shutil.rmtree(self.root / RAY_CACHE_DIR, ignore_errors=True)
        for name in (
            "failed.jsonl",
            "manifest.json",
            "cache.sqlite",
            "cache.sqlite-wal",
            "cache.sqlite-shm",
        ):
            (self.root / name).unlink(missing_ok=True)

    # -- reading -----------------------------------------------------------------------------

    def shard_paths(self) -> list[Path]:
        return sorted(self.data_dir.glob(SHARD_GLOB))

    def completed_ids(self, column_name: str = "id") -> set[str]:
        """The source ids in the shards: ``id``, or the column naming a row's source where a
        source makes several rows (``passage_id``)."""
        ids: set[str] = set()
        for path in self.shard_paths():
            try:
                column = pq.read_table(path, columns=[column_name]).column(column_name)
            except (pa.ArrowInvalid, OSError) as exc:
                raise RudatagenError(f"unreadable shard {path}: {exc}") from None
            ids.update(column.to_pylist())
        return ids

    def read_manifest(self) -> dict[str, Any] | None:
        path = self.root / "manifest.json"
        if not path.is_file():
            return None
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None

    def previous_failures(self) -> dict[str, str]:
        path = self.root / "failed.jsonl"
        if not path.is_file():
            return {}
        failures = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
                failures[entry["id"]] = entry["error"]
            except (json.JSONDecodeError, KeyError, TypeError):
                continue  # a line cut by a crash
        return failures

    # -- writing -----------------------------------------------------------------------------

    def add(self, row: dict[str, Any]) -> None:
        self.add_rows([row])

    def add_rows(self, rows: list[dict[str, Any]]) -> None:
        """Buffer the rows of one source together: a shard never splits them, so a crash
        cannot leave a source half written and counted done."""
        self._buffer.extend(rows)
        due = time.monotonic() - self._last_flush >= self.flush_seconds
        if len(self._buffer) >= self.shard_size or due:
            self.flush()

    def flush(self) -> None:
        """Write buffered rows as one new shard (temporary file, fsync, rename)."""
        self._last_flush = time.monotonic()
        if not self._buffer:
            return
        index = self._next_index()
        write_shard(self.data_dir / f"shard-{index:05d}.parquet", self._buffer, self.schema)
        self.rows_written += len(self._buffer)
        self.shards_written += 1
        self._buffer = []

    def _next_index(self) -> int:
        """One past the highest numbered shard (a Ray replica's ``shard-u<hash>`` has none)."""
        numbers = (p.stem.split("-", 1)[1] for p in self.shard_paths())
        return max((int(n) for n in numbers if n.isdigit()), default=-1) + 1

    def start_failures(self) -> None:
        """Empty ``failed.jsonl``: this run retries every earlier failure."""
        (self.root / "failed.jsonl").write_text("", encoding="utf-8")

    def record_failure(self, entry: dict[str, Any]) -> None:
        """Append one failure at once, so a crash cannot lose the reason."""
        with (self.root / "failed.jsonl").open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        write_json_atomic(self.root / "manifest.json", manifest)

    def total_rows(self) -> int:
        return sum(pq.ParquetFile(p).metadata.num_rows for p in self.shard_paths())


def write_shard(path: Path, rows: list[dict[str, Any]], schema: pa.Schema) -> None:
    """Write ``rows`` to ``path`` whole or not at all: a temporary file, fsync, rename (a
    rename over an existing shard replaces it, which is what makes a retried Ray unit
    idempotent)."""
    table = pa.Table.from_pylist(rows, schema=schema)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # two writers never share one
    with tmp.open("wb") as handle:
        pq.write_table(table, handle, compression="zstd")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
