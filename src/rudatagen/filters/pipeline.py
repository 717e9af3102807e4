"""Run filters over a candidate table, one funnel step each (per-label in/out, rules)."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable

import numpy as np

from rudatagen.core.funnel import Funnel
from rudatagen.filters.base import Filter, FilterResult
from rudatagen.kinds.candidates import CandidateTable

_RULE = re.compile(r"^([^:(\d]+)")

Apply = Callable[[Filter, CandidateTable, np.ndarray], FilterResult]
"""How a filter is applied to the live rows: ``filter.apply`` here, or the Ray executor's
``RayFilterRunner`` (row-local filters over chunks on a cluster)."""


def rule_of(reason: str) -> str:
    """The rule part of a reason ("near-copy of the query: similarity 97 > 90" → its head)."""
    match = _RULE.match(reason)
    return (match.group(1) if match else reason).strip() or reason


def run_stages(
    table: CandidateTable,
    filters: list[Filter],
    funnel: Funnel | None = None,
    *,
    apply: Apply | None = None,
) -> Funnel:
    """Apply each filter to the candidates still alive; add one step per filter to ``funnel``.

    Returns ``funnel`` (a new one, ``counts_in`` from the table, when none is given). A step
    counts the live candidates per label before and after its filter and its rejections by rule.
    ``apply`` replaces calling ``filter.apply(table, rows)`` (the Ray executor); what it returns
    is recorded the same way.
    """
    if funnel is None:
        funnel = Funnel(unit="candidates", counts_in=table.label_counts(table.alive))
    for stage in filters:
        started = time.perf_counter()
        rows = table.alive_rows()
        before = table.label_counts(table.alive)
        result = stage.apply(table, rows) if apply is None else apply(stage, table, rows)
        for column, values in result.scores.items():
            table.set_scores(column, result.rows, np.asarray(values, dtype=np.float32))
        rules: Counter[str] = Counter()
        rejected = np.zeros(len(result.rows), dtype=bool)
        if result.reject is not None and result.reject.any():
            rejected = result.reject
            rejected_rows = result.rows[rejected]
            if len(result.reasons) != len(rejected_rows):
                raise RuntimeError(
                    f"filter {stage.name} gave {len(result.reasons)} reasons for "
                    f"{len(rejected_rows)} rejections"
                )
            table.reject(rejected_rows, stage.name, result.reasons)
            rules.update(rule_of(reason) for reason in result.reasons)
        _write_edits(table, result, rejected)
        if result.skipped:
            funnel.details.setdefault("skipped", {})[stage.name] = dict(result.skipped)
        if result.details:
            funnel.details[stage.name] = dict(result.details)
        funnel.add(
            stage.name,
            before,
            table.label_counts(table.alive),
            rules=dict(rules.most_common()),
            version=stage.version,
            seconds=time.perf_counter() - started,
            note=skip_note(result.skipped),
        )
    return funnel


def skip_note(skipped: dict[str, int]) -> str | None:
    """``"kept unjudged: 3 not mined (…)"``: the candidates a filter could not score."""
    if not skipped:
        return None
    return "kept unjudged: " + "; ".join(f"{n} {why}" for why, n in skipped.items())


def _write_edits(table: CandidateTable, result: FilterResult, rejected: np.ndarray) -> None:
    """Tidied anchors/texts and their flags, for the rows the filter kept."""
    if result.anchors is None and result.texts is None and result.flags is None:
        return
    for index in np.flatnonzero(~rejected).tolist():
        row = int(result.rows[index])
        if result.anchors is not None:
            table.anchor[row] = result.anchors[index]
        if result.texts is not None:
            table.text[row] = result.texts[index]
        if result.flags is not None and result.flags[index]:
            table.flags[row] = (*table.flags[row], *result.flags[index])
