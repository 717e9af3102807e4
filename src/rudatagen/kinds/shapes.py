"""The shapes a kind's records are turned into: training rows and evaluation pairs.

Both follow sentence-transformers' column conventions, so the trainer and the evaluators take
them without glue: triplets ``anchor / positive / negative``, scored pairs
``sentence1 / sentence2 / score``; evaluation pairs carry a 1/0 label and/or a gold score.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


def grid_pairs(n_pos: int, n_neg: int, limit: int) -> list[tuple[int, int]]:
    """Up to ``limit`` (i, j) index pairs of the n_pos × n_neg grid, diagonals first."""
    out: list[tuple[int, int]] = []
    for shift in range(n_neg):
        for i in range(n_pos):
            out.append((i, (i + shift) % n_neg))
            if len(out) == limit:
                return out
    return out


def strings(value: Any) -> list[str]:
    """A list cell (or one string) as non-blank strings."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    return [str(v) for v in value if v and str(v).strip()]


@dataclass
class TrainingRows:
    """What one source gives: triplets, labelled pairs, and what was skipped and why."""

    triplets: dict[str, list[str]] = field(
        default_factory=lambda: {"anchor": [], "positive": [], "negative": []}
    )
    pairs: dict[str, list[Any]] = field(
        default_factory=lambda: {"sentence1": [], "sentence2": [], "score": []}
    )
    skipped: Counter[str] = field(default_factory=Counter)

    def add_triplets(self, anchor: str, pos: list[str], neg: list[str], limit: int) -> list[int]:
        used = grid_pairs(len(pos), len(neg), limit)
        for i, j in used:
            self.triplets["anchor"].append(anchor)
            self.triplets["positive"].append(pos[i])
            self.triplets["negative"].append(neg[j])
        return [i for i, _ in used]


@dataclass
class PairSet:
    """Pairs with roles; ``labels`` (1/0, None = not in pair classification), ``scores`` (gold)."""

    name: str
    kind: str  # a dataset kind (ruhnp, wanli, retrieval) or "pairs" for an external file
    source: str = ""  # where the pairs were read from
    text1: list[str] = field(default_factory=list)
    text2: list[str] = field(default_factory=list)
    labels: list[int | None] = field(default_factory=list)
    gold: list[float] = field(default_factory=list)
    role1: str = "symmetric"
    role2: str = "symmetric"
    triplets: list[tuple[str, str, str]] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)

    def add(self, a: str, b: str, label: int | None, gold: float | None = None) -> None:
        self.text1.append(a)
        self.text2.append(b)
        self.labels.append(label)
        if gold is not None:
            self.gold.append(gold)

    @property
    def positives(self) -> int:
        return sum(1 for x in self.labels if x == 1)

    @property
    def negatives(self) -> int:
        return sum(1 for x in self.labels if x == 0)


@dataclass
class RetrievalSet:
    """An information-retrieval task: ``queries`` (id → text), ``corpus`` (id → text) and each
    query's relevant documents (``relevant``: id → corpus ids), as sentence-transformers'
    ``InformationRetrievalEvaluator`` takes them. Queries take the ``query`` prefix, the
    corpus the ``document`` prefix."""

    name: str
    kind: str  # a dataset kind (retrieval) or "beir" for a BEIR-style folder
    source: str = ""
    queries: dict[str, str] = field(default_factory=dict)
    corpus: dict[str, str] = field(default_factory=dict)
    relevant: dict[str, set[str]] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    _ids: dict[str, str] = field(default_factory=dict, repr=False)  # text -> corpus id

    def document(self, text: str) -> str:
        """The corpus id of ``text``, adding it once (documents are keyed by their text)."""
        if text not in self._ids:
            self._ids[text] = f"d{len(self._ids)}"
            self.corpus[self._ids[text]] = text
        return self._ids[text]
