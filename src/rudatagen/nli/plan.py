"""What ``generate wanli`` computes before it generates, the same way in every invocation and
every shard: the seeds checked against the cartography, the ambiguous ones and their neighbours
(``nli.selection``), the task and its items (one per prompt, id = the seed's guid); and how the
generated rows and the selection enter the funnel.

The selection reads the cartography's metrics and embeds with its last checkpoint, so it is
deterministic: a ``--shard`` run computes every prompt and generates the ones in its shard, and
``merge-shards`` computes them again to filter. ``prompts_digest`` lets them check they agree.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from rudatagen.core.funnel import TOTAL, Funnel
from rudatagen.errors import RudatagenError
from rudatagen.generators.runner import GenerationReport
from rudatagen.nli.selection import SelectionReport, load_checked_seeds, select_groups
from rudatagen.nli.settings import WanliRunSettings
from rudatagen.nli.wanli import WanliTask
from rudatagen.sources import SourceReport, SourceText


@dataclass
class WanliPlan:
    """What every invocation (and every shard) computes the same way before generating."""

    task: WanliTask
    items: list[SourceText]
    source_report: SourceReport
    selection: SelectionReport
    seed_fingerprint: str

    @property
    def prompts_digest(self) -> str:
        """Each prompt's seed and neighbours, in order: shards of one run must agree on it."""
        groups = [[g.seed.guid, *(s.guid for s in g.neighbours)] for g in self.task.groups.values()]
        return hashlib.sha256(json.dumps(groups).encode()).hexdigest()[:16]


def selection_steps(funnel: Funnel, selection: SelectionReport, report: GenerationReport) -> None:
    """Seed selection, prompts and generation as ``all`` steps (they come before labels)."""
    ambiguous = sum(selection.ambiguous.values())
    too_few = sum(selection.skipped_too_few_neighbours.values())
    funnel.add(
        "ambiguous seeds",
        {TOTAL: selection.seeds},
        {TOTAL: ambiguous},
        note="variability below the per-label quantile",
    )
    rules = {"too few neighbours": too_few, "over the limit": selection.over_limit}
    funnel.add(
        "prompts",
        {TOTAL: ambiguous},
        {TOTAL: selection.groups},
        rules={rule: n for rule, n in rules.items() if n},
    )
    answered = report.already_done + report.completed
    funnel.add(
        "generation",
        {TOTAL: selection.groups},
        {TOTAL: answered},
        rules=dict(report.failure_reasons),
        note="LLM failures" if report.failed else None,
    )


def generated_rows(directory: Path, items: Sequence[SourceText]) -> list[dict[str, Any]]:
    """The generated rows of ``items``, in the items' (the selection's) order: the order the
    filters see decides their batches and ties, so it must not depend on who wrote which shard."""
    position = {item.id: i for i, item in enumerate(items)}
    shards = sorted((directory / "data").glob("shard-*.parquet"))
    rows = [row for path in shards for row in pq.read_table(path).to_pylist()]
    return sorted((r for r in rows if r["id"] in position), key=lambda r: position[r["id"]])


def plan_wanli(
    settings: WanliRunSettings,
    cartography: Path,
    seed_path: Path | None,
    on_selected: Callable[[SelectionReport], None] | None = None,
) -> WanliPlan:
    """The seeds checked against the cartography, the ambiguous ones and their neighbours, the
    task and its items (one per prompt, id = the seed's guid)."""
    wanli = settings.wanli
    seeds, path, carto_manifest = load_checked_seeds(wanli, cartography, seed_path)
    groups, selection = select_groups(wanli, cartography, seeds, path)
    if on_selected is not None:
        on_selected(selection)
    if not groups:
        raise RudatagenError(f"no seeds to prompt with: {selection.summary()}")
    task = WanliTask(wanli, settings.generate.llm, groups, carto_manifest["seed_fingerprint"])
    items = task.items()
    source_report = SourceReport(
        path=str(path), rows_read=len(seeds), candidates=len(seeds), kept=len(items)
    )
    return WanliPlan(task, items, source_report, selection, carto_manifest["seed_fingerprint"])
