"""What a calibrated threshold gives on pairs it was not chosen on: k-fold, split by group.

In-sample precision at a threshold picked on the same pairs is optimistic: the choice fits the
pairs' noise. Here the whole choice is repeated on k−1 folds and the threshold it gives is applied
to the fold left out; the held-out counts of all folds are pooled (true positives among the kept
held-out pairs, and among all positives) into precision and recall with their intervals.

Folds are split **by group**, so that no text is on both sides: a group is a connected set of
pairs that share a text (in the ``loose_text`` comparison form), whichever side it is on. For
ParaPhraser that is a headline with all the headlines it was paired with; for RuHNP-like pairs a
query with its candidates. Splitting by the first text alone would leave a sentence that is the
second text of one pair and the first of another on both sides. ``GroupKFold`` (shuffled) deals
whole groups to the folds; it is not stratified by label (``StratifiedGroupKFold`` is, but loops
over groups in Python: minutes at a million pairs), and with thousands of groups each fold keeps
about the share of positives anyway; the held-out counts are pooled over the folds.

The intervals count pairs of one group as moving together (``core.intervals.clustered_proportion``:
the effective n is smaller than the number of pairs when groups are large and uniform). The
thresholds differ a little from fold to fold, so the interval is approximate — it is what to
expect of the procedure on new pairs like these, not a guarantee for a different population.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rudatagen.core.intervals import IntervalMethod, Proportion, clustered_proportion
from rudatagen.errors import MissingDependencyError
from rudatagen.filters.calibration_curve import Rule, choose_index, curve_counts

GROUP_BY = "pairs that share a text (either side, loose_text form)"


def pair_groups(firsts: list[str], seconds: list[str]) -> np.ndarray:
    """A group id per pair: the connected component of its texts (see the module docstring)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from rudatagen.filters.russian import loose_text

    ids: dict[str, int] = {}
    first = [ids.setdefault(loose_text(text), len(ids)) for text in firsts]
    second = [ids.setdefault(loose_text(text), len(ids)) for text in seconds]
    graph = coo_matrix((np.ones(len(first)), (first, second)), shape=(len(ids), len(ids)))
    _, component = connected_components(graph, directed=False)
    return component[np.asarray(first, dtype=np.int64)]


@dataclass
class HeldOutEstimate:
    """Pooled held-out precision (of the kept pairs) and recall (of the positives)."""

    folds: int
    groups: int
    seed: int
    precision: Proportion
    recall: Proportion
    fold_thresholds: list[float | None]  # None: no threshold reached the target on that fold

    def as_dict(self) -> dict[str, Any]:
        return {
            "folds": self.folds,
            "groups": self.groups,
            "group_by": GROUP_BY,
            "seed": self.seed,
            "precision": self.precision.as_dict(),
            "recall": self.recall.as_dict(),
            "fold_thresholds": self.fold_thresholds,
        }

    def text(self) -> str:
        return (
            f"precision {self.precision.text('kept')}, recall {self.recall.text('positives')} "
            f"({self.folds} folds held out by group: {self.groups} groups of pairs sharing a text)"
        )


def held_out_estimate(
    labels: np.ndarray,
    scores: np.ndarray,
    groups: np.ndarray,
    target_precision: float,
    *,
    folds: int = 5,
    seed: int = 0,
    rule: Rule = "lower_bound",
    confidence: float = 0.95,
    method: IntervalMethod = "wilson",
) -> tuple[HeldOutEstimate | None, str | None]:
    """The estimate, or None and the reason when the pairs cannot fill ``folds`` folds."""
    try:
        from sklearn.model_selection import GroupKFold
    except ImportError as exc:
        raise MissingDependencyError("scikit-learn", "train", "The held-out estimate") from exc

    labels = np.asarray(labels).astype(np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    n_groups = len(np.unique(groups))
    if folds < 2 or n_groups < folds or min(labels.sum(), len(labels) - labels.sum()) < folds:
        return None, (
            f"{folds} folds need at least {max(folds, 2)} groups and as many positive and negative "
            f"pairs; there are {n_groups} groups, {int(labels.sum())} positive pairs"
        )
    splits = GroupKFold(n_splits=folds, shuffle=True, random_state=seed).split(
        scores, labels, groups
    )
    kept = np.zeros(len(labels), dtype=bool)  # kept by the threshold its own fold did not see
    thresholds: list[float | None] = []
    for fit_rows, test_rows in splits:
        counts = curve_counts(labels[fit_rows], scores[fit_rows], groups[fit_rows])
        index = choose_index(counts, target_precision, rule, confidence, method)
        if index is None:  # this fold's choice keeps nothing
            thresholds.append(None)
            continue
        thresholds.append(float(counts.thresholds[index]))
        kept[test_rows] = scores[test_rows] >= thresholds[-1]
    positive = labels == 1
    estimate = HeldOutEstimate(
        folds=folds,
        groups=n_groups,
        seed=seed,
        precision=clustered_proportion(positive[kept], groups[kept], confidence, method),
        recall=clustered_proportion(kept[positive], groups[positive], confidence, method),
        fold_thresholds=thresholds,
    )
    return estimate, None
