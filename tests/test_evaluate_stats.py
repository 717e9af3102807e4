"""The evaluation statistics against values computed by hand on fixed arrays, the O(N²) search
they replaced, and sklearn/scipy (intervals: scipy's bootstrap of sklearn's metrics)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from scipy.stats import bootstrap, spearmanr
from sklearn.metrics import average_precision_score, roc_auc_score

from rudatagen.evaluation.evaluate import statement
from rudatagen.evaluation.intervals import (
    PairMetrics,
    SpearmanMetric,
    metric_intervals,
    paired_differences,
)
from rudatagen.evaluation.settings import BootstrapSettings
from rudatagen.evaluation.stats import (
    best_accuracy,
    best_f1,
    pair_classification,
    spearman,
    threshold_sweep,
    triplet_accuracy,
)

# Ranked by score: pos, pos, neg, pos, neg, neg.
SCORES = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
LABELS = np.array([1, 1, 0, 1, 0, 0])


def test_best_accuracy() -> None:
    # thresholds 0.9 → 4/6, 0.8 → 5/6, 0.7 → 4/6, 0.6 → 5/6, 0.5 → 4/6, 0.4 → 3/6; the lowest
    # threshold reaching the best accuracy is reported
    assert best_accuracy(SCORES, LABELS) == (pytest.approx(5 / 6), 0.6)
    # all negatives beat every threshold at or below the maximum
    accuracy, threshold = best_accuracy(np.array([0.9, 0.5, 0.4]), np.array([0, 1, 0]))
    assert accuracy == pytest.approx(2 / 3)
    assert threshold == 0.5  # 0.5 gives [0, 1, 0] → 2/3 too, found first


def test_best_f1() -> None:
    # 0.8: P 1, R 2/3, F1 0.8; 0.6: P 3/4, R 1, F1 6/7 (the best); 0.5: P 3/5, R 1, F1 0.75
    result = best_f1(SCORES, LABELS)
    assert result == {
        "f1": pytest.approx(6 / 7),
        "precision": pytest.approx(0.75),
        "recall": pytest.approx(1.0),
        "threshold": 0.6,
    }


def test_pair_classification() -> None:
    result = pair_classification(SCORES, LABELS)
    # AP = 1/3·1 + 1/3·1 + 1/3·3/4 = 11/12; AUC: 8 of 9 (pos, neg) orderings are right
    assert result["ap"] == pytest.approx(11 / 12)
    assert result["roc_auc"] == pytest.approx(8 / 9)
    assert result["accuracy"] == pytest.approx(5 / 6)
    assert result["f1"] == pytest.approx(6 / 7)
    assert (result["pairs"], result["positives"], result["negatives"]) == (6, 3, 3)
    with pytest.raises(ValueError, match="both positive and negative"):
        pair_classification(SCORES, np.ones(6))


def brute_force_best_accuracy(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """The O(N²) search ``best_accuracy`` replaced (unique scores × pairs): the reference."""
    candidates = np.unique(scores)
    predictions = scores[None, :] >= candidates[:, None]
    accuracy = (predictions == labels[None, :].astype(bool)).mean(axis=1)
    all_negative = float((labels == 0).mean())
    best = int(np.argmax(accuracy))
    if all_negative > accuracy[best]:
        return all_negative, float(np.nextafter(candidates[-1], np.inf))
    return float(accuracy[best]), float(candidates[best])


def brute_force_best_f1(scores: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """The threshold-by-threshold loop that ``best_f1`` replaced, as the reference."""
    best = {"f1": 0.0, "precision": 0.0, "recall": 0.0, "threshold": float(scores.max())}
    positives = int(labels.sum())
    for threshold in np.unique(scores):
        predicted = scores >= threshold
        tp = int((predicted & (labels == 1)).sum())
        if tp == 0:
            continue
        precision = tp / int(predicted.sum())
        recall = tp / positives
        f1 = 2 * precision * recall / (precision + recall)
        if f1 > best["f1"]:
            best = {"f1": f1, "precision": precision, "recall": recall, "threshold": threshold}
    return {**best, "threshold": float(best["threshold"])}


def tied_pairs(rng: np.random.Generator, n: int, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """Scores on a grid of ``levels`` values (many ties), positives a little higher."""
    labels = rng.integers(0, 2, n)
    scores = np.clip(rng.integers(0, levels, n) + labels * rng.integers(0, 3, n), 0, levels)
    return scores / levels, labels


def test_threshold_sweep_counts() -> None:
    thresholds, tp, fp = threshold_sweep(SCORES, LABELS)
    assert thresholds.tolist() == [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    assert tp.tolist() == [1, 2, 2, 3, 3, 3] and fp.tolist() == [0, 0, 1, 1, 2, 3]
    # a tie is one threshold: 0.8 takes both of its pairs at once
    thresholds, tp, fp = threshold_sweep(np.array([0.8, 0.9, 0.8]), np.array([0, 1, 1]))
    assert thresholds.tolist() == [0.9, 0.8] and tp.tolist() == [1, 2] and fp.tolist() == [0, 1]


@pytest.mark.parametrize("levels", [1, 3, 10, 1000])
def test_sweep_is_identical_to_the_brute_force_search(levels: int) -> None:
    """Same F1/accuracy, same thresholds (the lowest reaching the best), bit for bit, with ties."""
    rng = np.random.default_rng(levels)
    for _ in range(60):
        scores, labels = tied_pairs(rng, int(rng.integers(2, 80)), levels)
        if labels.min() == labels.max():
            continue
        assert best_accuracy(scores, labels) == brute_force_best_accuracy(scores, labels)
        assert best_f1(scores, labels) == brute_force_best_f1(scores, labels)
        result = pair_classification(scores, labels)
        assert result["ap"] == pytest.approx(average_precision_score(labels, scores), abs=1e-12)
        assert result["roc_auc"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


def test_vectorised_metrics_of_a_resample_match_sklearn_and_scipy() -> None:
    """The bootstrap's statistic on one resample (multiplicities over the pairs) is what sklearn
    and scipy give on the resampled arrays themselves."""
    rng = np.random.default_rng(5)
    scores, labels = tied_pairs(rng, 120, 15)
    gold = scores + rng.integers(0, 4, scores.size)
    positives, negatives = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    pair_metrics, spearman_metric = PairMetrics(scores, labels), SpearmanMetric(scores, gold)
    for _ in range(10):
        drawn_pos = rng.integers(0, positives.size, positives.size)
        drawn_neg = rng.integers(0, negatives.size, negatives.size)
        index = np.concatenate([positives[drawn_pos], negatives[drawn_neg]])
        # the statistic takes how often each pair was drawn, in its own sorted order
        counts = np.bincount(pair_metrics.ranked.position[index], minlength=scores.size)
        s, y = scores[index], labels[index]
        expected = [average_precision_score(y, s), roc_auc_score(y, s), best_f1(s, y)["f1"]]
        assert pair_metrics(counts[None, :])[:, 0] == pytest.approx(expected, abs=1e-12)
        drawn = rng.integers(0, scores.size, scores.size)
        counts = np.bincount(spearman_metric.ranked.position[drawn], minlength=scores.size)
        expected_rho = spearmanr(scores[drawn], gold[drawn]).statistic
        assert spearman_metric(counts[None, :])[0, 0] == pytest.approx(expected_rho, abs=1e-12)


def test_intervals_are_scipy_bootstrap_of_sklearn_metrics() -> None:
    """Same seed, same draws: the intervals equal ``scipy.stats.bootstrap`` (percentile) run
    pair by pair with sklearn's and scipy's own functions, stratified by label."""
    rng = np.random.default_rng(3)
    scores, labels = tied_pairs(rng, 80, 12)
    gold = scores + rng.integers(0, 3, scores.size)
    settings = BootstrapSettings(n_resamples=150, seed=7)

    def classification(pos: np.ndarray, neg: np.ndarray) -> list[float]:
        s, y = np.concatenate([pos, neg]), np.r_[np.ones(pos.size), np.zeros(neg.size)]
        return [average_precision_score(y, s), roc_auc_score(y, s), best_f1(s, y)["f1"]]

    def reference(
        data: tuple[np.ndarray, ...], statistic: Callable[..., Any], paired: bool
    ) -> np.ndarray:
        ci = bootstrap(
            data,
            statistic,
            paired=paired,
            vectorized=False,
            n_resamples=150,
            batch=150,
            method="percentile",
            rng=np.random.default_rng(7),
        ).confidence_interval
        return np.c_[ci.low, ci.high]

    ours = metric_intervals(PairMetrics(scores, labels), settings)
    expected = reference((scores[labels == 1], scores[labels == 0]), classification, False)
    for name, (low, high) in zip(("ap", "roc_auc", "f1"), expected, strict=True):
        assert (ours[name]["low"], ours[name]["high"]) == pytest.approx((low, high), abs=1e-12)
    ours = metric_intervals(SpearmanMetric(scores, gold), settings)["spearman"]
    (expected,) = reference((scores, gold), lambda a, b: spearmanr(a, b).statistic, True)
    assert (ours["low"], ours["high"]) == pytest.approx(tuple(expected), abs=1e-12)


def synthetic_pairs(n: int, separation: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.4).astype(int)
    return rng.normal(0, 1, n) + separation * labels, labels


def test_intervals_hold_the_estimate_and_shrink_with_n() -> None:
    settings = BootstrapSettings(n_resamples=400)
    widths = []
    for n in (400, 6400):
        scores, labels = synthetic_pairs(n, 1.0)
        point = pair_classification(scores, labels)
        intervals = metric_intervals(PairMetrics(scores, labels), settings)
        for name in ("ap", "roc_auc", "f1"):
            assert intervals[name]["low"] < point[name] < intervals[name]["high"]
        widths.append(intervals["roc_auc"]["high"] - intervals["roc_auc"]["low"])
    # 16× the pairs: about a quarter of the width (1/√n)
    assert 0.15 < widths[1] / widths[0] < 0.4
    # seeded: the same settings give the same intervals; no resamples, no intervals
    again = metric_intervals(PairMetrics(scores, labels), settings)
    assert again == metric_intervals(PairMetrics(scores, labels), settings)
    assert metric_intervals(PairMetrics(scores, labels), BootstrapSettings(n_resamples=0)) == {}


def test_paired_difference_and_statement() -> None:
    settings = BootstrapSettings(n_resamples=500)
    scores, labels = synthetic_pairs(2000, 1.0)
    sharper = scores + 0.5 * labels  # the same pairs, positives pushed further up
    same = paired_differences(PairMetrics(scores, labels), PairMetrics(scores, labels), settings)
    assert same["ap"] == {"difference": 0.0, "low": 0.0, "high": 0.0, "n": 2000}
    assert statement("B", "A", "ap", same["ap"]) == (
        "no difference shown on AP: B − A = +0.000 [+0.000, +0.000], n=2000"
    )
    better = paired_differences(PairMetrics(scores, labels), PairMetrics(sharper, labels), settings)
    point = pair_classification(sharper, labels)["ap"] - pair_classification(scores, labels)["ap"]
    row = better["ap"]
    assert row["difference"] == pytest.approx(point, abs=1e-12)
    assert 0 < row["low"] < row["difference"] < row["high"]
    assert statement("B", "A", "ap", row) == (
        f"B is better than A on AP by {point:.3f} [{row['low']:.3f}, {row['high']:.3f}], n=2000"
    )
    worse = paired_differences(PairMetrics(sharper, labels), PairMetrics(scores, labels), settings)
    assert statement("A", "B", "roc_auc", worse["roc_auc"]).startswith("A is worse than B on ROC")
    # a paired interval is narrower than the two models' own intervals side by side
    own = metric_intervals(PairMetrics(scores, labels), settings)["ap"]
    assert row["high"] - row["low"] < own["high"] - own["low"]


def test_triplet_accuracy_and_spearman() -> None:
    # 0.9 > 0.1 yes, 0.5 > 0.6 no, 0.7 > 0.7 a tie counts as wrong, 0.3 > 0.2 yes
    assert triplet_accuracy(np.array([0.9, 0.5, 0.7, 0.3]), np.array([0.1, 0.6, 0.7, 0.2])) == 0.5
    # ranks [1..5] vs [2, 1, 4, 3, 5]: Σd² = 4, ρ = 1 − 6·4 / (5·24) = 0.8
    assert spearman(np.array([1.0, 2, 3, 4, 5]), np.array([2.0, 1, 4, 3, 5])) == pytest.approx(0.8)
