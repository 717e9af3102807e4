"""The shift statistics: scale-free separation measures with paired, label-stratified bootstrap
intervals, and the verdict that rests on them.

A training loss may move every cosine (CoSENT pushes them all up), so a verdict on the raw gap of
means says more about the loss than about separation. The verdict here rests on ROC-AUC, which
no monotone rescaling of a model's cosines changes: it is the chance that a random positive pair
scores above a random negative one. Cohen's d (gap of means over the pooled standard deviation)
and the Kolmogorov–Smirnov statistic are reported beside it with their intervals; the plain
"negatives moved by X" (means and medians) is kept, labelled as scale-dependent.

Intervals: the same pairs are scored by both models, so one bootstrap resample of pair indices
gives the before and the after value of every measure, and their difference, on the same pairs
(a paired bootstrap). Positives and negatives are resampled separately (stratified by label), so
every resample has both classes in their original numbers. Percentile intervals from
``scipy.stats.bootstrap``, drawn by the machinery ``evaluate`` uses
(:mod:`rudatagen.evaluation.intervals`, settings ``evaluate.bootstrap``); not BCa, whose jackknife
costs O(n²) (10¹⁰ operations at 100k pairs).

Speed: scipy draws positions in the before model's sorted order, and a resample arrives as
multiplicities over them (one gather puts them in the after model's order); every measure is
computed from those weights over orders sorted once (ROC-AUC from the weighted Mann–Whitney
count, KS from weighted ECDFs, medians from weighted running counts): O(n) per resample, no sort
inside the bootstrap, where sklearn/scipy would re-sort every resample.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rudatagen.evaluation.intervals import method_facts, percentile_intervals
from rudatagen.evaluation.settings import BootstrapSettings

#: The measure the verdict rests on; see the module docstring for why.
PRIMARY = "roc_auc"
#: Scale-free measures: ROC-AUC and KS keep under any order-keeping rescaling of a model's
#: cosines, Cohen's d under shifting and stretching.
SCALE_FREE = ("roc_auc", "cohens_d", "ks")
#: Where the cosines sit: these change when a loss moves the whole scale.
SCALE_DEPENDENT = ("negative_mean", "negative_median", "positive_mean", "positive_median", "gap")


def rule(confidence: float) -> str:
    return (
        f"negatives moved away from positives when the {confidence:.0%} paired bootstrap interval "
        "of the change in ROC-AUC (after − before, the same pairs) lies wholly above 0; moved "
        "closer when it lies wholly below 0; inconclusive when it covers 0"
    )


def describe(settings: BootstrapSettings) -> dict[str, Any]:
    """How the intervals were drawn (``shift.json``'s ``bootstrap``)."""
    return {
        **method_facts(settings),
        "paired": True,
        "resampled": "pairs within each class, the same pairs under both models",
    }


def verdict(low: float, high: float) -> str:
    """The verdict from the interval of the change in the primary measure."""
    if low > 0:
        return "moved away"
    if high < 0:
        return "moved closer"
    return "inconclusive"


class _ModelScores:
    """One model's cosines of the positive and negative pairs (numbered positives first), sorted
    once: a resample arrives as multiplicities in this sorted order (one row a resample), and
    every measure is one pass over it."""

    def __init__(self, positive: np.ndarray, negative: np.ndarray) -> None:
        positive = np.asarray(positive, dtype=np.float64)
        negative = np.asarray(negative, dtype=np.float64)
        self.n_pos, self.n_neg = positive.size, negative.size
        values = np.concatenate([positive, negative])
        self.order = np.argsort(values, kind="stable")
        # the sorted position of each pair (int32: the bootstrap draws positions from it)
        self.position = np.empty(values.size, dtype=np.int32)
        self.position[self.order] = np.arange(values.size, dtype=np.int32)
        ordered = values[self.order]
        is_positive = self.order < self.n_pos
        # centred on the overall mean, so variances do not lose digits to cancellation
        self.centre = float(values.mean())
        self.pos_centred = np.where(is_positive, ordered - self.centre, 0.0)
        self.neg_centred = np.where(is_positive, 0.0, ordered - self.centre)
        self.is_positive = is_positive.astype(_counting_type(values.size))
        # tied cosines form one group: they count half in ROC-AUC and jump together in an ECDF
        starts = np.flatnonzero(np.append(True, np.diff(ordered) != 0))
        self.group_starts = starts if starts.size < values.size else None
        self.group_values = ordered[starts]

    def measures(self, counts: np.ndarray) -> dict[str, np.ndarray]:
        """Every measure for a batch of resamples given as multiplicities in the sorted order."""
        n_pos, n_neg = self.n_pos, self.n_neg
        pos_mean = counts @ self.pos_centred / n_pos
        neg_mean = counts @ self.neg_centred / n_neg
        pos_var = (counts @ self.pos_centred**2 / n_pos - pos_mean**2) * n_pos / (n_pos - 1)
        neg_var = (counts @ self.neg_centred**2 / n_neg - neg_mean**2) * n_neg / (n_neg - 1)
        pooled = np.sqrt(
            np.maximum((n_pos - 1) * pos_var + (n_neg - 1) * neg_var, 0) / (n_pos + n_neg - 2)
        )
        gap = pos_mean - neg_mean
        # identical cosines everywhere: no spread, no standardized gap
        d = np.divide(gap, pooled, out=np.zeros_like(gap), where=pooled > 0)

        # counts and their running sums are whole numbers, exact in float32 below 2**24: half
        # the memory traffic of float64 in these passes (products are summed in float64)
        neg = counts.astype(self.is_positive.dtype)
        pos = np.multiply(neg, self.is_positive)
        neg -= pos
        if self.group_starts is not None:
            pos = np.add.reduceat(pos, self.group_starts, axis=1)
            neg = np.add.reduceat(neg, self.group_starts, axis=1)
        pos_cum, neg_cum = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
        # Mann–Whitney: each positive beats the negatives below its group, ties count half
        wins = np.einsum("ij,ij->i", pos, neg_cum, dtype=np.float64)
        wins -= 0.5 * np.einsum("ij,ij->i", pos, neg, dtype=np.float64)
        negative_median = _median(neg_cum, self.group_values)
        positive_median = _median(pos_cum, self.group_values)
        # KS: the largest gap between the two ECDFs, read after each group; found in float32,
        # then its value taken exactly from the whole-number running sums
        ecdf_gap = pos_cum / n_pos
        ecdf_gap -= neg_cum / n_neg
        rows, at = np.arange(counts.shape[0]), np.abs(ecdf_gap, out=ecdf_gap).argmax(axis=1)
        ks = np.abs(
            pos_cum[rows, at].astype(np.float64) / n_pos
            - neg_cum[rows, at].astype(np.float64) / n_neg
        )
        return {
            "roc_auc": wins / (n_pos * n_neg),
            "cohens_d": d,
            "ks": ks,
            "negative_mean": neg_mean + self.centre,
            "negative_median": negative_median,
            "positive_mean": pos_mean + self.centre,
            "positive_median": positive_median,
            "gap": gap,
        }


def _counting_type(pairs: int) -> type[np.floating]:
    """float32 holds every whole number up to 2**24 exactly; beyond, float64."""
    return np.float32 if pairs < 2**24 else np.float64


def _median(cumulative: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Median of each row's weighted values: the mean of the ⌊(n+1)/2⌋-th and ⌈(n+1)/2⌉-th."""
    n = cumulative[0, -1]
    ranks = ((n + 1) // 2, n // 2 + 1)
    result = np.empty(cumulative.shape[0])
    for row, cum in enumerate(cumulative):
        # the k-th smallest value is in the first group whose cumulative count reaches k
        low, high = (np.searchsorted(cum, rank, side="left") for rank in ranks)
        result[row] = (values[low] + values[high]) / 2
    return result


class _PairedStatistic:
    """Every measure under both models and the changes, as rows (one column a resample). The
    resamples arrive as multiplicities in the before model's sorted order and are carried over
    to the after model's: the same resampled pairs for both, which makes the changes paired."""

    def __init__(self, before: _ModelScores, after: _ModelScores) -> None:
        self.before, self.after = before, after
        self.to_after = before.position[after.order]
        # what the bootstrap draws from: the positives' and the negatives' sorted positions
        self.samples = (before.position[: before.n_pos], before.position[before.n_pos :])

    def __call__(self, counts: np.ndarray) -> np.ndarray:
        before = self.before.measures(counts)
        after = self.after.measures(np.take(counts, self.to_after, axis=1))
        rows = []
        for name in (*SCALE_FREE, *SCALE_DEPENDENT):
            rows += [before[name], after[name], after[name] - before[name]]
        return np.stack(rows)


def _interval(value: float, low: float, high: float) -> dict[str, float]:
    return {"value": float(value), "low": float(low), "high": float(high)}


def separation(positive: np.ndarray, negative: np.ndarray) -> dict[str, float]:
    """Point values of every measure for one model (no resampling)."""
    scores = _ModelScores(positive, negative)
    if scores.n_pos < 2 or scores.n_neg < 2:
        raise ValueError("separation needs at least 2 positive and 2 negative pairs")
    ones = np.ones((1, scores.n_pos + scores.n_neg))
    return {name: float(v[0]) for name, v in scores.measures(ones).items()}


def shift_statistics(
    before: np.ndarray,
    after: np.ndarray,
    labels: np.ndarray,
    settings: BootstrapSettings | None = None,
) -> dict[str, Any]:
    """Every measure before and after, the change, each with its paired bootstrap interval, and
    the verdict on the change in ROC-AUC.

    ``before[i]`` and ``after[i]`` are the cosines of pair ``i`` under the two models, ``labels[i]``
    is 1 (positive) or 0 (negative); each class needs at least 2 pairs, and the verdict at least
    one resample.
    """
    settings = settings or BootstrapSettings()
    before = np.asarray(before, dtype=np.float64)
    after = np.asarray(after, dtype=np.float64)
    labels = np.asarray(labels)
    if not (before.shape == after.shape == labels.shape and before.ndim == 1):
        raise ValueError("before, after and labels must be 1-d arrays of the same length")
    positive, negative = labels == 1, labels == 0
    sizes = (int(positive.sum()), int(negative.sum()))
    if min(sizes) < 2:
        raise ValueError("the shift needs at least 2 positive and 2 negative pairs")
    if settings.n_resamples < 1:
        raise ValueError("the shift verdict needs intervals: n_resamples must be at least 1")
    statistic = _PairedStatistic(
        _ModelScores(before[positive], before[negative]),
        _ModelScores(after[positive], after[negative]),
    )
    point = statistic(np.ones((1, sum(sizes))))[:, 0]
    low, high = percentile_intervals(statistic, statistic.samples, settings)
    measures: dict[str, dict[str, dict[str, float]]] = {}
    row = 0
    for name in (*SCALE_FREE, *SCALE_DEPENDENT):
        measures[name] = {}
        for part in ("before", "after", "change"):
            measures[name][part] = _interval(point[row], low[row], high[row])
            row += 1
    change = measures[PRIMARY]["change"]
    return {
        "positives": sizes[0],
        "negatives": sizes[1],
        "bootstrap": describe(settings),
        "primary": PRIMARY,
        "verdict": verdict(change["low"], change["high"]),
        "rule": rule(settings.confidence_level),
        "scale_free": {name: measures[name] for name in SCALE_FREE},
        "scale_dependent": {name: measures[name] for name in SCALE_DEPENDENT},
    }
