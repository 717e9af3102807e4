"""Answerability: does the passage answer the query, as a reranker judges the pair?

A reranker is a cross-encoder over (query, passage) with one output (bge-reranker-v2-m3, the
default: its sigmoid is the probability of relevance) or two (softmax, index 1). The scoring is
the cross-encoder filter's (``pair_probabilities``: identical pairs predicted once); only the
reading differs: a retrieval row has one intended label, ``answers``, so there is one floor. A
query the passage answers only in part (the ``partial`` type) scores in between: the default
floor is low, to drop what the passage does not answer at all and keep the hard cases.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from rudatagen.filters.base import FilterResult
from rudatagen.filters.crossencoder import PairClassifierFilter, binary_index
from rudatagen.filters.settings import AnswerabilitySettings
from rudatagen.kinds.candidates import CandidateTable

PROB = "answerability_prob"


class AnswerabilityFilter(PairClassifierFilter[AnswerabilitySettings]):
    """Rejects (query, passage) pairs the reranker scores below ``min_probability``.

    The model loads on the first ``apply`` with rows (or pass a loaded ``CrossEncoder`` as
    ``model``). ``predicted_pairs`` counts the distinct pairs sent to it.
    """

    name = "answerability"
    kinds = ("retrieval",)

    @cached_property
    def positive(self) -> int | None:
        """The output read as the probability (None: one logit); a wider head is an error."""
        return binary_index(
            self.model, self.settings.model, "answerability", "use a reranker, not an NLI model"
        )

    def apply(self, table: CandidateTable, rows: np.ndarray) -> FilterResult:
        prob = self.probabilities([(table.anchor[r], table.text[r]) for r in rows.tolist()])
        floor = self.settings.min_probability
        reject = prob < floor
        reasons = [
            f"passage does not answer the query: reranker probability {prob[i]:.4f} < {floor:g}"
            for i in np.flatnonzero(reject)
        ]
        return FilterResult(rows, {PROB: prob}, reject, reasons)
