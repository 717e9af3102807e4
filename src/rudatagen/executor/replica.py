"""One generation replica on Ray: an actor holding one engine, turning work units into shards.

Ray Data builds one :class:`GenerateReplica` per replica of the actor pool and calls it with one
work unit per call (``batch_size=1``: a row of the dataset is a whole unit, pickled sources),
up to ``executor.units_in_flight`` calls at once. The unit runs through the local path's own
code, :func:`~rudatagen.generators.runner.run_generation` with a
:class:`~rudatagen.llm.client.StructuredClient`, into a buffer; its rows then become one shard,
``data/shard-u<hash of the unit's source ids>.parquet``, written atomically. A unit retried
after its replica died (kill -9, OOM) has the same ids, hence the same file name: the retry
replaces what the dead attempt may have written, so every source ends in exactly one shard.
What goes back to the driver is small: counts, token usage, the failures and the unit's times.

Several units at once: ``__call__`` is a coroutine, so Ray Data (2.60,
``plan_udf_map_op._MapActorContext``) runs every call of the actor on one event loop of its own,
on a background thread, each call submitted to it with ``asyncio.run_coroutine_threadsafe`` from
one of the actor's ``max_concurrency`` threads. One loop is what the engine needs (an async
HTTP client or vLLM engine stays bound to the loop it started on), and it is Ray's rather than
ours: a loop thread of our own behind a synchronous ``__call__`` would need Ray's
``enable_true_multi_threading`` too and would only redo this. The units share the replica's
engine through :class:`SharedEngine`, so the engine sees as many requests as in a local run.
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
from rudatagen.llm.settings import LLMSettings
from rudatagen.llm.types import LLMBackend, LLMRequest, LLMResponse
from rudatagen.sources import SourceText


def engine_requests(llm: LLMSettings, preferred: int | None = None) -> int:
    """The requests a local run keeps in its engine at once, which a replica's engine gets too:
    ``llm.max_concurrency``, or the backend's ``preferred_concurrency`` (a batching engine's
    batch) when larger, as in :class:`~rudatagen.llm.client.StructuredClient`. Without a backend
    at hand (the driver sizes the pool before any replica builds one), vLLM's is read from its
    settings, ``llm.vllm.batch_size``."""
    if preferred is None:
        engine = getattr(llm, "vllm", None)
        preferred = engine.batch_size if engine is not None else None
    return max(llm.max_concurrency, preferred or 0)


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


class SharedEngine(LLMBackend):
    """A replica's one backend, shared by the units it runs at once, with at most ``limit``
    requests in it together (:func:`engine_requests`: what a local run's one client sends),
    however many units are in flight. A unit's own client keeps its concurrency; the excess
    waits here, first come first served (``asyncio.Semaphore``)."""

    def __init__(self, backend: LLMBackend, limit: int) -> None:
        self.inner = backend
        self.name = backend.name
        self.limit = limit
        self._slots: asyncio.Semaphore | None = None  # made on the loop that uses it

    @property
    def model(self) -> str:
        return self.inner.model

    @property
    def preferred_concurrency(self) -> int | None:
        return self.inner.preferred_concurrency

    async def complete(self, request: LLMRequest) -> LLMResponse:
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.limit)
        async with self._slots:
            return await self.inner.complete(request)

    def details(self) -> dict[str, Any]:
        return self.inner.details()


class GenerateReplica:
    """A Ray Data callable class: one engine (from the ``llm:`` section) for many work units,
    several at once (see the module's docstring).

    The engine loads on the first request, as in a local run, on the loop Ray Data runs the
    calls on.
    """

    def __init__(
        self, settings: GenerateSettings, task: Task, data_dir: str, cache_dir: str | None
    ) -> None:
        import ray

        self.settings = settings
        self.task = task
        self.data_dir = Path(data_dir)
        backend = make_backend(settings.llm)
        limit = engine_requests(settings.llm, backend.preferred_concurrency)
        self.engine = SharedEngine(backend, limit)
        self.cache = SharedAnswerCache(Path(cache_dir)) if cache_dir else None
        self.identity = {
            "replica": ray.get_runtime_context().get_actor_id() or "driver",
            "node": socket.gethostname(),
            "pid": os.getpid(),
        }

    async def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[Any]]:
        results = [await self.run_unit(pickle.loads(payload)) for payload in batch["payload"]]
        return {"unit": list(batch["unit"]), "result": [json.dumps(r) for r in results]}

    async def run_unit(self, sources: list[SourceText]) -> dict[str, Any]:
        """Generate one unit, write its shard, and report what happened (never raises for a
        failed item; a :class:`RudatagenError` such as a refused API key comes back as
        ``fatal`` and the driver stops the run)."""
        started = time.time()  # wall clock: the driver compares units of several nodes
        buffer = UnitBuffer()
        report = GenerationReport(sources=len(sources), already_done=0, pending=len(sources))
        llm = self.settings.llm
        client = StructuredClient(
            self.engine,
            retry=llm.retry,
            max_reasks=llm.max_reasks,
            concurrency=llm.max_concurrency,
            cache=self.cache,  # type: ignore[arg-type]  # same get/put as ResponseCache
        )
        try:
            await run_generation(
                self.task, sources, buffer, client, report, price=llm.price, show_progress=False
            )
        except RudatagenError as exc:
            return {**self.identity, "fatal": str(exc)}
        shard = self.data_dir / unit_shard_name([s.id for s in sources])
        if buffer.rows:  # in a thread: the other units' requests keep flowing meanwhile
            await asyncio.to_thread(write_shard, shard, buffer.rows, self.task.row_schema)
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
