"""Bootstrap intervals of ``evaluate``'s metrics, and paired differences between two models.

The intervals are two-sided **percentile** intervals from ``scipy.stats.bootstrap`` (seeded;
``evaluate.bootstrap`` sets the resamples, the level and the seed). Not BCa: its jackknife
recomputes each metric n times, O(n²) here (10¹² operations at 1M pairs).

What is resampled: labelled pairs are drawn with replacement within each class (positives and
negatives separately, as ``shift`` does), so every resample has both classes in their original
numbers and AP, ROC-AUC and best F1 are always defined; gold-scored pairs (Spearman) are drawn
as they are. A paired comparison draws the same pairs for both models and takes the difference
of each metric in every resample, so what the two models have in common (easy and hard pairs)
cancels out of the interval.

Speed: the pairs are sorted once per model, and what scipy resamples is each pair's position in
that order; a resample becomes a vector of multiplicities over the sorted positions (a bincount),
and every metric is a few passes over it (:func:`rudatagen.evaluation.stats.ranking_summary`
for AP/ROC-AUC/F1, ranks of tied groups for Spearman): O(n) per resample, a batch of resamples
per call, no sort inside the bootstrap. sklearn's functions would re-sort every resample and take
one weight vector at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from rudatagen.evaluation.settings import BootstrapSettings
from rudatagen.evaluation.stats import ranking_summary

METHOD = "percentile"
# One vectorised call of a statistic handles about this many resampled pairs (at least one
# resample): its temporaries (4 MB each) stay in cache; 100k pairs ran ~1.5× faster than at 4M.
_BATCH_VALUES = 500_000


class _Ranked:
    """Pairs sorted once by a score, highest first, with their groups of tied scores. A
    resample arrives as multiplicities in this sorted order (one row a resample)."""

    def __init__(self, scores: np.ndarray) -> None:
        scores = np.asarray(scores, dtype=np.float64)
        self.order = np.argsort(-scores, kind="stable")
        # the position of each pair in the sorted order (int32: scipy gathers from it per draw)
        self.position = np.empty(scores.size, dtype=np.int32)
        self.position[self.order] = np.arange(scores.size, dtype=np.int32)
        ranked = scores[self.order]
        is_start = np.append(True, ranked[1:] != ranked[:-1])
        starts = np.flatnonzero(is_start)
        # None when no two scores tie: every position is a group of its own
        self.starts = None if is_start.all() else starts
        self.group_sizes = np.diff(starts, append=scores.size)

    def per_group(self, ordered: np.ndarray) -> np.ndarray:
        """Per-row sums of sorted values over each group of tied scores, highest first."""
        return ordered if self.starts is None else np.add.reduceat(ordered, self.starts, axis=1)

    def midranks(self, counts: np.ndarray) -> np.ndarray:
        """The rank of every sorted position within each resample, from the highest score (ties
        share their mean rank; a pair drawn k times is k tied copies)."""
        in_group = self.per_group(counts)
        ranks = np.cumsum(in_group, axis=1) - (in_group - 1) / 2
        return ranks if self.starts is None else np.repeat(ranks, self.group_sizes, axis=1)


class PairMetrics:
    """AP, ROC-AUC and best F1 of labelled pairs (``ranking_summary``) under multiplicities in
    the sorted order; the resampled samples are the positives' and the negatives' positions."""

    names = ("ap", "roc_auc", "f1")

    def __init__(self, scores: np.ndarray, labels: np.ndarray) -> None:
        positive = np.asarray(labels) == 1
        self.ranked = _Ranked(scores)
        self.samples = (self.ranked.position[positive], self.ranked.position[~positive])
        self.is_positive = positive[self.ranked.order].astype(np.float64)

    def __call__(self, counts: np.ndarray) -> np.ndarray:
        positives = counts * self.is_positive
        tp_step = self.ranked.per_group(positives)
        return ranking_summary(tp_step, self.ranked.per_group(counts) - tp_step)


class SpearmanMetric:
    """Spearman's ρ between predicted and gold scores under multiplicities in the predicted
    order: the Pearson correlation of the ranks within each resample, as ``spearmanr`` on it."""

    names = ("spearman",)

    def __init__(self, predicted: np.ndarray, gold: np.ndarray) -> None:
        self.ranked, self.gold = _Ranked(predicted), _Ranked(gold)
        self.samples = (self.ranked.position,)
        # indices that read rows in predicted order as gold order (to_gold), and back
        self.to_gold = self.ranked.position[self.gold.order]
        self.from_gold = self.gold.position[self.ranked.order]

    def __call__(self, counts: np.ndarray) -> np.ndarray:
        # ranks 1..n (ties averaged) have the mean (n + 1) / 2 in every resample
        centre = (counts.shape[1] + 1) / 2
        x = self.ranked.midranks(counts) - centre
        y = np.take(self.gold.midranks(np.take(counts, self.to_gold, axis=1)), self.from_gold, 1)
        y -= centre
        weighted_x = counts * x
        covariance = np.einsum("ij,ij->i", weighted_x, y)
        spread = np.einsum("ij,ij->i", weighted_x, x) * np.einsum("ij,ij->i", counts * y, y)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (covariance / np.sqrt(spread))[None, :]


Metric = PairMetrics | SpearmanMetric


def _counts(positions: tuple[np.ndarray, ...], size: int) -> np.ndarray:
    """Multiplicities of each sorted position in each resample (one row a resample), from the
    resampled positions of every sample."""
    counts = np.empty((positions[0].shape[0], size))
    for row in range(counts.shape[0]):
        # row by row: a bincount over one row stays in cache (faster than one flat bincount)
        drawn = np.concatenate([sample[row] for sample in positions])
        counts[row] = np.bincount(drawn, minlength=size)
    return counts


def percentile_intervals(
    statistic: Callable[[np.ndarray], np.ndarray],
    samples: tuple[np.ndarray, ...],
    settings: BootstrapSettings,
) -> tuple[np.ndarray, np.ndarray]:
    """Low and high ends, one per row of ``statistic``, over ``settings.n_resamples`` resamples
    drawn within each sample (positions in a sorted order, together covering all of it)."""
    from scipy.stats import bootstrap

    size = sum(sample.size for sample in samples)

    def on_positions(*drawn: np.ndarray, axis: int = -1) -> np.ndarray:
        rows = tuple(np.atleast_2d(np.moveaxis(sample, axis, -1)) for sample in drawn)
        return statistic(_counts(rows, size))

    result = bootstrap(
        samples,
        on_positions,
        n_resamples=settings.n_resamples,
        batch=max(1, min(settings.n_resamples, _BATCH_VALUES // size)),
        vectorized=True,
        paired=False,  # the samples are the classes, drawn separately
        confidence_level=settings.confidence_level,
        method=METHOD,
        rng=np.random.default_rng(settings.seed),
    )
    low, high = result.confidence_interval
    return np.atleast_1d(low), np.atleast_1d(high)


def _sizes(metric: Metric) -> tuple[int, ...]:
    return tuple(sample.size for sample in metric.samples)


def _enabled(metric: Metric, settings: BootstrapSettings) -> bool:
    return settings.n_resamples > 0 and min(_sizes(metric)) >= 2


def _bounds(low: float, high: float) -> dict[str, float] | None:
    return {"low": float(low), "high": float(high)} if np.isfinite([low, high]).all() else None


def method_facts(settings: BootstrapSettings) -> dict[str, Any]:
    """The method and settings every report's intervals were drawn with (``evaluate``'s and
    ``shift``'s ``bootstrap``, which add what they resampled)."""
    return {
        "method": METHOD,
        "n_resamples": settings.n_resamples,
        "confidence_level": settings.confidence_level,
        "seed": settings.seed,
    }


