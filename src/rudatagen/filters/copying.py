"""Copying: a retrieval query that repeats a stretch of its passage (near-)verbatim.

The score is the longest run of the query's words that occurs contiguously, in the same order,
in the passage, compared as pymorphy3 lemmas (so a copy with a changed case ending still counts),
as a share of the query's words (``copying_share``, 0–1; the run's length is
``copying_run``). A share rather than a character similarity keeps the score free of the query's
length: a copied 12-word query and a copied 5-word one both score 1.0, while a question that
rewords the passage scores low however long it is. Runs shorter than ``min_run`` words never
count: a two-word keyword query is often a phrase of its passage, which is how keyword queries
are meant to look. Why not rapidfuzz ``partial_ratio``: on characters a short query finds a
close window in any long passage, and a reworded ending breaks the match less than it should.
"""

from __future__ import annotations

from collections.abc import Sequence
from difflib import SequenceMatcher

import numpy as np

from rudatagen.filters.base import Filter, FilterResult
from rudatagen.filters.russian import lemma, word_tokens
from rudatagen.filters.settings import CopyingSettings
from rudatagen.kinds.candidates import CandidateTable

SHARE = "copying_share"
RUN = "copying_run"


def lemmas(text: str) -> list[str]:
    """The lemmas of a text's words, in order."""
    return [lemma(word) for word in word_tokens(text)]


def longest_copied_run(query: Sequence[str], passage: Sequence[str]) -> int:
    """Words of the longest stretch of ``query`` found contiguously in ``passage``."""
    if not query or not passage:
        return 0
    # autojunk off: its popularity heuristic would skip frequent words of long passages
    matcher = SequenceMatcher(None, query, passage, autojunk=False)
    return matcher.find_longest_match(0, len(query), 0, len(passage)).size


class CopyingFilter(Filter[CopyingSettings]):
    """Rejects queries whose longest run copied from the passage covers most of the query."""

    name = "copying"
    kinds = ("retrieval",)
    row_local = True

    def apply(self, table: CandidateTable, rows: np.ndarray) -> FilterResult:
        settings = self.settings
        passages: dict[str, list[str]] = {}  # a passage has several queries: lemmatise it once
        share = np.zeros(len(rows), dtype=np.float32)
        run = np.zeros(len(rows), dtype=np.float32)
        words = np.zeros(len(rows), dtype=np.int64)
        for index, row in enumerate(rows.tolist()):
            query = lemmas(table.anchor[row])
            text = table.text[row]
            passage = passages.get(text)
            if passage is None:
                passage = passages[text] = lemmas(text)
            size = longest_copied_run(query, passage)
            run[index], words[index] = size, len(query)
            share[index] = size / len(query) if query else 0.0
        reject = (run >= settings.min_run) & (share > settings.max_share)
        reasons = [
            f"query copies its passage: {int(run[i])} of its {words[i]} words "
            f"in one run, share {share[i]:.2f} > {settings.max_share:g}"
            for i in np.flatnonzero(reject)
        ]
        return FilterResult(rows, {SHARE: share, RUN: run}, reject, reasons)
