"""Easiness of a retrieval query: how far its passage outscores the hardest corpus passage.

``mine`` writes two columns on each retrieval row: ``positive_score`` (the mining model's
similarity of the query and its passage) and ``hardest_score`` (the highest similarity of the
query to any other corpus passage, before the rank-range and margin rules). When the passage
wins by more than ``max_margin``, the query is answered by its words alone and no negative is
close: a contrastive loss learns nothing from it. A row that was not mined has no margin: it is
kept unjudged, counted in the funnel (``kept unjudged``) and left NaN in ``easiness_margin``.
"""

from __future__ import annotations

import numpy as np

from rudatagen.filters.base import Filter, FilterResult
from rudatagen.filters.settings import EasinessSettings
from rudatagen.kinds.candidates import CandidateTable

POSITIVE = "positive_score"
HARDEST = "hardest_score"
MARGIN = "easiness_margin"
NOT_MINED = f"not mined (no {POSITIVE}/{HARDEST}: run `rudatagen mine` first)"


class EasinessFilter(Filter[EasinessSettings]):
    """Rejects queries whose passage beats every corpus passage by more than ``max_margin``."""

    name = "easiness"
    kinds = ("retrieval",)
    row_local = True
    record_scores = (POSITIVE, HARDEST)

    def apply(self, table: CandidateTable, rows: np.ndarray) -> FilterResult:
        nan = np.full(len(table), np.nan, dtype=np.float32)
        positive = table.scores.get(POSITIVE, nan)[rows]
        hardest = table.scores.get(HARDEST, nan)[rows]
        margin = (positive - hardest).astype(np.float32)
        judged = np.isfinite(margin)
        limit = self.settings.max_margin
        reject = judged & (margin > limit)
        reasons = [
            f"too easy: the passage outscores the hardest corpus passage by {margin[i]:.3f} "
            f"> {limit:g} ({positive[i]:.3f} vs {hardest[i]:.3f})"
            for i in np.flatnonzero(reject)
        ]
        unjudged = int((~judged).sum())
        return FilterResult(
            rows=rows,
            scores={MARGIN: margin},
            reject=reject,
            reasons=reasons,
            skipped={NOT_MINED: unjudged} if unjudged else {},
        )
