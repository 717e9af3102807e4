"""``generate`` on Ray: the pending sources as a Ray Dataset through a pool of engine replicas.

The driver (the ``rudatagen`` process) has already read the sources, locked the run directory
and dropped the ids its shards hold (resume). Here it cuts the pending sources into work units of
``executor.batch_size``, one dataset row each, and streams them through ``map_batches`` over an
actor pool of ``executor.replicas`` :class:`~rudatagen.executor.replica.GenerateReplica` actors,
each running several units at once on its one engine (:func:`units_in_flight`).
Replicas write their shards themselves (no rows travel back); the driver gets each unit's counts
as it finishes and keeps the progress bar, ``failed.jsonl``, the report and the per-replica
tallies. Ray restarts a replica whose process died and retries the units it held
(``max_restarts``, ``max_task_retries``); a unit's shard name makes its retry replace, not add.
"""

from __future__ import annotations

import json
import math
import pickle
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rudatagen.core.progress import Progress
from rudatagen.core.store import RAY_CACHE_DIR, RunStore
from rudatagen.errors import RudatagenError
from rudatagen.executor.connect import connect, first_line, map_on_replicas
from rudatagen.executor.replica import GenerateReplica, engine_requests, unit_shard_name
from rudatagen.executor.settings import ExecutorSettings
from rudatagen.generators.runner import GenerationReport, Task, cost_of
from rudatagen.generators.settings import GenerateSettings
from rudatagen.llm.client import ClientStats
from rudatagen.llm.settings import LLMSettings
from rudatagen.sources import SourceText


@dataclass
class ReplicaTally:
    """What one replica (one actor, across its restarts) did in this invocation."""

    node: str
    pids: list[int] = field(default_factory=list)  # a new pid after each restart
    units: int = 0
    completed: int = 0
    failed: int = 0
    spans: list[tuple[float, float]] = field(default_factory=list)  # each unit's start, end

    def most_at_once(self) -> int:
        """The most units this replica ran at the same moment (``executor.units_in_flight``
        when its engine was kept fed; 1 when units ran one after another)."""
        edges = sorted(
            [(start, 1) for start, _ in self.spans] + [(end, -1) for _, end in self.spans]
        )
        running = most = 0
        for _, step in edges:  # an end sorts before a start at the same instant
            running += step
            most = max(most, running)
        return most

    def as_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "pids": self.pids,
            "units": self.units,
            "units_at_once": self.most_at_once(),
            "completed": self.completed,
            "failed": self.failed,
        }


@dataclass
class RayRun:
    """The executor's part of the manifest, filled as units come back (so an interrupted run
    still records what was done)."""

    settings: ExecutorSettings
    units: int = 0
    units_in_flight: int | None = None  # per replica, as resolved (the setting may be null)
    replicas: dict[str, ReplicaTally] = field(default_factory=dict)
    began: float = field(default_factory=time.time)  # when the driver started the pool
    first_unit: float | None = None  # when the first unit began on a replica
    last_unit: float | None = None  # when the last unit ended

    def count(self, result: dict[str, Any]) -> None:
        self.first_unit = min(result["started"], self.first_unit or result["started"])
        self.last_unit = max(result["finished"], self.last_unit or result["finished"])
        tally = self.replicas.setdefault(result["replica"], ReplicaTally(result["node"]))
        if result["pid"] not in tally.pids:
            tally.pids.append(result["pid"])
        tally.units += 1
        tally.spans.append((result["started"], result["finished"]))
        tally.completed += result["completed"]
        tally.failed += result["failed"]

    def manifest(self) -> dict[str, Any]:
        """``executor`` (the settings, ``units_in_flight`` as resolved, units, and the seconds
        until the first unit began, ``startup_s``, then while units ran, ``units_s``) and
        ``replicas`` (each one's units, ``units_at_once``, counts and process ids)."""
        timing = {}
        if self.first_unit is not None and self.last_unit is not None:
            timing = {
                "startup_s": round(self.first_unit - self.began, 3),
                "units_s": round(self.last_unit - self.first_unit, 3),
            }
        facts = self.settings.facts()
        if self.units_in_flight is not None:
            facts["units_in_flight"] = self.units_in_flight
        return {
            "executor": {**facts, "units": self.units, **timing},
            "replicas": {name: tally.as_dict() for name, tally in sorted(self.replicas.items())},
        }


