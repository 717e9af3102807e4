"""Statistics on similarity arrays, pure numpy/scipy/sklearn (unit-tested on fixed arrays).

Pair classification treats a pair as positive when its similarity is at or above a threshold;
the best threshold is searched among the observed similarities.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# The shift verdict: negatives moved away from positives when the gap between the mean positive
# and mean negative similarity grew and the ROC-AUC of separating them did not fall by more
# than this.
AUC_TOLERANCE = 0.001


def _check(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels).astype(int)
    if scores.shape != labels.shape or scores.ndim != 1:
        raise ValueError("scores and labels must be 1-d arrays of the same length")
    if not (labels == 1).any() or not (labels == 0).any():
        raise ValueError("pair classification needs both positive and negative pairs")
    return scores, labels


def best_accuracy(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """The highest accuracy of ``score >= t`` over thresholds t, and that t."""
    scores, labels = _check(scores, labels)
    candidates = np.unique(scores)
    predictions = scores[None, :] >= candidates[:, None]
    accuracy = (predictions == labels[None, :].astype(bool)).mean(axis=1)
    # everything negative (threshold above the maximum) is a candidate too
    all_negative = float((labels == 0).mean())
    best = int(np.argmax(accuracy))
    if all_negative > accuracy[best]:
        return all_negative, float(np.nextafter(candidates[-1], np.inf))
    return float(accuracy[best]), float(candidates[best])


def best_f1(scores: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """The highest F1 of ``score >= t`` over thresholds t, with its precision, recall and t."""
    scores, labels = _check(scores, labels)
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
            best = {
                "f1": f1,
                "precision": precision,
                "recall": recall,
                "threshold": float(threshold),
            }
    return best


def pair_classification(scores: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Average precision, best F1 (with precision/recall/threshold), best accuracy, ROC-AUC."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    scores, labels = _check(scores, labels)
    accuracy, accuracy_threshold = best_accuracy(scores, labels)
    f1 = best_f1(scores, labels)
    return {
        "pairs": len(scores),
        "positives": int(labels.sum()),
        "negatives": int((labels == 0).sum()),
        "ap": float(average_precision_score(labels, scores)),
        "f1": f1["f1"],
        "precision": f1["precision"],
        "recall": f1["recall"],
        "f1_threshold": f1["threshold"],
        "accuracy": accuracy,
        "accuracy_threshold": accuracy_threshold,
        "roc_auc": float(roc_auc_score(labels, scores)),
    }


def triplet_accuracy(positive: np.ndarray, negative: np.ndarray) -> float:
    """Share of triplets whose anchor is closer to the positive than to the negative (ties lose)."""
    positive = np.asarray(positive, dtype=np.float64)
    negative = np.asarray(negative, dtype=np.float64)
    if positive.shape != negative.shape or positive.size == 0:
        raise ValueError("triplet accuracy needs two equally long, non-empty arrays")
    return float((positive > negative).mean())


def spearman(predicted: np.ndarray, gold: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(predicted, gold).statistic)


def distribution(similarities: np.ndarray) -> dict[str, float]:
    values = np.asarray(similarities, dtype=np.float64)
    return {
        "n": int(values.size),
        "mean": float(values.mean()),
        "median": float(np.median(values)),
        "std": float(values.std()),
    }


def separation(positive: np.ndarray, negative: np.ndarray) -> dict[str, float]:
    """Mean/median per class, the gap of means, the KS statistic and the ROC-AUC of separating
    positives from negatives by similarity."""
    from scipy.stats import ks_2samp
    from sklearn.metrics import roc_auc_score

    positive = np.asarray(positive, dtype=np.float64)
    negative = np.asarray(negative, dtype=np.float64)
    labels = np.concatenate([np.ones(positive.size), np.zeros(negative.size)])
    pos, neg = distribution(positive), distribution(negative)
    return {
        "positive": pos,
        "negative": neg,
        "gap": pos["mean"] - neg["mean"],
        "ks": float(ks_2samp(positive, negative).statistic),
        "roc_auc": float(roc_auc_score(labels, np.concatenate([positive, negative]))),
    }


def shift(
    before_pos: np.ndarray, before_neg: np.ndarray, after_pos: np.ndarray, after_neg: np.ndarray
) -> dict[str, Any]:
    """Before/after separation, how far each class moved, and the verdict (see AUC_TOLERANCE)."""
    before = separation(before_pos, before_neg)
    after = separation(after_pos, after_neg)
    gap_change = after["gap"] - before["gap"]
    auc_change = after["roc_auc"] - before["roc_auc"]
    moved_away = gap_change > 0 and auc_change >= -AUC_TOLERANCE
    return {
        "before": before,
        "after": after,
        "negative_mean_moved": after["negative"]["mean"] - before["negative"]["mean"],
        "negative_median_moved": after["negative"]["median"] - before["negative"]["median"],
        "positive_mean_moved": after["positive"]["mean"] - before["positive"]["mean"],
        "gap_change": gap_change,
        "ks_change": after["ks"] - before["ks"],
        "roc_auc_change": auc_change,
        "negatives_moved_away": bool(moved_away),
        "rule": (
            "negatives moved away from positives when (mean pos − mean neg) grew and ROC-AUC "
            f"did not fall by more than {AUC_TOLERANCE}"
        ),
    }
