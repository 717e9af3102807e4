"""What a dataset kind is: one class that every stage asks instead of guessing from columns.

A kind knows its record columns (in run directories) and its reference columns (published), the
column that groups rows for splits, how a record splits into scored candidates and is put back
together (filters) and how its reviewed candidates become records again (``annotate pull``),
how it is checked and summarised, how it becomes training rows and evaluation pairs, how Label
Studio shows its candidates (:class:`AnnotationSpec`) and what its dataset card says. Adding a
kind is one module under ``kinds/`` plus one registry line in ``kinds/__init__.py`` (and its
prompt and annotation files).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import mean, median
from string import Formatter
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from rudatagen.errors import RudatagenError
from rudatagen.kinds.candidates import COLUMNS, CandidateTable, Reassembled
from rudatagen.kinds.review import UNRESOLVED, Review
from rudatagen.kinds.shapes import PairSet, RetrievalSet, TrainingRows

PACKAGED_CONFIGS = Path(__file__).resolve().parents[1] / "_annotation"
REPO_CONFIGS = Path(__file__).resolve().parents[3] / "annotation"
Record = dict[str, Any]  # one record (row) of a run


@dataclass(frozen=True)
class AnnotationSpec:
    """One review task: its config file, label choices, revisable text fields, and how a
    candidate (:meth:`Kind.candidates`) becomes an item: its key and the task data it shows.

    ``item_key`` is a format string over candidate columns (``record_id``, ``field``,
    ``position``, …) that names each candidate of a run once and for good: it makes a push
    idempotent and lets a pull map the votes back. ``item_data`` maps each task data field (the
    ``$names`` of the labelling config) to the candidate column it shows; a revisable field must
    show ``anchor`` or ``text``, which is where its revision goes back.
    """

    name: str
    config_file: str
    choice_from: str  # the Choices control's name
    choice_to: str  # the object tag it labels
    labels: tuple[str, ...]  # codes of the real labels
    discard: str  # the code that throws the item away (``broken`` / ``discard``)
    revisions: dict[str, str]  # TextArea control name -> the data field it revises
    title: str
    scores_from: str  # where the scores behind --strategy uncertain come from
    item_key: str
    item_data: dict[str, str]  # task data field -> candidate column
    # A record column that says how ambiguous a record is (higher = less certain) for
    # --strategy uncertain; None: the distance of the candidates' filter scores
    # (candidates.parquet) to the filter thresholds.
    ambiguity_column: str | None = None
    # The candidate score columns whose distance to their threshold is the uncertainty (empty: all).
    uncertainty_scores: tuple[str, ...] = ()
    # The pull's count keys for the removed, relabelled and revised candidates.
    count_names: tuple[str, str, str] = ("removed", "relabelled", "revised")

    def __post_init__(self) -> None:
        shown = set(self.item_data.values())
        keyed = {name for _, name, _, _ in Formatter().parse(self.item_key) if name}
        if not shown | keyed <= set(COLUMNS):
            raise ValueError(f"{self.name}: item_key/item_data name a column not in {COLUMNS}")
        for target in self.revisions.values():
            if self.item_data.get(target) not in ("anchor", "text"):
                raise ValueError(f"{self.name}: revised field {target!r} shows no anchor/text")

    @property
    def choices(self) -> tuple[str, ...]:
        return (*self.labels, self.discard)

    def label_config(self) -> str:
        for folder in (PACKAGED_CONFIGS, REPO_CONFIGS):
            path = folder / self.config_file
            if path.is_file():
                return path.read_text(encoding="utf-8")
        raise RudatagenError(f"labelling config {self.config_file} not found in {REPO_CONFIGS}")


@dataclass(frozen=True)
class CardFacts:
    """What the dataset card says about a kind."""

    pretty_name: str
    summary: str
    task_categories: tuple[str, ...]
    task_ids: tuple[str, ...]
    columns: str  # Markdown list of the published columns; ``{labels}``: the labels present


def length_stats(texts: list[str]) -> dict[str, float]:
    if not texts:
        return {"count": 0, "mean_chars": 0.0, "median_chars": 0.0, "min_chars": 0, "max_chars": 0}
    sizes = [len(t) for t in texts]
    return {
        "count": len(sizes),
        "mean_chars": round(mean(sizes), 1),
        "median_chars": float(median(sizes)),
        "min_chars": min(sizes),
        "max_chars": max(sizes),
    }


class Kind(ABC):
    """A dataset kind. Subclasses fill the class attributes and the abstract methods."""

    name: ClassVar[str]
    record_columns: ClassVar[tuple[str, ...]]  # what a run directory's records must have
    reference_schema: ClassVar[pa.Schema]  # the published columns, in order
    group_column: ClassVar[str]  # rows sharing it stay in one split
    symmetric: ClassVar[bool]  # both sides are the same kind of text (no query/passage)
    training_shapes: ClassVar[tuple[str, ...]]  # "triplets" and/or "pairs"
    candidate_labels: ClassVar[tuple[str, ...]]  # intended labels of its candidates, in order
    annotation: ClassVar[AnnotationSpec]
    review_columns: ClassVar[dict[str, pa.DataType]]  # what a reviewed run adds to the records
    card: ClassVar[CardFacts]
    # Published after the reference columns when the run has them: name -> (type, the card's
    # line for it). RuHNP's ``corpus_negatives``, which only ``rudatagen mine`` adds.
    optional_columns: ClassVar[dict[str, tuple[pa.DataType, str]]] = {}

    @property
    def reference_columns(self) -> tuple[str, ...]:
        return tuple(self.reference_schema.names)

    def published_schema(self, columns: Sequence[str]) -> pa.Schema:
        """The reference schema plus the :attr:`optional_columns` among ``columns``."""
        extra = [pa.field(n, t) for n, (t, _) in self.optional_columns.items() if n in columns]
        return pa.schema([*self.reference_schema, *extra])

    def matches(self, columns: set[str]) -> bool:
        """Whether a foreign table (no manifest) looks like this kind."""
        return set(self.reference_columns) <= columns

    # -- filtering -------------------------------------------------------------------------

    @abstractmethod
    def candidates(
        self, records: Sequence[dict[str, Any]], labels: Sequence[str] | None = None
    ) -> CandidateTable:
        """Split records into scored candidates, in record order.

        ``labels``: the run's label set, in order, where the records alone do not tell it (a
        WANLI triple's contradicting half is ``contradiction`` or ``not_entailment``); None: the
        labels of :attr:`candidate_labels` the records need. A record whose label is not in the
        set is a one-line error.
        """

    def reassemble(
        self, table: CandidateTable, records: Sequence[Record], minimums: Mapping[str, int]
    ) -> Reassembled:
        """Put the surviving candidates back into records (:meth:`rebuild`), in record order;
        drop, with a reason, the records left with fewer survivors of a label than
        ``minimums[label]`` (labels not named: 0)."""
        survivors = table.rows_by_record(alive_only=True)
        kept, dropped = [], []
        for record in records:
            rows = survivors.get(record["id"], [])
            shortfall = _shortfall(table, rows, minimums)
            if shortfall:
                dropped.append({"id": record["id"], "reason": f"too few survivors: {shortfall}"})
            else:
                kept.extend(self.rebuild(record, table, rows))
        return Reassembled(kept, dropped)

    @abstractmethod
    def rebuild(self, record: Record, table: CandidateTable, rows: list[int]) -> list[Record]:
        """The record(s) ``record`` becomes from its surviving candidates ``rows`` (table
        rows, in table order)."""

    # -- review ----------------------------------------------------------------------------

    def apply_review(self, review: Review, records: Sequence[Record]) -> list[Record]:
        """The reviewed records (:meth:`rebuild_reviewed`), in record order, each with the
        :attr:`review_columns`."""
        candidates = review.table.rows_by_record()
        out: list[Record] = []
        for record in records:
            out.extend(self.rebuild_reviewed(record, review, candidates.get(record["id"], [])))
        return out

    @abstractmethod
    def rebuild_reviewed(self, record: Record, review: Review, rows: list[int]) -> list[Record]:
        """The record(s) ``record`` becomes after review, from all its candidates ``rows``
        (removed ones included: their ``alive`` is False)."""

    # -- publishing ------------------------------------------------------------------------

    def reference_rows(
        self, table: pa.Table, keep_unresolved: bool
    ) -> tuple[list[dict[str, Any]], int]:
        """The publishable rows in the reference shape, and how many review ties were dropped.

        A reviewed run marks each row with ``review_status``; rows left ``unresolved`` go unless
        ``keep_unresolved``. Kinds whose review marks parts of a row override this.
        """
        rows = table.select(self.published_schema(table.column_names).names).to_pylist()
        if "review_status" not in table.column_names or keep_unresolved:
            return rows, 0
        statuses = table.column("review_status").to_pylist()
        kept = [row for row, status in zip(rows, statuses, strict=True) if status != UNRESOLVED]
        return kept, len(rows) - len(kept)

    def normalise(self, row: dict[str, Any]) -> dict[str, Any]:
        """Tidy a reference row before it is checked (e.g. label case)."""
        return row

    @abstractmethod
    def check_row(self, row: dict[str, Any], index: int) -> None:
        """Raise a one-line :class:`RudatagenError` when a reference row is not publishable."""

    @abstractmethod
    def split_stats(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """Per-field text lengths and label counts of one split, for the card."""

    # -- training and evaluation -----------------------------------------------------------

    @abstractmethod
    def training_rows(
        self, rows: list[dict[str, Any]], combinations: int, label_scores: dict[str, float]
    ) -> TrainingRows:
        """Triplets (and scored pairs) from published or run rows."""

    @abstractmethod
    def prompt_roles(self, shape: str) -> dict[str, str]:
        """Training column → prefix role (``query``, ``document`` or ``symmetric``)."""

    @abstractmethod
    def evaluation_pairs(self, rows: list[dict[str, Any]], name: str, source: str) -> PairSet:
        """Labelled pairs (and triplets) to evaluate an encoder on."""

    def retrieval_set(
        self, rows: list[dict[str, Any]], name: str, source: str
    ) -> RetrievalSet | None:
        """The rows as an information-retrieval task (queries against a corpus), for kinds whose
        records are (query, passage) data; None: the kind is evaluated on pairs only."""
        return None


def label_counts(values: list[str]) -> dict[str, int]:
    return dict(sorted(Counter(values).items()))


def _shortfall(table: CandidateTable, rows: list[int], minimums: Mapping[str, int]) -> str | None:
    """``"2 paraphrase (min 1), 0 non_paraphrase (min 1)"`` when ``rows`` miss a minimum."""
    counts = np.bincount(table.label[rows].astype(np.int64), minlength=len(table.labels))
    named = [(label, int(counts[code])) for code, label in enumerate(table.labels)]
    named = [(label, n) for label, n in named if label in minimums]
    if all(n >= minimums[label] for label, n in named):
        return None
    return ", ".join(f"{n} {label} (min {minimums[label]})" for label, n in named)
