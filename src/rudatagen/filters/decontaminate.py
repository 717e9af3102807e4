"""Decontamination: drop every generated row with a text that repeats an evaluation set's text.

A model trained on rows that hold the test sentences of its benchmark (or light edits of them)
scores higher than it should. Every text of a row is checked — its anchor (RuHNP and retrieval:
the query; WANLI: the premise), its candidates (paraphrases and non-paraphrases, the passage,
hypotheses) and the record columns named in :attr:`DecontaminateFilter.record_texts`
(retrieval's mined negatives) — against the evaluation sets of ``against``, by the rules of
:mod:`rudatagen.filters.contamination`. One matching text takes its whole row: every live
candidate of the record is rejected with a reason that names the matching field, evaluation set,
row and column, so the record then falls to ``min_survivors``.

It runs first, on every candidate: the funnel's step counts every contaminated row, whatever the
other filters would have made of it. The funnel's ``details.decontaminate`` keeps the rows
dropped, in all and per set (a row counts for the set of its first matching text); the
manifest's filter settings add ``sets``, the file names with their rows and distinct texts, which
is what the dataset card shows.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import numpy as np

from rudatagen.filters.base import Filter, FilterResult
from rudatagen.filters.contamination import COPY, NEAR, NGRAM, ContaminationIndex, Match
from rudatagen.filters.settings import DecontaminateSettings
from rudatagen.kinds.candidates import CandidateTable

ANCHOR = "anchor"  # the field name a record's anchor (query, premise) is reported under
RULES = {
    COPY: "row holds a copy of an evaluation text",
    NGRAM: "row shares a word n-gram with an evaluation text",
    NEAR: "row holds a near-copy of an evaluation text",
}


class DecontaminateFilter(Filter[DecontaminateSettings]):
    """Rejects every candidate of a row that holds a text of an evaluation set (or a near-copy).

    The evaluation sets are read on the first ``apply`` (or ``thresholds``), once.
    """

    name = "decontaminate"
    record_texts = ("negatives",)

    def __init__(self, settings: DecontaminateSettings) -> None:
        super().__init__(settings)
        self._index: ContaminationIndex | None = None

    @property
    def index(self) -> ContaminationIndex:
        if self._index is None:
            self._index = ContaminationIndex.build(self.settings)
        return self._index

    def thresholds(self) -> dict[str, object]:
        """The settings, and the evaluation sets with their sizes (what the card names)."""
        return {**super().thresholds(), "sets": [asdict(s) for s in self.index.sets]}

    def apply(self, table: CandidateTable, rows: np.ndarray) -> FilterResult:
        """Reject the live candidates at ``rows`` of every record with a contaminated text."""
        texts = self._record_texts(table, rows)
        found = self.index.match_all([text for pairs in texts.values() for _, text in pairs])
        verdicts: dict[str, str] = {}  # record id -> the reason its candidates go
        by_set: dict[str, int] = {}
        for record_id, pairs in texts.items():
            hit = next(((f, found[t]) for f, t in pairs if t in found), None)
            if hit is not None:
                verdicts[record_id] = self._reason(*hit)
                by_set[hit[1].set_name] = by_set.get(hit[1].set_name, 0) + 1
        reject = np.fromiter(
            (table.record_id[row] in verdicts for row in rows.tolist()), bool, len(rows)
        )
        reasons = [verdicts[table.record_id[row]] for row in rows[reject].tolist()]
        details: dict[str, Any] = {
            "rows_dropped": len(verdicts),
            "by_set": {s.name: by_set.get(s.name, 0) for s in self.index.sets},
        }
        return FilterResult(rows, reject=reject, reasons=reasons, details=details)

    def _record_texts(
        self, table: CandidateTable, rows: np.ndarray
    ) -> dict[str, list[tuple[str, str]]]:
        """Per record with live candidates: its ``(field, text)`` pairs, anchor first."""
        extra = self.context.record_texts
        texts: dict[str, list[tuple[str, str]]] = {}
        for row in rows.tolist():
            record_id = table.record_id[row]
            pairs = texts.get(record_id)
            if pairs is None:
                pairs = texts[record_id] = [(ANCHOR, table.anchor[row])]
                for column, values in extra.get(record_id, {}).items():
                    pairs.extend((column, value) for value in values)
            pairs.append((table.field[row], table.text[row]))
        return texts

    def _reason(self, field: str, match: Match) -> str:
        """E.g. ``"row shares a word n-gram with an evaluation text (pos ~ test.csv row 3,
        sentence1: 13 words in a row)"``."""
        if match.rule == COPY:
            figure = "the same up to case and punctuation"
        elif match.rule == NGRAM:
            figure = f"{match.figure:g} words in a row"
        else:
            figure = f"shingle Jaccard {match.figure:.2f} ≥ {self.settings.max_jaccard:g}"
        where = f"{match.set_name} row {match.row}, {match.column}"
        return f"{RULES[match.rule]} ({field} ~ {where}: {figure})"
