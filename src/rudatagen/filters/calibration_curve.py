"""The precision/recall curve of scored pairs and the threshold rule calibration uses.

One entry per distinct score (highest first): keeping pairs with score >= that score keeps
``kept`` pairs, ``true_positives`` of them positive. ``choose_index`` picks the lowest threshold
(the highest recall) whose precision reaches a target, judged by the lower end of the precision's
confidence interval (``lower_bound``) or by the point estimate (``point``).

With ``groups`` (an id per pair: pairs that share a text), the lower bound knows that a group's
pairs move together: at every threshold the curve carries the design effect of the kept pairs'
precision (``core.intervals.ratio_design_effect``), computed for all thresholds in one pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from rudatagen.core.intervals import IntervalMethod, lower_bounds

Rule = Literal["lower_bound", "point"]


@dataclass(frozen=True)
class CurvePoint:
    """Keeping pairs with score >= ``threshold`` keeps ``kept`` pairs, with this precision and
    recall."""

    threshold: float
    precision: float
    recall: float
    kept: int = 0


@dataclass(frozen=True)
class CurveCounts:
    """The curve as counts (see the module docstring); ``design_effects`` is None without
    groups (independent pairs)."""

    thresholds: np.ndarray
    true_positives: np.ndarray
    kept: np.ndarray
    positives: int
    design_effects: np.ndarray | None = None

    def point(self, i: int) -> CurvePoint:
        tp, kept = int(self.true_positives[i]), int(self.kept[i])
        return CurvePoint(float(self.thresholds[i]), tp / kept, tp / max(self.positives, 1), kept)

    def precision_lower_bounds(self, confidence: float, method: IntervalMethod) -> np.ndarray:
        return lower_bounds(self.true_positives, self.kept, confidence, method, self.design_effects)


def _running_design_effects(truth: np.ndarray, groups: np.ndarray, last: np.ndarray) -> np.ndarray:
    """The design effect of precision among the first ``last[i] + 1`` pairs (score order), for
    every i: the sums behind ``ratio_design_effect`` updated pair by pair, as cumulative sums.

    Adding a pair with label l to a group that held Y positives of M pairs changes
    Σy² by 2Yl + l, Σm² by 2M + 1 and Σym by Y + lM + l, and adds a group when M is 0.
    """
    n = len(truth)
    by_group = np.argsort(groups, kind="stable")  # score order kept inside each group
    sorted_groups, sorted_truth = groups[by_group], truth[by_group]
    position = np.arange(n)
    starts = np.r_[True, sorted_groups[1:] != sorted_groups[:-1]] if n else np.zeros(0, bool)
    start = np.maximum.accumulate(np.where(starts, position, 0)) if n else position
    running = np.cumsum(sorted_truth)
    before_m, before_y = np.empty(n), np.empty(n)
    before_m[by_group] = position - start
    before_y[by_group] = (running - sorted_truth) - (running[start] - sorted_truth[start])
    label = truth.astype(np.float64)
    s_yy = np.cumsum(2 * before_y * label + label)[last]
    s_mm = np.cumsum(2 * before_m + 1)[last]
    s_ym = np.cumsum(before_y + label * before_m + label)[last]
    clusters = np.cumsum(before_m == 0)[last].astype(np.float64)
    kept = (last + 1).astype(np.float64)
    p = np.cumsum(label)[last] / kept
    spread = s_yy - 2 * p * s_ym + p * p * s_mm
    with np.errstate(divide="ignore", invalid="ignore"):
        correction = (clusters / (clusters - 1)) / (kept / (kept - 1))
        deff = correction * spread / (kept * p * (1 - p))
    deff = np.where(clusters < 2, kept, deff)
    deff = np.where((p <= 0) | (p >= 1), 1.0, deff)
    return np.maximum(deff, 1.0)


def curve_counts(
    labels: np.ndarray, scores: np.ndarray, groups: np.ndarray | None = None
) -> CurveCounts:
    """True positives, kept pairs (and design effects, with ``groups``) at every distinct score
    used as the threshold."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    ordered, truth = np.asarray(scores)[order], np.asarray(labels)[order].astype(np.int64)
    last = np.r_[np.flatnonzero(np.diff(ordered)), len(ordered) - 1].astype(np.int64)
    if not len(ordered):
        last = last[:0]
    design_effects = None
    if groups is not None:
        design_effects = _running_design_effects(truth, np.asarray(groups)[order], last)
    return CurveCounts(
        ordered[last], np.cumsum(truth)[last], last + 1, int(truth.sum()), design_effects
    )


def pr_curve(labels: np.ndarray, scores: np.ndarray) -> list[CurvePoint]:
    """One point per distinct score, highest threshold first."""
    counts = curve_counts(labels, scores)
    return [counts.point(i) for i in range(len(counts.thresholds))]


def choose_index(
    counts: CurveCounts,
    target_precision: float,
    rule: Rule = "lower_bound",
    confidence: float = 0.95,
    method: IntervalMethod = "wilson",
) -> int | None:
    """The index of the lowest threshold whose precision reaches the target (by ``rule``), or
    None when none does. The lowest such threshold keeps the most pairs: the highest recall."""
    if not len(counts.kept):
        return None
    if rule == "point":
        judged = counts.true_positives / counts.kept
    else:
        judged = counts.precision_lower_bounds(confidence, method)
    reaching = np.flatnonzero(judged >= target_precision)
    return int(reaching[-1]) if len(reaching) else None


def short_threshold(threshold: float, below: float) -> float:
    """The shortest decimal that keeps the same pairs: in (``below``, ``threshold``] as float32
    too, since the filters compare float32 scores."""
    for digits in range(2, 10):
        scale = 10**digits
        candidate = math.floor(threshold * scale) / scale
        if below < candidate <= threshold and below < float(np.float32(candidate)) <= threshold:
            return candidate
    return threshold
