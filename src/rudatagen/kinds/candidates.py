"""The candidate table: what filters score, one row per candidate, columnar for speed and memory.

A kind splits each record into candidates (:meth:`Kind.candidates`): a RuHNP record gives one
per ``pos``/``neg`` item (anchor = its query), a WANLI row one per hypothesis (anchor = its
premise; a triples row gives two). Every candidate has its record's id, an ``anchor``, its
``text``, an intended ``label`` (a code into ``labels``, the table's ordered label set), its
``position`` in the record's list and the record ``field`` it came from. Filters add score
columns, may tidy ``anchor``/``text`` (noting it in ``flags``) and reject candidates with a
reason; the kind then puts the survivors back into records (:meth:`Kind.reassemble`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa

from rudatagen.errors import RudatagenError

COLUMNS = ("record_id", "anchor", "text", "label", "position", "field")  # what every candidate has


@dataclass
class CandidateTable:
    """Columns aligned by position. ``alive`` is False once a filter rejected the candidate."""

    labels: tuple[str, ...]
    record_id: list[str]
    anchor: list[str]
    text: list[str]
    label: np.ndarray  # int8 codes into ``labels``
    position: np.ndarray  # int16: index within the record's list (0 for a single field)
    field: list[str]  # the record field the text came from (pos, neg, hypothesis, …)
    alive: np.ndarray = field(init=False)
    rejected_by: list[str | None] = field(init=False)
    reason: list[str | None] = field(init=False)
    flags: list[tuple[str, ...]] = field(init=False)  # what filters changed in a kept candidate
    scores: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.labels = tuple(self.labels)
        self.label = np.asarray(self.label, dtype=np.int8)
        self.position = np.asarray(self.position, dtype=np.int16)
        n = len(self.text)
        sizes = {len(self.record_id), len(self.anchor), len(self.label), len(self.position)}
        if sizes | {len(self.field)} != {n}:
            raise ValueError("candidate columns differ in length")
        self.alive = np.ones(n, dtype=bool)
        self.rejected_by = [None] * n
        self.reason = [None] * n
        self.flags = [()] * n

    def __len__(self) -> int:
        return len(self.text)

    @classmethod
    def from_rows(
        cls, labels: Sequence[str], rows: Iterable[tuple[str, str, str, int, int, str]]
    ) -> CandidateTable:
        """A table from ``(record_id, anchor, text, label code, position, field)`` rows."""
        columns = list(zip(*rows, strict=True)) or [()] * 6
        record_id, anchor, text, code, position, field_ = (list(c) for c in columns)
        return cls(tuple(labels), record_id, anchor, text, code, position, field_)

    def code(self, label: str) -> int:
        """The code of ``label`` in this table (a one-line error for a label it does not have)."""
        try:
            return self.labels.index(label)
        except ValueError:
            raise RudatagenError(
                f"label {label!r} is not one of this table's ({', '.join(self.labels)})"
            ) from None

    def is_label(self, label: str, rows: np.ndarray | None = None) -> np.ndarray:
        """Mask of the candidates (at ``rows``, else all) whose intended label is ``label``."""
        codes = self.label if rows is None else self.label[rows]
        return codes == self.code(label)

    def label_of(self, row: int) -> str:
        return self.labels[int(self.label[row])]

    def label_counts(self, mask: np.ndarray | None = None) -> dict[str, int]:
        """Candidates per label (all of ``labels``, zeros included), under ``mask`` if given."""
        codes = self.label if mask is None else self.label[mask]
        counts = np.bincount(codes.astype(np.int64), minlength=len(self.labels))
        return {label: int(counts[code]) for code, label in enumerate(self.labels)}

    def alive_rows(self) -> np.ndarray:
        return np.flatnonzero(self.alive)

    def rows_by_record(self, alive_only: bool = False) -> dict[str, list[int]]:
        """The candidates (all, or the alive ones) of each record id, in table order."""
        grouped: dict[str, list[int]] = {}
        rows = self.alive_rows().tolist() if alive_only else range(len(self))
        for row in rows:
            grouped.setdefault(self.record_id[row], []).append(row)
        return grouped

    def cell(self, row: int, column: str) -> str | int:
        """One candidate's value in ``column`` (one of :data:`COLUMNS`), as plain Python:
        ``label`` as its name, ``position`` as an int, the others as strings."""
        if column == "label":
            return self.label_of(row)
        if column == "position":
            return int(self.position[row])
        if column not in COLUMNS:
            raise RudatagenError(f"no candidate column {column!r}; choose one of {COLUMNS}")
        return str(getattr(self, column)[row])

    def set_scores(self, column: str, rows: np.ndarray, values: np.ndarray) -> None:
        """Store a score column (NaN for candidates the filter did not see)."""
        if column not in self.scores:
            self.scores[column] = np.full(len(self), np.nan, dtype=np.float32)
        self.scores[column][rows] = values

    def reject(self, rows: np.ndarray, filter_name: str, reasons: Sequence[str]) -> None:
        for row, why in zip(rows.tolist(), reasons, strict=True):
            if self.alive[row]:
                self.alive[row] = False
                self.rejected_by[row] = filter_name
                self.reason[row] = why

    def to_arrow(self) -> pa.Table:
        """Every candidate with its scores, ``kept``, ``filter`` and ``reason`` (the audit file).

        Columns: ``record_id, label, position, field, anchor, text, kept, filter, reason, flags``
        and then the score columns in name order.
        """
        columns: dict[str, Any] = {
            "record_id": pa.array(self.record_id, pa.string()),
            "label": pa.array([self.labels[code] for code in self.label.tolist()], pa.string()),
            "position": pa.array(self.position, pa.int16()),
            "field": pa.array(self.field, pa.string()),
            "anchor": pa.array(self.anchor, pa.string()),
            "text": pa.array(self.text, pa.string()),
            "kept": pa.array(self.alive, pa.bool_()),
            "filter": pa.array(self.rejected_by, pa.string()),
            "reason": pa.array(self.reason, pa.string()),
            "flags": pa.array([list(f) for f in self.flags], pa.list_(pa.string())),
        }
        for column, values in sorted(self.scores.items()):
            columns[column] = pa.array(values, pa.float32())
        return pa.table(columns)


class Reassembled(NamedTuple):
    """Records rebuilt from the surviving candidates; the dropped ones (``id``, ``reason``)."""

    records: list[dict[str, Any]]
    dropped: list[dict[str, Any]]
