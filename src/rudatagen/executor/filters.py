"""``filter`` on Ray: the row-local filters over chunks of whole records, the global ones here.

:func:`~rudatagen.filters.pipeline.run_stages` asks :class:`RayFilterRunner` to apply each
filter. A filter marked ``row_local`` (it judges a candidate from its own record alone: the
text rules, the bi-/cross-encoders, easiness, copying) gets the live candidates cut into chunks
of whole records (``executor.chunk_size`` candidates at most, at least one chunk per replica):
a filter without a model runs as one Ray task per chunk, a filter with a model
(:class:`~rudatagen.filters.base.ModelFilter`) on a pool of ``executor.replicas`` actors that
each load the model once. Every chunk is a small candidate table of its records (rejected
candidates and earlier scores included, so record-level rules see what they see locally); the
results are put back in table order into one :class:`FilterResult`, and the pipeline records
them exactly as a local run does. A filter that needs every candidate at once (dedup,
semantic_dedup, max_variability's quota per label) runs here, on the driver, over the whole
table: splitting it would miss a duplicate whose twin sits in another chunk.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np

from rudatagen.executor.connect import actor_options, connect, replica_options
from rudatagen.executor.settings import ExecutorSettings
from rudatagen.filters.base import Filter, FilterResult, ModelFilter
from rudatagen.kinds.candidates import CandidateTable


def take(table: CandidateTable, rows: np.ndarray) -> CandidateTable:
    """The candidates at ``rows`` as a table of their own, with their state and scores."""
    picked = rows.tolist()
    part = CandidateTable(
        table.labels,
        [table.record_id[i] for i in picked],
        [table.anchor[i] for i in picked],
        [table.text[i] for i in picked],
        table.label[rows],
        table.position[rows],
        [table.field[i] for i in picked],
    )
    part.alive = table.alive[rows].copy()
    part.rejected_by = [table.rejected_by[i] for i in picked]
    part.reason = [table.reason[i] for i in picked]
    part.flags = [table.flags[i] for i in picked]
    part.scores = {column: values[rows].copy() for column, values in table.scores.items()}
    return part


def record_chunks(table: CandidateTable, rows: np.ndarray, size: int) -> list[np.ndarray]:
    """``rows`` (the live candidates) cut into chunks of whole records, in table order: each
    chunk holds every candidate of its records (live or not) and about ``size`` live ones."""
    live = np.zeros(len(table), dtype=bool)
    live[rows] = True
    chunks: list[np.ndarray] = []
    current: list[int] = []
    count = 0
    for members in table.rows_by_record().values():
        in_play = int(live[members].sum())
        if not in_play:
            continue
        current.extend(members)
        count += in_play
        if count >= size:
            chunks.append(np.asarray(current, dtype=np.int64))
            current, count = [], 0
    if current:
        chunks.append(np.asarray(current, dtype=np.int64))
    return chunks


Part = tuple[CandidateTable, np.ndarray]  # a chunk's table and its live rows in it


def split(
    table: CandidateTable, rows: np.ndarray, size: int
) -> tuple[list[np.ndarray], list[Part]]:
    """:func:`record_chunks` and, for each, its own table and the positions of ``rows`` in it."""
    chunks = record_chunks(table, rows, size)
    live = np.zeros(len(table), dtype=bool)
    live[rows] = True
    return chunks, [(take(table, chunk), np.flatnonzero(live[chunk])) for chunk in chunks]


def apply_part(stage: Filter, part: CandidateTable, rows: np.ndarray) -> FilterResult:
    """One chunk on a worker: the filter's own ``apply``, nothing else."""
    return stage.apply(part, rows)


class FilterReplica:
    """An actor holding one copy of a model filter (its model loads on the first chunk)."""

    def __init__(self, stage: Filter) -> None:
        self.stage = stage

    def apply(self, part: CandidateTable, rows: np.ndarray) -> FilterResult:
        return self.stage.apply(part, rows)


