"""One generation replica on Ray: an actor holding one engine, turning work units into shards.

Ray Data builds one :class:`GenerateReplica` per replica of the actor pool and calls it with one
work unit at a time (``batch_size=1``: a row of the dataset is a whole unit, pickled sources).
The unit runs through the local path's own code, :func:`~rudatagen.generators.runner.run_generation`
with a :class:`~rudatagen.llm.client.StructuredClient`, into a buffer; its rows then become one
shard, ``data/shard-u<hash of the unit's source ids>.parquet``, written atomically. A unit
retried after its replica died (kill -9, OOM) has the same ids, hence the same file name: the
retry replaces what the dead attempt may have written, so every source ends in exactly one
shard. What goes back to the driver is small: counts, token usage and the failures.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import pickle
import socket
import time
from pathlib import Path
from typing import Any

import numpy as np

from rudatagen.core.store import write_shard
from rudatagen.errors import RudatagenError
from rudatagen.executor.answer_cache import SharedAnswerCache
from rudatagen.generators.runner import GenerationReport, Task, run_generation
from rudatagen.generators.settings import GenerateSettings
from rudatagen.llm.client import StructuredClient
from rudatagen.llm.registry import make_backend
from rudatagen.sources import SourceText


def unit_shard_name(ids: list[str]) -> str:
    """The shard a work unit writes: named by its source ids, so a retry writes the same file."""
    digest = hashlib.sha256("\n".join(sorted(ids)).encode("utf-8")).hexdigest()[:20]
    return f"shard-u{digest}.parquet"


class UnitBuffer:
    """The rows and failures of one work unit (a ``RowSink`` for ``run_generation``)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.failures: list[dict[str, Any]] = []

    def start_failures(self) -> None:
        """The driver writes ``failed.jsonl``; nothing to reset here."""

    def add_rows(self, rows: list[dict[str, Any]]) -> None:
        self.rows.extend(rows)

    def record_failure(self, entry: dict[str, Any]) -> None:
        self.failures.append(entry)

    def flush(self) -> None:
        """The unit's shard is written whole once the unit is done (``GenerateReplica``)."""


class GenerateReplica:
    """A Ray Data callable class: one engine (from the ``llm:`` section) for many work units.

    The engine loads on the first request, as in a local run; one event loop serves every unit
    (an async HTTP client or engine stays bound to the loop it started on).
    """

    def __init__(
        self, settings: GenerateSettings, task: Task, data_dir: str, cache_dir: str | None
    ) -> None:
        import ray

        self.settings = settings
        self.task = task
        self.data_dir = Path(data_dir)
        self.backend = make_backend(settings.llm)
        self.cache = SharedAnswerCache(Path(cache_dir)) if cache_dir else None
        self.loop = asyncio.new_event_loop()
        self.identity = {
            "replica": ray.get_runtime_context().get_actor_id() or "driver",
            "node": socket.gethostname(),
            "pid": os.getpid(),
        }

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[Any]]:
        results = [self.run_unit(pickle.loads(payload)) for payload in batch["payload"]]
        return {"unit": list(batch["unit"]), "result": [json.dumps(r) for r in results]}

    def run_unit(self, sources: list[SourceText]) -> dict[str, Any]:
        """Generate one unit, write its shard, and report what happened (never raises for a
        failed item; a :class:`RudatagenError` such as a refused API key comes back as
        ``fatal`` and the driver stops the run)."""
        started = time.time()  # wall clock: the driver compares units of several nodes
        buffer = UnitBuffer()
        report = GenerationReport(sources=len(sources), already_done=0, pending=len(sources))
        llm = self.settings.llm
        client = StructuredClient(
            self.backend,
            retry=llm.retry,
            max_reasks=llm.max_reasks,
            concurrency=llm.max_concurrency,
            cache=self.cache,  # type: ignore[arg-type]  # same get/put as ResponseCache
        )
        work = run_generation(
            self.task, sources, buffer, client, report, price=llm.price, show_progress=False
        )
        try:
            self.loop.run_until_complete(work)
        except RudatagenError as exc:
            return {**self.identity, "fatal": str(exc)}
        shard = self.data_dir / unit_shard_name([s.id for s in sources])
        if buffer.rows:
            write_shard(shard, buffer.rows, self.task.row_schema)
        else:  # every source failed this time: no earlier attempt's rows may stay behind
            shard.unlink(missing_ok=True)
        return {
            **self.identity,
            "sources": len(sources),
            "completed": report.completed,
            "failed": report.failed,
            "rows": len(buffer.rows),
            "failures": buffer.failures,
            "stats": report.stats.as_dict(),
            "started": started,
            "finished": time.time(),
        }
