"""Run filter stages over a candidate table, count the funnel, put records back together."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rudatagen.filters.base import Filter
from rudatagen.filters.candidates import LABEL_NAMES, NON_PARAPHRASE, PARAPHRASE, CandidateTable

_RULE = re.compile(r"^([^:(\d]+)")


def rule_of(reason: str) -> str:
    """The rule part of a reason ("near-copy of the query: similarity 97 > 90" → its head)."""
    match = _RULE.match(reason)
    return (match.group(1) if match else reason).strip() or reason


@dataclass
class StageCounts:
    """In/out of one filter, per intended label, and its rejections by rule."""

    name: str
    version: str
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    rules: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "filter": self.name,
            "version": self.version,
            "seconds": round(self.seconds, 3),
            **self.counts,
            "rejected_by_rule": dict(self.rules.most_common()),
        }


def _label_counts(table: CandidateTable, mask: np.ndarray) -> dict[str, int]:
    return {
        LABEL_NAMES[value]: int(np.count_nonzero(mask & (table.label == value)))
        for value in (PARAPHRASE, NON_PARAPHRASE)
    }


def run_stages(table: CandidateTable, filters: list[Filter]) -> list[StageCounts]:
    """Apply each filter to the candidates still alive; return the funnel, stage by stage."""
    import time

    funnel = []
    for stage in filters:
        started = time.perf_counter()
        rows = table.alive_rows()
        before = _label_counts(table, table.alive)
        result = stage.apply(table, rows)
        for column, values in result.scores.items():
            table.set_scores(column, result.rows, np.asarray(values, dtype=np.float32))
        counts = StageCounts(stage.name, stage.version)
        if result.reject is not None and result.reject.any():
            rejected_rows = result.rows[result.reject]
            if len(result.reasons) != len(rejected_rows):
                raise RuntimeError(
                    f"filter {stage.name} gave {len(result.reasons)} reasons for "
                    f"{len(rejected_rows)} rejections"
                )
            table.reject(rejected_rows, stage.name, result.reasons)
            counts.rules.update(rule_of(reason) for reason in result.reasons)
        after = _label_counts(table, table.alive)
        counts.counts = {
            label: {
                "in": before[label],
                "out": after[label],
                "rejected": before[label] - after[label],
            }
            for label in before
        }
        counts.seconds = time.perf_counter() - started
        funnel.append(counts)
    return funnel


@dataclass
class Reassembled:
    records: list[dict[str, Any]]
    dropped: list[dict[str, Any]]


def reassemble(
    table: CandidateTable, records: list[dict[str, Any]], min_pos: int, min_neg: int
) -> Reassembled:
    """Records keep their surviving ``pos``/``neg``; with too few survivors a record is dropped."""
    survivors: dict[str, dict[int, list[tuple[int, str]]]] = {}
    for row in table.alive_rows().tolist():
        by_label = survivors.setdefault(table.record_id[row], {PARAPHRASE: [], NON_PARAPHRASE: []})
        by_label[int(table.label[row])].append((int(table.position[row]), table.text[row]))
    kept, dropped = [], []
    for record in records:
        found = survivors.get(record["id"], {PARAPHRASE: [], NON_PARAPHRASE: []})
        pos = [text for _, text in sorted(found[PARAPHRASE])]
        neg = [text for _, text in sorted(found[NON_PARAPHRASE])]
        if len(pos) < min_pos or len(neg) < min_neg:
            dropped.append(
                {
                    "id": record["id"],
                    "query": record["query"],
                    "reason": f"too few survivors: {len(pos)} pos (min {min_pos}), "
                    f"{len(neg)} neg (min {min_neg})",
                }
            )
            continue
        kept.append({**record, "pos": pos, "neg": neg})
    return Reassembled(kept, dropped)
