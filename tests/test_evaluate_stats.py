"""The evaluation and shift statistics against values computed by hand on fixed arrays."""

from __future__ import annotations

import numpy as np
import pytest

from rudatagen.evaluation.stats import (
    best_accuracy,
    best_f1,
    pair_classification,
    separation,
    shift,
    spearman,
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


def test_triplet_accuracy_and_spearman() -> None:
    # 0.9 > 0.1 yes, 0.5 > 0.6 no, 0.7 > 0.7 a tie counts as wrong, 0.3 > 0.2 yes
    assert triplet_accuracy(np.array([0.9, 0.5, 0.7, 0.3]), np.array([0.1, 0.6, 0.7, 0.2])) == 0.5
    # ranks [1..5] vs [2, 1, 4, 3, 5]: Σd² = 4, ρ = 1 − 6·4 / (5·24) = 0.8
    assert spearman(np.array([1.0, 2, 3, 4, 5]), np.array([2.0, 1, 4, 3, 5])) == pytest.approx(0.8)


def test_separation() -> None:
    result = separation(np.array([0.9, 0.8, 0.6]), np.array([0.7, 0.5, 0.4]))
    assert result["positive"]["mean"] == pytest.approx(2.3 / 3)
    assert result["positive"]["median"] == pytest.approx(0.8)
    assert result["negative"]["mean"] == pytest.approx(1.6 / 3)
    assert result["negative"]["median"] == pytest.approx(0.5)
    assert result["gap"] == pytest.approx(0.7 / 3)
    # ECDF gap: at 0.5 the negatives are at 2/3 and the positives at 0
    assert result["ks"] == pytest.approx(2 / 3)
    assert result["roc_auc"] == pytest.approx(8 / 9)


def test_shift_negatives_moved_away() -> None:
    result = shift(
        np.array([0.9, 0.8, 0.6]),
        np.array([0.7, 0.5, 0.4]),
        np.array([0.9, 0.8, 0.7]),
        np.array([0.3, 0.2, 0.4]),
    )
    assert result["negative_mean_moved"] == pytest.approx(0.3 - 1.6 / 3)
    assert result["negative_median_moved"] == pytest.approx(-0.2)
    assert result["positive_mean_moved"] == pytest.approx(0.8 - 2.3 / 3)
    assert result["gap_change"] == pytest.approx(0.5 - 0.7 / 3)
    assert result["after"]["ks"] == pytest.approx(1.0)
    assert result["after"]["roc_auc"] == pytest.approx(1.0)
    assert result["roc_auc_change"] == pytest.approx(1 / 9)
    assert result["negatives_moved_away"] is True


def test_shift_verdict_is_no_when_negatives_come_closer_or_auc_falls() -> None:
    closer = shift(
        np.array([0.9, 0.8, 0.7]),
        np.array([0.3, 0.2, 0.1]),
        np.array([0.9, 0.8, 0.7]),
        np.array([0.6, 0.5, 0.4]),
    )
    assert closer["gap_change"] == pytest.approx(-0.3)
    assert closer["negatives_moved_away"] is False
    # the gap grows (0.6 → 0.633) but one negative now beats a positive: AUC 1 → 8/9
    overlap = shift(
        np.array([0.9, 0.8, 0.7]),
        np.array([0.3, 0.2, 0.1]),
        np.array([1.0, 1.0, 0.5]),
        np.array([0.0, 0.0, 0.6]),
    )
    assert overlap["gap_change"] == pytest.approx(0.6333333 - 0.6, abs=1e-6)
    assert overlap["roc_auc_change"] == pytest.approx(-1 / 9)
    assert overlap["negatives_moved_away"] is False
