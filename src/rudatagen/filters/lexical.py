"""Lexical closeness of a candidate to its query: surface similarity and lemma overlap.

A paraphrase that is a near-copy of its query teaches an encoder nothing, so it goes when either
score is above its ceiling. A hard non-paraphrase must stay lexically close to the query (the
point is that it differs in meaning, not in words), so it goes when either score is below its
floor. The similarity is a rapidfuzz scorer on ``loose_text`` forms (0–100); the lemma overlap is
the Jaccard index of the pymorphy3 lemma sets (0–1). Each distinct query is processed once.
"""

from __future__ import annotations

import numpy as np
from rapidfuzz import fuzz, process

from rudatagen.filters.base import Filter, FilterResult
from rudatagen.filters.russian import jaccard, lemma_set, loose_text
from rudatagen.filters.settings import LexicalSettings
from rudatagen.kinds.candidates import CandidateTable


class LexicalFilter(Filter[LexicalSettings]):
    """Rejects near-copy paraphrases and non-paraphrases too far from the query's wording."""

    name = "lexical"
    kinds = ("ruhnp",)
    row_local = True

    def apply(self, table: CandidateTable, rows: np.ndarray) -> FilterResult:
        settings = self.settings
        queries: dict[str, tuple[str, frozenset[str]]] = {}
        query_loose: list[str] = []
        text_loose: list[str] = []
        overlap = np.empty(len(rows), dtype=np.float32)
        for index, row in enumerate(rows.tolist()):
            query = table.anchor[row]
            seen = queries.get(query)
            if seen is None:
                seen = queries[query] = (loose_text(query), lemma_set(query))
            text = table.text[row]
            query_loose.append(seen[0])
            text_loose.append(loose_text(text))
            overlap[index] = jaccard(seen[1], lemma_set(text))

        if len(rows):
            similarity = process.cpdist(
                query_loose, text_loose, scorer=getattr(fuzz, settings.scorer), dtype=np.float32
            )
        else:
            similarity = np.empty(0, dtype=np.float32)

        paraphrase = table.is_label("paraphrase", rows)
        copy_similarity = paraphrase & (similarity > settings.paraphrase_max_similarity)
        copy_overlap = paraphrase & (overlap > settings.paraphrase_max_lemma_overlap)
        far_similarity = ~paraphrase & (similarity < settings.non_paraphrase_min_similarity)
        far_overlap = ~paraphrase & (overlap < settings.non_paraphrase_min_lemma_overlap)
        reject = copy_similarity | copy_overlap | far_similarity | far_overlap

        reasons = []
        for index in np.flatnonzero(reject).tolist():
            sim, lem = float(similarity[index]), float(overlap[index])
            if copy_similarity[index]:
                rule = f"similarity {sim:.1f} > {settings.paraphrase_max_similarity:g}"
            elif copy_overlap[index]:
                rule = f"lemma overlap {lem:.2f} > {settings.paraphrase_max_lemma_overlap:g}"
            elif far_similarity[index]:
                rule = f"similarity {sim:.1f} < {settings.non_paraphrase_min_similarity:g}"
            else:
                rule = f"lemma overlap {lem:.2f} < {settings.non_paraphrase_min_lemma_overlap:g}"
            if paraphrase[index]:
                reasons.append(f"paraphrase is a near-copy of the query: {rule}")
            else:
                reasons.append(f"non-paraphrase is not lexically close to the query: {rule}")
        return FilterResult(
            rows=rows,
            scores={"lexical_similarity": similarity, "lexical_lemma_overlap": overlap},
            reject=reject,
            reasons=reasons,
        )
