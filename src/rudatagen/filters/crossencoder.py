"""Cross-encoder filter: a paraphrase classifier, or an NLI model read as entailment both ways.

``kind: paraphrase`` reads a binary classifier: one logit (sigmoid) or two (softmax, the positive
class at index 1). ``kind: nli`` reads a 3-way NLI model: P(entailment) for query → candidate and
for candidate → query, and a paraphrase is what entails both ways, so its probability is the
smaller of the two. Identical (premise, hypothesis) pairs are predicted once per call.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np

from rudatagen.encoders import load_cross_encoder
from rudatagen.errors import RudatagenError
from rudatagen.filters.base import FilterResult, ModelFilter, SettingsT
from rudatagen.filters.biencoder import distinct_index
from rudatagen.filters.settings import CrossEncoderSettings
from rudatagen.kinds.candidates import CandidateTable

PROB = "cross_encoder_paraphrase_prob"
ENTAIL_QC = "cross_encoder_entail_qc"
ENTAIL_CQ = "cross_encoder_entail_cq"


def model_labels(model: Any) -> list[str]:
    """The model's label names by index (``LABEL_0`` … when its config names none)."""
    id2label = getattr(getattr(model, "config", None), "id2label", None) or {}
    return [str(id2label.get(i, f"LABEL_{i}")) for i in range(model.num_labels)]


def positive_index(model: Any, settings: CrossEncoderSettings) -> int | None:
    """Which output holds the probability the filter reads; None for a one-logit model.

    Raises ``RudatagenError`` when the model's head does not fit ``settings.kind``, or when an
    NLI model has no label named ``settings.entailment_label`` (compared case-insensitively).
    """
    labels = model_labels(model)
    listed = ", ".join(labels)
    if settings.kind == "paraphrase":
        return binary_index(
            model, settings.model, "kind: paraphrase", "use kind: nli for an NLI model"
        )
    if len(labels) < 2:
        raise RudatagenError(
            f"cross-encoder '{settings.model}' has one output; kind: nli needs an NLI model "
            "(use kind: paraphrase for a binary classifier)"
        )
    wanted = settings.entailment_label.casefold()
    for index, label in enumerate(labels):
        if label.casefold() == wanted:
            return index
    raise RudatagenError(
        f"cross-encoder '{settings.model}' has no label '{settings.entailment_label}' "
        f"(labels: {listed}); set cross_encoder.entailment_label"
    )


def binary_index(model: Any, name: str, what: str, instead: str) -> int | None:
    """The positive class of a binary head: None for one logit (sigmoid), 1 for two (softmax).

    A head with more labels is a one-line error: ``what`` needs 1 or 2 (``instead``).
    """
    labels = model_labels(model)
    if len(labels) > 2:
        raise RudatagenError(
            f"cross-encoder '{name}' has {len(labels)} labels ({', '.join(labels)}); "
            f"{what} needs 1 or 2 ({instead})"
        )
    return None if len(labels) == 1 else 1


def pair_probabilities(
    model: Any, pairs: list[tuple[str, str]], batch_size: int, positive: int | None
) -> tuple[np.ndarray, int]:
    """P(the ``positive`` output) of each pair (sigmoid of the one logit when None), and how
    many distinct pairs went to the model (identical pairs are predicted once)."""
    if not pairs:
        return np.zeros(0, dtype=np.float32), 0
    import torch

    unique, index = distinct_index(pairs)
    logits = model.predict(
        unique,
        batch_size=batch_size,
        activation_fn=torch.nn.Identity(),
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    logits = np.asarray(logits, dtype=np.float64)
    if positive is None:
        probs = 1.0 / (1.0 + np.exp(-logits.reshape(-1)))
    else:
        shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs = shifted[:, positive] / shifted.sum(axis=1)
    return probs.astype(np.float32)[index], len(unique)


class PairClassifierFilter(ModelFilter[SettingsT]):
    """A filter scoring text pairs with a cross-encoder its settings name (``model``,
    ``device``, ``max_length``, ``batch_size``): identical pairs are predicted once, and
    ``predicted_pairs`` counts the distinct pairs sent to it. A subclass says which output is
    read as the probability (``positive``: None for one logit) and checks the head there."""

    predicted_pairs: int = 0  # `+=` on an instance counts for that instance only
    positive: int | None
    row_local = True  # a pair's probability depends on the pair alone

    def load_model(self) -> Any:
        """The ``CrossEncoder`` the settings name."""
        s: Any = self.settings
        return load_cross_encoder(s.model, s.device, s.max_length)

    def probabilities(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        """P(positive class) of each (first, second) pair; identical pairs are predicted once."""
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        positive = self.positive  # loads the model and checks its head before predicting
        batch_size = self.settings.batch_size  # type: ignore[attr-defined]
        probs, predicted = pair_probabilities(self.model, pairs, batch_size, positive)
        self.predicted_pairs += predicted
        return probs


class CrossEncoderFilter(PairClassifierFilter[CrossEncoderSettings]):
    """Scores ``cross_encoder_paraphrase_prob`` (and, for NLI, both entailment directions).

    A paraphrase stays if its probability is at least ``paraphrase_min``; a non-paraphrase stays
    if it is at most ``non_paraphrase_max``. The model loads on the first ``apply`` with rows (or
    pass a loaded ``CrossEncoder`` as ``model``). ``predicted_pairs`` counts the pairs sent to it.
    """

    name = "cross_encoder"
    kinds = ("ruhnp",)

    @cached_property
    def positive(self) -> int | None:
        """The output read as the probability (None: one logit), checked against ``kind``."""
        return positive_index(self.model, self.settings)

    def score(self, queries: list[str], candidates: list[str]) -> dict[str, np.ndarray]:
        """The score columns for aligned queries and candidates (``PROB`` always present)."""
        forward = list(zip(queries, candidates, strict=True))
        if self.settings.kind == "paraphrase":
            return {PROB: self.probabilities(forward)}
        n = len(forward)
        both = self.probabilities(forward + [(c, q) for q, c in forward])
        qc, cq = both[:n], both[n:]
        return {ENTAIL_QC: qc, ENTAIL_CQ: cq, PROB: np.minimum(qc, cq)}

    def apply(self, table: CandidateTable, rows: np.ndarray) -> FilterResult:
        """Score the live candidates at ``rows``; reject those on the wrong side of the bounds."""
        if len(rows) == 0:
            columns = [PROB] if self.settings.kind == "paraphrase" else [ENTAIL_QC, ENTAIL_CQ, PROB]
            empty = {column: np.zeros(0, np.float32) for column in columns}
            return FilterResult(rows, empty, np.zeros(0, bool), [])
        scores = self.score([table.anchor[r] for r in rows], [table.text[r] for r in rows])
        prob = scores[PROB]
        is_paraphrase = table.is_label("paraphrase", rows)
        s = self.settings
        reject = np.where(is_paraphrase, prob < s.paraphrase_min, prob > s.non_paraphrase_max)
        reasons = [
            f"paraphrase not confirmed by the cross-encoder: probability {prob[i]:.4f} "
            f"< {s.paraphrase_min:g}"
            if is_paraphrase[i]
            else f"non-paraphrase judged a paraphrase by the cross-encoder: probability "
            f"{prob[i]:.4f} > {s.non_paraphrase_max:g}"
            for i in np.flatnonzero(reject)
        ]
        return FilterResult(rows, scores, reject, reasons)
