"""Estimated max variability of generated NLI pairs, and the per-label quota (WANLI, §2.3).

Each live pair (anchor = premise, text = hypothesis) is scored by every saved cartography
checkpoint; for each class the population std of its probability across checkpoints is taken,
and the pair's score (``max_variability``) is the maximum over classes. The top
``keep_fraction`` is kept with an equal quota per intended label; the rest is rejected as
``below_label_quota``. The checkpoints, the device and their ``max_length`` come from the run
(``FilterContext``), not from the recipe.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from rudatagen.core.progress import Progress
from rudatagen.encoders import load_cross_encoder
from rudatagen.errors import RudatagenError
from rudatagen.filters.base import Filter, FilterResult
from rudatagen.filters.settings import VariabilitySettings
from rudatagen.kinds.candidates import CandidateTable
from rudatagen.kinds.wanli import VARIABILITY

BELOW_QUOTA = "below_label_quota"


def max_variability(probs: np.ndarray) -> np.ndarray:
    """``probs`` is (checkpoints, pairs, classes) → (pairs,): max over classes of the std."""
    if probs.ndim != 3:
        raise ValueError(f"expected (checkpoints, pairs, classes), got shape {probs.shape}")
    return probs.std(axis=0, ddof=0).max(axis=1)


def quota_select(scores: np.ndarray, labels: list[str], keep_fraction: float) -> np.ndarray:
    """Keep mask: per label, the ``max(1, round_half_up(keep_fraction * n / L))`` top scores.

    ``n`` is the number of pairs, ``L`` the number of distinct intended labels among them. A
    label with fewer pairs than its quota keeps all of them; the rest is not redistributed, so
    the kept set stays balanced. Ties are broken by position (stable sort).
    """
    keep = np.zeros(len(scores), dtype=bool)
    distinct = sorted(set(labels))
    if not distinct:
        return keep
    quota = max(1, math.floor(keep_fraction * len(scores) / len(distinct) + 0.5))
    label_array = np.asarray(labels)
    for label in distinct:
        members = np.flatnonzero(label_array == label)
        order = members[np.argsort(-scores[members], kind="stable")]
        keep[order[:quota]] = True
    return keep


def score_with_checkpoints(
    checkpoints: list[Path],
    pairs: list[tuple[str, str]],
    *,
    device: str | None,
    max_length: int | None,
    batch_size: int,
    show_progress: bool = True,
) -> np.ndarray:
    """Class probabilities of every pair under every checkpoint: (checkpoints, pairs, classes)."""
    progress = Progress(len(checkpoints), "scoring with checkpoints", enabled=show_progress)
    scores = []
    try:
        for path in checkpoints:
            model = load_cross_encoder(str(path), device, max_length)
            probs = model.predict(
                [list(p) for p in pairs],
                batch_size=batch_size,
                apply_softmax=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            scores.append(np.asarray(probs, dtype=np.float64).reshape(len(pairs), -1))
            progress.advance(1)
    finally:
        progress.close()
    return np.stack(scores)


class VariabilityFilter(Filter[VariabilitySettings]):
    """Scores ``max_variability`` and keeps the top ``keep_fraction``, equal per label."""

    name = "max_variability"
    kinds = ("wanli",)

    def apply(self, table: CandidateTable, rows: np.ndarray) -> FilterResult:
        if len(rows) == 0:
            empty = np.zeros(0, dtype=np.float32)
            return FilterResult(rows, {VARIABILITY: empty}, np.zeros(0, bool), [])
        context = self.context
        if not context.checkpoints:
            raise RudatagenError(
                "the max_variability filter needs the cartography checkpoints "
                "(`generate wanli --cartography DIR`)"
            )
        probs = score_with_checkpoints(
            list(context.checkpoints),
            [(table.anchor[r], table.text[r]) for r in rows.tolist()],
            device=context.device,
            max_length=self.settings.max_length or context.max_length,
            batch_size=self.settings.batch_size,
            show_progress=context.progress,
        )
        scores = max_variability(probs)
        labels = [table.label_of(r) for r in rows.tolist()]
        reject = ~quota_select(scores, labels, self.settings.keep_fraction)
        reasons = [BELOW_QUOTA] * int(reject.sum())
        return FilterResult(rows, {VARIABILITY: scores.astype(np.float32)}, reject, reasons)
