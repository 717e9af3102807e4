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
from typing import Any

import numpy as np

from rudatagen.encoders import load_cross_encoder
from rudatagen.filters.base import FilterResult, ModelFilter
from rudatagen.filters.crossencoder import binary_index, pair_probabilities
from rudatagen.filters.settings import AnswerabilitySettings
from rudatagen.kinds.candidates import CandidateTable

PROB = "answerability_prob"


class AnswerabilityFilter(ModelFilter[AnswerabilitySettings]):
    """Rejects (query, passage) pairs the reranker scores below ``min_probability``.

    The model loads on the first ``apply`` with rows (or pass a loaded ``CrossEncoder`` as
    ``model``). ``predicted_pairs`` counts the distinct pairs sent to it.
    """

    name = "answerability"
    kinds = ("retrieval",)
    predicted_pairs: int = 0

    def load_model(self) -> Any:
        s = self.settings
        return load_cross_encoder(s.model, s.device, s.max_length)

    @cached_property
    def positive(self) -> int | None:
        """The output read as the probability (None: one logit); a wider head is an error."""
        return binary_index(
            self.model, self.settings.model, "answerability", "use a reranker, not an NLI model"
        )

    def probabilities(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        """P(the passage answers the query) for each (query, passage) pair."""
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        positive = self.positive  # loads the model and checks its head before predicting
        probs, predicted = pair_probabilities(self.model, pairs, self.settings.batch_size, positive)
        self.predicted_pairs += predicted
        return probs

    def apply(self, table: CandidateTable, rows: np.ndarray) -> FilterResult:
        prob = self.probabilities([(table.anchor[r], table.text[r]) for r in rows.tolist()])
        floor = self.settings.min_probability
        reject = prob < floor
        reasons = [
            f"passage does not answer the query: reranker probability {prob[i]:.4f} < {floor:g}"
            for i in np.flatnonzero(reject)
        ]
        return FilterResult(rows, {PROB: prob}, reject, reasons)