def units_in_flight(executor: ExecutorSettings, llm: LLMSettings) -> int:
    """``executor.units_in_flight``, or (null) enough units to keep a replica's engine full,
    and one more to fill the tail of the oldest: ``ceil(engine_requests / batch_size) + 1``."""
    if executor.units_in_flight is not None:
        return executor.units_in_flight
    return math.ceil(engine_requests(llm) / executor.batch_size) + 1


def work_units(pending: list[SourceText], size: int) -> list[dict[str, Any]]:
    """The dataset rows: ``size`` sources each, in order, named like the shard they become."""
    units = [pending[start : start + size] for start in range(0, len(pending), size)]
    return [
        {"unit": unit_shard_name([s.id for s in unit]), "payload": pickle.dumps(unit)}
        for unit in units
    ]


def ray_cache_dir(settings: GenerateSettings, out: Path) -> Path | None:
    """The replicas' shared response cache: ``response-cache/`` beside where the SQLite cache
    would be (``OUT/``, or the folder of ``cache.path``); None when caching is off."""
    if not settings.cache.enabled:
        return None
    return (settings.cache.path.parent if settings.cache.path else out) / RAY_CACHE_DIR


def generate_on_ray(
    task: Task,
    pending: list[SourceText],
    settings: GenerateSettings,
    executor: RayRun,
    store: RunStore,
    report: GenerationReport,
    *,
    show_progress: bool,
) -> None:
    """Generate rows for ``pending`` on the cluster; fill ``report`` and ``executor`` as units
    finish. A fatal LLM error on a replica (a refused key) stops the run as a one-line error."""
    started = time.monotonic()
    executor.began = time.time()
    ray = connect(executor.settings)
    units = work_units(pending, executor.settings.batch_size)
    executor.units = len(units)
    executor.units_in_flight = units_in_flight(executor.settings, settings.llm)
    cache = ray_cache_dir(settings, store.root)
    dataset = map_on_replicas(
        ray.data.from_items(units, override_num_blocks=max(len(units), 1)),
        GenerateReplica,
        executor.settings,
        {
            "settings": settings,
            "task": task,
            "data_dir": str(store.data_dir.resolve()),
            "cache_dir": str(cache.resolve()) if cache else None,
        },
        batch_size=1,
        calls_per_replica=executor.units_in_flight,
    )
    store.start_failures()
    stats = ClientStats()
    progress = Progress(len(pending), task.name, enabled=show_progress and bool(pending))
    try:
        for row in dataset.iter_rows():
            result = _decode(row["result"])
            if "fatal" in result:
                raise RudatagenError(result["fatal"])
            for entry in result["failures"]:
                store.record_failure(entry)
            report.completed += result["completed"]
            report.failed += result["failed"]
            _add_stats(stats, result["stats"])
            executor.count(result)
            progress.advance(result["sources"], result["stats"]["completion_tokens"], report.failed)
    except (RudatagenError, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - Ray wraps a replica's failure in many types
        raise RudatagenError(f"the Ray run failed: {first_line(exc)}") from None
    finally:
        progress.close()
        report.stats = stats
        report.failure_reasons = dict(stats.failures)
        report.wall_s = time.monotonic() - started
        report.cost = cost_of(stats, settings.llm.price)


def _decode(value: Any) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(value)
    return result


def _add_stats(total: ClientStats, unit: dict[str, Any]) -> None:
    """Add one unit's ``ClientStats.as_dict()`` to the run's."""
    total.llm_calls += unit["llm_calls"]
    total.cache_hits += unit["cache_hits"]
    total.retries.update(Counter(unit["retries"]))
    total.invalid_answers.update(Counter(unit["invalid_answers"]))
    total.failures.update(Counter(unit["failures"]))
    total.usage.prompt_tokens += unit["prompt_tokens"]
    total.usage.completion_tokens += unit["completion_tokens"]
