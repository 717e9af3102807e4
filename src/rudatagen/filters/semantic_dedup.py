"""Semantic dedup: rows whose anchors mean the same, across the whole dataset, keep one.

The compared text is each record's anchor — RuHNP and retrieval: the query; WANLI: the premise —
as its first live candidate carries it (with ``prefix`` before it). Two records whose anchors
reach ``threshold`` cosine under the bi-encoder are near-duplicates: rewordings, case and
punctuation changes, a word changed. The exact and shingle dedup (``dedup``) catch copies of
candidates; this catches rows that teach the same thing twice, and in-batch false negatives
(two rows of one batch with near-identical anchors) with them.

Which rows stay is decided greedily in the order of record ids, so the verdict does not depend
on the order of the input (or of shards): the record with the smallest id stays, and every later
record whose anchor reaches the threshold with a record that stayed goes, with a reason naming
that record and the cosine. So no two kept rows are near-duplicates, and a chain (A ≈ B ≈ C, A
not ≈ C) keeps A and C; records sharing an identical anchor count as cosine 1.

Neighbours come from sentence-transformers' ``util.paraphrase_mining_embeddings``: the
``neighbours`` nearest anchors of each anchor, by chunked matrix products on the encoder's device,
in memory bounded by the chunk sizes. Its ``community_detection`` is not used: a community is the
anchors near one leader, not near each other, and the larger communities are taken first, so the
record that stays would be neither the first by id nor, always, near the ones that go. Each
distinct anchor is encoded once.

Score ``semantic_dedup_cosine``: a candidate's record's highest anchor cosine with another
record's, among the mined neighbours (1 for an identical anchor).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rudatagen.encoders import load_sentence_transformer
from rudatagen.filters.base import FilterResult, ModelFilter
from rudatagen.filters.biencoder import distinct_index
from rudatagen.filters.settings import SemanticDedupSettings
from rudatagen.kinds.candidates import CandidateTable

SCORE = "semantic_dedup_cosine"
RULE = "near-duplicate of a kept row's anchor"
_QUERY_CHUNK = 1024  # anchors scored at once against ...
_CORPUS_CHUNK = 32768  # ... this many: a 128 MB float32 block of cosines


class SemanticDedupFilter(ModelFilter[SemanticDedupSettings]):
    """Rejects every candidate of a record whose anchor nearly repeats a kept record's.

    The model loads on the first ``apply`` with two or more distinct anchors (or pass a loaded
    ``SentenceTransformer`` as ``model``).
    """

    name = "semantic_dedup"

    def load_model(self) -> Any:
        """The ``SentenceTransformer`` the settings name."""
        s = self.settings
        return load_sentence_transformer(s.model, s.device, s.max_seq_length)

    def apply(self, table: CandidateTable, rows: np.ndarray) -> FilterResult:
        """Score the live candidates at ``rows``; reject those of near-duplicate records."""
        first_row: dict[str, int] = {}
        for row in rows.tolist():
            first_row.setdefault(table.record_id[row], row)
        records = sorted(first_row)  # the greedy order: by record id
        anchors, text_of = distinct_index(
            [self.settings.prefix + table.anchor[first_row[rid]] for rid in records]
        )
        owner = np.full(len(anchors), -1)  # per distinct anchor, its first record (by id)
        for position, text in enumerate(text_of.tolist()):
            if owner[text] < 0:
                owner[text] = position
        neighbours = self._neighbours(anchors)
        kept_by = _greedy(neighbours, self.settings.threshold)

        verdict: dict[str, str] = {}
        best: dict[str, float] = {}
        for position, record_id in enumerate(records):
            text = int(text_of[position])
            best[record_id] = max((score for _, score in neighbours[text]), default=0.0)
            if owner[text] != position:  # an identical anchor of an earlier record
                best[record_id] = 1.0
                verdict[record_id] = self._reason(records[owner[text]], 1.0)
            elif text in kept_by:
                keeper, score = kept_by[text]
                verdict[record_id] = self._reason(records[owner[keeper]], score)
        ids = [table.record_id[row] for row in rows.tolist()]
        reject = np.fromiter((rid in verdict for rid in ids), bool, len(ids))
        reasons = [verdict[rid] for rid, out in zip(ids, reject.tolist(), strict=True) if out]
        scores = np.fromiter((best[rid] for rid in ids), np.float32, len(ids))
        return FilterResult(rows, {SCORE: scores}, reject, reasons)

    def _neighbours(self, anchors: list[str]) -> list[list[tuple[int, float]]]:
        """Per distinct anchor, its mined neighbours ``(anchor, cosine)``, both directions."""
        neighbours: list[list[tuple[int, float]]] = [[] for _ in anchors]
        if len(anchors) < 2:
            return neighbours
        from sentence_transformers.util import paraphrase_mining_embeddings

        s = self.settings
        embeddings = self.model.encode(
            anchors,
            batch_size=s.batch_size,
            normalize_embeddings=True,
            convert_to_tensor=True,
            show_progress_bar=self.context.progress,
        )
        top_k = min(s.neighbours, len(anchors) - 1)
        pairs = paraphrase_mining_embeddings(
            embeddings,
            query_chunk_size=_QUERY_CHUNK,
            corpus_chunk_size=_CORPUS_CHUNK,
            max_pairs=len(anchors) * top_k,  # every mined pair: none is evicted
            top_k=top_k,
        )
        for score, first, second in pairs:
            neighbours[first].append((second, float(score)))
            neighbours[second].append((first, float(score)))
        return neighbours

    def _reason(self, keeper: str, cosine: float) -> str:
        """E.g. ``"near-duplicate of a kept row's anchor (record r-7, cosine 0.973 ≥ 0.95)"``."""
        return f"{RULE} (record {keeper}, cosine {cosine:.3f} ≥ {self.settings.threshold:g})"


def _greedy(
    neighbours: list[list[tuple[int, float]]], threshold: float
) -> dict[int, tuple[int, float]]:
    """The anchors that go, each with the kept anchor it repeats and their cosine.

    Anchors are visited in index order (the order of their first record id); a kept anchor
    removes its later neighbours at or above ``threshold`` that are still in, taking the closest
    kept anchor's name when several could.
    """
    removed: dict[int, tuple[int, float]] = {}
    for anchor, near in enumerate(neighbours):
        if anchor in removed:
            continue
        for other, score in near:
            if other > anchor and score >= threshold:
                previous = removed.get(other)
                if previous is None or score > previous[1]:
                    removed[other] = (anchor, score)
    return removed
