"""What a human review did to a run's candidates, for the kind to put back into its records.

``annotate pull`` applies the reviewers' decisions to the run's candidate table (a new label, a
removed candidate, a revised text) and notes here, per candidate, the review's status and votes;
:meth:`rudatagen.kinds.base.Kind.rebuild_reviewed` then makes the reviewed records. The statuses
are also what ``publish`` reads back (``unresolved`` rows are left out unless asked for).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from rudatagen.kinds.candidates import CandidateTable

PENDING, REVIEWED, UNRESOLVED, NOT_SAMPLED = "pending", "reviewed", "unresolved", "not_sampled"
SEVERITY = {UNRESOLVED: 3, PENDING: 2, REVIEWED: 1}  # a record's status is its worst candidate's


def row_review_columns(label_column: str) -> dict[str, pa.DataType]:
    """The review columns of a kind whose record is one candidate (retrieval, WANLI): the
    status, ``label_column`` (the kind says which label it keeps), then the votes."""
    return {
        "review_status": pa.string(),
        label_column: pa.string(),
        "annotator_labels": pa.list_(pa.string()),
        "annotators": pa.list_(pa.string()),
    }


@dataclass
class Review:
    """The reviewed candidate table and, aligned with it, each candidate's review.

    ``intended``: the label before the review (the machine's); ``status``: ``not_sampled`` for a
    candidate nobody was asked about, else its decision's; ``labels``/``annotators``: the votes.
    """

    table: CandidateTable
    intended: list[str] = field(init=False)
    status: list[str] = field(init=False)
    labels: list[list[str]] = field(init=False)
    annotators: list[list[str]] = field(init=False)

    def __post_init__(self) -> None:
        n = len(self.table)
        self.intended = [self.table.label_of(row) for row in range(n)]
        self.status = [NOT_SAMPLED] * n
        self.labels = [[] for _ in range(n)]
        self.annotators = [[] for _ in range(n)]

    def worst(self, rows: Iterable[int]) -> str:
        """The worst status of the reviewed (pushed) candidates among ``rows``:
        unresolved > pending > reviewed; ``not_sampled`` when none was pushed."""
        pushed = [self.status[row] for row in rows if self.status[row] != NOT_SAMPLED]
        return max(pushed, key=SEVERITY.__getitem__) if pushed else NOT_SAMPLED

    def of_row(self, row: int) -> dict[str, Any]:
        """Candidate ``row``'s status and votes, under :func:`row_review_columns`' names."""
        return {
            "review_status": self.status[row],
            "annotator_labels": self.labels[row],
            "annotators": self.annotators[row],
        }