def describe(settings: BootstrapSettings) -> dict[str, Any]:
    """How the intervals of a report were drawn."""
    return {
        **method_facts(settings),
        "resampled": "labelled pairs within each class; gold-scored pairs as they are; "
        "retrieval: queries",
    }


def metric_intervals(metric: Metric, settings: BootstrapSettings) -> dict[str, Any]:
    """The interval of each of ``metric``'s values ({} when resampling is off or a sample has
    fewer than 2 pairs; None for a metric undefined in some resample)."""
    if not _enabled(metric, settings):
        return {}
    low, high = percentile_intervals(metric, metric.samples, settings)
    return {name: _bounds(lo, hi) for name, lo, hi in zip(metric.names, low, high, strict=True)}


def paired_differences(
    baseline: Metric, challenger: Metric, settings: BootstrapSettings
) -> dict[str, dict[str, Any]]:
    """``challenger − baseline`` of each metric on the same pairs (the same labels and gold),
    with its paired interval (``low``/``high`` None when resampling is off) and the number of
    pairs ``n``."""
    if _sizes(baseline) != _sizes(challenger) or baseline.names != challenger.names:
        raise ValueError("a paired comparison needs the same metric on the same pairs")
    # the resamples come in the baseline's sorted order; this puts them in the challenger's
    to_challenger = baseline.ranked.position[challenger.ranked.order]

    def difference(counts: np.ndarray) -> np.ndarray:
        return challenger(np.take(counts, to_challenger, axis=1)) - baseline(counts)

    n = sum(_sizes(baseline))
    point = difference(np.ones((1, n)))[:, 0]
    low = high = np.full(point.size, np.nan)
    if _enabled(baseline, settings):
        low, high = percentile_intervals(difference, baseline.samples, settings)
    result = {}
    for i, name in enumerate(baseline.names):
        bounds = _bounds(low[i], high[i]) or {"low": None, "high": None}
        result[name] = {"difference": float(point[i]), **bounds, "n": n}
    return result
