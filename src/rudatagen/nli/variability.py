"""Estimated max variability of generated pairs, and the per-label quota (WANLI, §2.3).

Each generated pair is scored by every saved cartography checkpoint; for each class the
population std of its probability across checkpoints is taken, and the pair's score is the
maximum over classes. The top ``keep_fraction`` is kept with an equal quota per intended label.
"""

from __future__ import annotations

import math

import numpy as np


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
