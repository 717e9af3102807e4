"""Run a generator over source texts: skip what is done, ask the LLM, store rows as they come."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa

from rudatagen.core.progress import Progress
from rudatagen.llm.client import ClientStats, Outcome, StructuredClient
from rudatagen.llm.settings import PriceSettings
from rudatagen.llm.types import BackendInfo, LLMRequest
from rudatagen.sources import SourceText

# The columns every generated row carries after its task's own: who answered, with which
# prompt files, at what cost.
LLM_FIELDS: list[tuple[str, pa.DataType]] = [
    ("model", pa.string()),
    ("backend", pa.string()),
    ("prompt_version", pa.string()),
    ("prompt_tokens", pa.int64()),
    ("completion_tokens", pa.int64()),
    ("attempts", pa.int32()),
]


def llm_metadata(outcome: Outcome, backend: BackendInfo, prompt_version: str) -> dict[str, Any]:
    """The :data:`LLM_FIELDS` of one row."""
    return {
        "model": backend.model,
        "backend": backend.backend,
        "prompt_version": prompt_version,
        "prompt_tokens": outcome.usage.prompt_tokens,
        "completion_tokens": outcome.usage.completion_tokens,
        "attempts": outcome.attempts,
    }


class RowSink(Protocol):
    """Where :func:`run_generation` puts rows and failures: the run's ``RunStore`` (local), or
    one work unit's buffer on a Ray replica (``executor/replica.py``)."""

    def start_failures(self) -> None: ...

    def add_rows(self, rows: list[dict[str, Any]]) -> None: ...

    def record_failure(self, entry: dict[str, Any]) -> None: ...

    def flush(self) -> None: ...


class Task(Protocol):
    """How a source text becomes a request and an answer a row. A task that writes several rows
    per source (one per retrieval query) also has ``rows()`` and ``source_id_column`` (the
    column naming the source, read back to resume); :func:`task_rows` calls the right one."""

    name: str
    row_schema: pa.Schema

    def request(self, source: SourceText) -> LLMRequest: ...

    def row(self, source: SourceText, outcome: Outcome, backend: BackendInfo) -> dict[str, Any]: ...


def task_rows(
    task: Task, source: SourceText, outcome: Outcome, backend: BackendInfo
) -> list[dict[str, Any]]:
    """The rows one answer becomes: ``task.rows(...)`` when the task has it, else its ``row``."""
    many = getattr(task, "rows", None)
    if many is not None:
        return list(many(source, outcome, backend))
    return [task.row(source, outcome, backend)]


@dataclass
class GenerationReport:
    sources: int
    already_done: int
    pending: int
    completed: int = 0
    failed: int = 0
    retried_failures: int = 0
    wall_s: float = 0.0
    cost: float = 0.0
    stats: ClientStats = field(default_factory=ClientStats)
    failure_reasons: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sources": self.sources,
            "already_done": self.already_done,
            "pending": self.pending,
            "completed": self.completed,
            "failed": self.failed,
            "retried_failures": self.retried_failures,
            "wall_s": round(self.wall_s, 3),
            "cost": round(self.cost, 6),
            **self.stats.as_dict(),
        }

    def summary(self) -> str:
        s = self.stats
        rate = self.completed / self.wall_s if self.wall_s > 0 else 0.0
        parts = [
            f"{self.completed} new rows, {self.failed} failed, {self.already_done} already done",
            f"{s.llm_calls} LLM calls, {s.cache_hits} cache hits",
            f"{s.usage.prompt_tokens}+{s.usage.completion_tokens} tokens",
            f"{self.wall_s:.1f}s ({rate:.2f} items/s)",
        ]
        if self.cost:
            parts.append(f"cost {self.cost:.4f}")
        if s.retries:
            parts.append("retries " + ", ".join(f"{k} {v}" for k, v in sorted(s.retries.items())))
        return "; ".join(parts)


def failure_entry(source: SourceText, outcome: Outcome) -> dict[str, Any]:
    """One line of ``failed.jsonl``: the source, why it failed, what it cost."""
    return {
        "id": source.id,
        "text": source.text,
        "error": outcome.error,
        "attempts": outcome.attempts,
        "prompt_tokens": outcome.usage.prompt_tokens,
        "completion_tokens": outcome.usage.completion_tokens,
    }


def cost_of(stats: ClientStats, price: PriceSettings) -> float:
    return (
        stats.usage.prompt_tokens * price.input_per_million
        + stats.usage.completion_tokens * price.output_per_million
    ) / 1_000_000


async def run_generation(
    task: Task,
    pending: list[SourceText],
    store: RowSink,
    client: StructuredClient,
    report: GenerationReport,
    *,
    price: PriceSettings,
    show_progress: bool = True,
) -> None:
    """Generate rows for ``pending`` into ``store``; failures go to ``failed.jsonl``.

    ``report`` is filled in as work goes on, so it is accurate even if the run is interrupted.
    """
    started = time.monotonic()
    by_id = {s.id: s for s in pending}
    backend = client.backend.info()
    store.start_failures()
    progress = Progress(len(pending), task.name, enabled=show_progress and bool(pending))
    try:
        async for outcome in client.run(task.request(s) for s in pending):
            source = by_id[outcome.request.key]
            if outcome.ok:
                store.add_rows(task_rows(task, source, outcome, backend))
                report.completed += 1
            else:
                report.failed += 1
                store.record_failure(failure_entry(source, outcome))
            progress.advance(1, outcome.usage.completion_tokens, report.failed)
    finally:
        progress.close()
        store.flush()
        report.stats = client.stats
        report.failure_reasons = dict(client.stats.failures)
        report.wall_s = time.monotonic() - started
        report.cost = cost_of(client.stats, price)
