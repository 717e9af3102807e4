"""Bi-encoder filter: cos(query, candidate) under a sentence-transformers model, bounds per label.

A paraphrase must be close to its query (``paraphrase_min``) but not a copy (``paraphrase_max``);
a hard non-paraphrase must stay close (``non_paraphrase_min``) without being a paraphrase
(``non_paraphrase_max``). Each distinct text is encoded once per run: a query shared by ten
candidates costs one encoding, and so does a candidate repeated across records.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, TypeVar

import numpy as np

from rudatagen.encoders import load_sentence_transformer
from rudatagen.filters.base import FilterResult, ModelFilter
from rudatagen.filters.settings import BiEncoderSettings
from rudatagen.kinds.candidates import CandidateTable

SCORE = "biencoder_cosine"
_DOT_CHUNK = 65536  # rows per row-wise dot product, to bound the gathered embeddings' memory
T = TypeVar("T", bound=Hashable)


def distinct_index(items: Sequence[T]) -> tuple[list[T], np.ndarray]:
    """The distinct items (first-seen order) and, for each input, its position among them."""
    positions: dict[T, int] = {}
    index = np.fromiter(
        (positions.setdefault(item, len(positions)) for item in items),
        dtype=np.int64,
        count=len(items),
    )
    return list(positions), index


class BiEncoderFilter(ModelFilter[BiEncoderSettings]):
    """Scores ``biencoder_cosine`` and rejects candidates outside their label's bounds.

    The model loads on the first ``apply`` with rows (or pass a loaded ``SentenceTransformer`` as
    ``model``). ``encoded_texts`` counts the texts sent to the model over this filter's lifetime.
    """

    name = "biencoder"
    kinds = ("ruhnp",)
    row_local = True
    encoded_texts: int = 0  # `+=` on an instance counts for that instance only

    def load_model(self) -> Any:
        """The ``SentenceTransformer`` the settings name."""
        s = self.settings
        return load_sentence_transformer(s.model, s.device, s.max_seq_length)

    def encode(self, texts: list[str]) -> np.ndarray:
        """L2-normalised embeddings of ``texts`` (float32, one row each), longest texts first.

        Sorting by length puts texts of similar length in one batch (less padding); the rows
        come back in the order of ``texts``.
        """
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        embeddings = self.model.encode(
            [texts[i] for i in order],
            batch_size=self.settings.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        self.encoded_texts += len(texts)
        result = np.empty_like(embeddings, dtype=np.float32)
        result[np.asarray(order)] = embeddings
        return result

    def cosines(self, queries: list[str], candidates: list[str]) -> np.ndarray:
        """cos(query_prefix + query, candidate_prefix + candidate) for aligned lists."""
        s = self.settings
        texts, index = distinct_index(
            [s.query_prefix + q for q in queries] + [s.candidate_prefix + c for c in candidates]
        )
        embeddings = self.encode(texts)
        n = len(queries)
        query_index, candidate_index = index[:n], index[n:]
        result = np.empty(n, dtype=np.float32)
        for start in range(0, n, _DOT_CHUNK):
            stop = start + _DOT_CHUNK
            result[start:stop] = np.einsum(
                "ij,ij->i",
                embeddings[query_index[start:stop]],
                embeddings[candidate_index[start:stop]],
            )
        return result

    def apply(self, table: CandidateTable, rows: np.ndarray) -> FilterResult:
        """Score the live candidates at ``rows``; reject those outside their label's bounds."""
        if len(rows) == 0:
            return FilterResult(rows, {SCORE: np.zeros(0, np.float32)}, np.zeros(0, bool), [])
        cosine = self.cosines([table.anchor[r] for r in rows], [table.text[r] for r in rows])
        is_paraphrase = table.is_label("paraphrase", rows)
        s = self.settings
        low = np.where(is_paraphrase, s.paraphrase_min, s.non_paraphrase_min)
        high = np.where(is_paraphrase, s.paraphrase_max, s.non_paraphrase_max)
        reject = (cosine < low) | (cosine > high)
        reasons = [
            _reason(bool(is_paraphrase[i]), float(cosine[i]), float(low[i]), float(high[i]))
            for i in np.flatnonzero(reject)
        ]
        return FilterResult(rows, {SCORE: cosine}, reject, reasons)


def _reason(paraphrase: bool, cosine: float, low: float, high: float) -> str:
    """E.g. ``"paraphrase too far from the query: cosine 0.612 < 0.75"``."""
    label = "paraphrase" if paraphrase else "non-paraphrase"
    if cosine < low:
        return f"{label} too far from the query: cosine {cosine:.4f} < {low:g}"
    return f"{label} too close to the query: cosine {cosine:.4f} > {high:g}"
