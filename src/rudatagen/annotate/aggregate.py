"""Aggregation of the annotators' votes into one decision per item (the rules the README states).

1. An item with fewer labelled votes than ``min_votes`` (by default the project's annotators per
   task) is **pending**: its partial votes are kept in ``review.parquet``, its data unchanged.
2. A *discard* (WANLI) / *broken* (RuHNP) from any annotator discards the item (**reviewed**,
   final label ``discard``/``broken``).
3. Otherwise the label with the most votes wins (**reviewed**); a tie for the top is
   **unresolved** (no final label).
4. Revisions, per text field, as in WANLI: if only one annotator revised it, the unrevised text
   stays unless the revision changes punctuation only; if two or more revised it, one revision is
   kept: the most frequent, ties to the earliest annotation. Discarded items take no revision.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from rudatagen.annotate.configs import TaskSpec
from rudatagen.annotate.tool import Vote
from rudatagen.kinds.review import PENDING, REVIEWED, UNRESOLVED


@dataclass
class Decision:
    key: str
    status: str
    final: str | None
    votes: list[Vote]
    revisions: dict[str, str] = field(default_factory=dict)  # field -> the revision applied

    @property
    def annotators(self) -> list[str]:
        return [v.annotator for v in self.votes if v.label is not None]

    @property
    def labels(self) -> list[str]:
        return [v.label for v in self.votes if v.label is not None]


def punctuation_only(original: str, revised: str) -> bool:
    """True when the two texts differ in punctuation and whitespace only."""

    def bare(text: str) -> str:
        return "".join(
            ch for ch in text if not unicodedata.category(ch).startswith("P") and not ch.isspace()
        )

    return bare(original) == bare(revised)


def _revision(votes: list[Vote], target: str, original: str) -> str | None:
    revised = [v.revisions[target] for v in votes if target in v.revisions]
    if not revised:
        return None
    if len(revised) == 1:
        return revised[0] if punctuation_only(original, revised[0]) else None
    counts = Counter(revised)
    top = max(counts.values())
    return next(text for text in revised if counts[text] == top)  # votes are in annotation order


def decide(
    key: str, votes: list[Vote], spec: TaskSpec, data: dict[str, Any], min_votes: int
) -> Decision:
    labelled = [v for v in votes if v.label is not None]
    if len(labelled) < max(min_votes, 1):
        return Decision(key, PENDING, None, votes)
    if any(v.label == spec.discard for v in labelled):
        return Decision(key, REVIEWED, spec.discard, votes)
    counts = Counter(v.label for v in labelled).most_common()
    if len(counts) > 1 and counts[0][1] == counts[1][1]:
        status, final = UNRESOLVED, None
    else:
        status, final = REVIEWED, counts[0][0]
    revisions = {}
    for target in spec.revisions.values():
        text = _revision(labelled, target, str(data.get(target, "")))
        if text is not None:
            revisions[target] = text
    return Decision(key, status, final, votes, revisions)
