"""The candidate table: one row per (record, candidate) pair, columnar for speed and memory.

A RuHNP record (``query``, ``pos`` list, ``neg`` list) becomes ``len(pos) + len(neg)`` candidates,
each with its intended label (``PARAPHRASE`` or ``NON_PARAPHRASE``). Filters add score columns and
reject candidates with a reason; surviving candidates are put back into records afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

PARAPHRASE = 1
NON_PARAPHRASE = 0
LABEL_NAMES = {PARAPHRASE: "paraphrase", NON_PARAPHRASE: "non_paraphrase"}


@dataclass
class CandidateTable:
    """Columns aligned by position. ``alive`` is False once a filter rejected the candidate."""

    record_id: list[str]
    query: list[str]
    text: list[str]
    label: np.ndarray  # int8: PARAPHRASE / NON_PARAPHRASE
    position: np.ndarray  # int16: index within the record's pos or neg list
    alive: np.ndarray = field(init=False)
    rejected_by: list[str | None] = field(init=False)
    reason: list[str | None] = field(init=False)
    scores: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.text)
        self.alive = np.ones(n, dtype=bool)
        self.rejected_by = [None] * n
        self.reason = [None] * n

    def __len__(self) -> int:
        return len(self.text)

    @classmethod
    def from_records(cls, records: Iterable[dict[str, Any]]) -> CandidateTable:
        """Explode RuHNP records (``id``, ``query``, ``pos``, ``neg``) into candidates."""
        record_id: list[str] = []
        query: list[str] = []
        text: list[str] = []
        label: list[int] = []
        position: list[int] = []
        for record in records:
            for value, items in (
                (PARAPHRASE, record.get("pos")),
                (NON_PARAPHRASE, record.get("neg")),
            ):
                for index, item in enumerate(items or ()):
                    record_id.append(record["id"])
                    query.append(record["query"])
                    text.append("" if item is None else str(item))
                    label.append(value)
                    position.append(index)
        return cls(
            record_id,
            query,
            text,
            np.asarray(label, dtype=np.int8),
            np.asarray(position, dtype=np.int16),
        )

    def alive_rows(self) -> np.ndarray:
        return np.flatnonzero(self.alive)

    def set_scores(self, column: str, rows: np.ndarray, values: np.ndarray) -> None:
        """Store a score column (NaN for candidates the filter did not see)."""
        if column not in self.scores:
            self.scores[column] = np.full(len(self), np.nan, dtype=np.float32)
        self.scores[column][rows] = values

    def reject(self, rows: np.ndarray, filter_name: str, reasons: list[str]) -> None:
        for row, why in zip(rows.tolist(), reasons, strict=True):
            if self.alive[row]:
                self.alive[row] = False
                self.rejected_by[row] = filter_name
                self.reason[row] = why