class RayFilterRunner:
    """Applies filters for ``run_stages``: row-local ones on the cluster, the others here.
    ``placement`` records where each filter ran (the manifest's ``executor.filters``)."""

    def __init__(self, settings: ExecutorSettings) -> None:
        self.settings = settings
        self.ray = connect(settings)
        self.placement: dict[str, str] = {}

    def __call__(self, stage: Filter, table: CandidateTable, rows: np.ndarray) -> FilterResult:
        if not stage.row_local or len(rows) == 0:
            self.placement[stage.name] = "driver"
            return stage.apply(table, rows)
        per_replica = math.ceil(len(rows) / self.settings.replicas)
        target = max(1, min(self.settings.chunk_size, per_replica))
        chunks, parts = split(table, rows, target)
        if isinstance(stage, ModelFilter):
            results = self._on_actors(stage, parts)
            self.placement[stage.name] = f"{min(self.settings.replicas, len(parts))} actors"
        else:
            results = self._as_tasks(stage, parts)
            self.placement[stage.name] = f"{len(parts)} tasks"
        return merge_results(table, chunks, results)

    def _as_tasks(self, stage: Filter, parts: list[Part]) -> list[FilterResult]:
        ray = self.ray
        task = ray.remote(apply_part).options(
            **replica_options(self.settings), max_retries=self.settings.max_task_retries
        )
        shared = ray.put(stage)
        results: list[FilterResult] = ray.get([task.remote(shared, p, r) for p, r in parts])
        return results

    def _on_actors(self, stage: Filter, parts: list[Part]) -> list[FilterResult]:
        ray = self.ray
        from ray.util import ActorPool

        replica = ray.remote(FilterReplica).options(**actor_options(self.settings))
        actors = [replica.remote(stage) for _ in range(min(self.settings.replicas, len(parts)))]
        try:
            pool = ActorPool(actors)
            return list(pool.map(lambda actor, part: actor.apply.remote(*part), parts))
        finally:
            for actor in actors:  # their CPUs/GPUs go to the next filter
                ray.kill(actor)


def merge_results(
    table: CandidateTable, chunks: list[np.ndarray], results: list[FilterResult]
) -> FilterResult:
    """The chunks' results as one, in the positions of the whole table (chunk order)."""
    rows = [chunk[r.rows] for chunk, r in zip(chunks, results, strict=True)]
    sizes = [len(r) for r in rows]
    columns = dict.fromkeys(column for r in results for column in r.scores)
    scores = {
        column: np.concatenate(
            [
                r.scores.get(column, np.full(n, np.nan, dtype=np.float32))
                for r, n in zip(results, sizes, strict=True)
            ]
        )
        for column in columns
    }
    reject = np.concatenate(
        [
            r.reject if r.reject is not None else np.zeros(n, dtype=bool)
            for r, n in zip(results, sizes, strict=True)
        ]
    )
    merged = FilterResult(
        rows=np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64),
        scores=scores,
        reject=reject,
        reasons=[reason for r in results for reason in r.reasons],
        skipped=dict(sum((Counter(r.skipped) for r in results), Counter())),
        details=_add_details([r.details for r in results]),
    )
    if any(r.anchors is not None for r in results):
        merged.anchors = _edits(results, rows, "anchors", table.anchor)
    if any(r.texts is not None for r in results):
        merged.texts = _edits(results, rows, "texts", table.text)
    if any(r.flags is not None for r in results):
        merged.flags = _edits(results, rows, "flags", [()] * len(table))  # () adds no flag
    return merged


def _edits(
    results: list[FilterResult], rows: list[np.ndarray], name: str, original: list[Any]
) -> list[Any]:
    """A tidied column over all chunks (a chunk that tidied nothing keeps the originals)."""
    merged: list[Any] = []
    for result, positions in zip(results, rows, strict=True):
        values = getattr(result, name)
        merged.extend(values if values is not None else [original[i] for i in positions.tolist()])
    return merged


def _add_details(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The chunks' ``details`` added up: numbers summed, anything else from the first chunk."""
    total: dict[str, Any] = {}
    for details in parts:
        for key, value in details.items():
            if isinstance(value, int | float) and isinstance(total.get(key, 0), int | float):
                total[key] = total.get(key, 0) + value
            else:
                total.setdefault(key, value)
    return total
