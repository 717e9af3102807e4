"""Inter-annotator agreement and the precision of the machine's labels, from the decisions.

- Cohen's kappa (scikit-learn) when exactly two annotators took part, on the items both labelled;
- Krippendorff's alpha, nominal (the ``krippendorff`` package), over all annotators and all items
  with a label, missing labels allowed;
- per annotator: labels given, their distribution, agreement with the final (majority) label on the
  reviewed items they labelled that have at least two votes;
- precision of the automatic decisions per intended label: of the reviewed items the machine
  labelled X, the share whose final human label is X (a discarded item counts as wrong; for a
  2-way ``not_entailment`` seed, neutral or contradiction count as right), with its 95% Wilson
  interval and the number of reviewed items it rests on (``core.intervals``; each reviewed item
  counts as one independent judgement).
The discard/broken choice is a category of its own in kappa and alpha.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np

from rudatagen.annotate.aggregate import PENDING, REVIEWED, UNRESOLVED, Decision
from rudatagen.annotate.configs import TaskSpec
from rudatagen.core.intervals import proportion

EQUIVALENT = {"not_entailment": {"neutral", "contradiction"}}
CONFIDENCE = 0.95  # of the precision intervals


def precision_interval(correct: int, reviewed: int) -> dict[str, Any]:
    """The Wilson interval of ``correct / reviewed`` and the n it rests on (bounds None at 0)."""
    share = proportion(correct, reviewed, CONFIDENCE, "wilson").as_dict()
    return {key: share[key] for key in ("low", "high", "n", "confidence", "method")}


def _finite(value: float) -> float | None:
    return round(float(value), 4) if value is not None and math.isfinite(value) else None


def cohen_kappa(first: list[str], second: list[str], labels: list[str]) -> float | None:
    from sklearn.metrics import cohen_kappa_score

    if not first:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        value = cohen_kappa_score(first, second, labels=labels)
    return _finite(value)


def krippendorff_alpha(matrix: np.ndarray, n_categories: int) -> float | None:
    """Nominal alpha over an annotators × items matrix of category indices (NaN = missing)."""
    import krippendorff

    if matrix.size == 0 or (np.sum(~np.isnan(matrix), axis=0) >= 2).sum() == 0:
        return None
    try:
        with np.errstate(divide="ignore", invalid="ignore"):
            value = krippendorff.alpha(
                reliability_data=matrix,
                level_of_measurement="nominal",
                value_domain=list(range(n_categories)),
            )
    except (ValueError, ZeroDivisionError):
        return None
    return _finite(value)


def agreement(
    decisions: list[Decision], intended: dict[str, str], spec: TaskSpec
) -> dict[str, Any]:
    categories = list(spec.choices)
    index = {label: i for i, label in enumerate(categories)}
    annotators = sorted({a for d in decisions for a in d.annotators})
    labelled = [d for d in decisions if d.labels]
    matrix = np.full((len(annotators), len(labelled)), np.nan)
    row = {name: i for i, name in enumerate(annotators)}
    for j, decision in enumerate(labelled):
        for vote in decision.votes:
            if vote.label is not None:
                matrix[row[vote.annotator], j] = index[vote.label]

    kappa: dict[str, Any] = {"value": None, "items": 0}
    if len(annotators) == 2:
        both = ~np.isnan(matrix[0]) & ~np.isnan(matrix[1])
        first = [categories[int(v)] for v in matrix[0][both]]
        second = [categories[int(v)] for v in matrix[1][both]]
        kappa = {
            "value": cohen_kappa(first, second, categories),
            "items": int(both.sum()),
            "annotators": annotators,
        }
    else:
        kappa["note"] = f"defined for exactly two annotators; there are {len(annotators)}"

    per_annotator: dict[str, Any] = {}
    for name in annotators:
        votes = [
            (d, v) for d in labelled for v in d.votes if v.annotator == name and v.label is not None
        ]
        judged = [
            (d, v) for d, v in votes if d.status == REVIEWED and d.final and len(d.labels) >= 2
        ]
        agree = sum(1 for d, v in judged if v.label == d.final)
        per_annotator[name] = {
            "labels": len(votes),
            "distribution": dict(Counter(v.label for _, v in votes).most_common()),
            "revisions": sum(1 for _, v in votes if v.revisions),
            "agreement_with_majority": round(agree / len(judged), 4) if judged else None,
            "compared_items": len(judged),
        }

    precision: dict[str, Any] = {}
    for label in sorted({intended[d.key] for d in decisions}):
        mine = [d for d in decisions if intended[d.key] == label and d.status == REVIEWED]
        right = EQUIVALENT.get(label, {label})
        correct = sum(1 for d in mine if d.final in right)
        precision[label] = {
            "reviewed": len(mine),
            "correct": correct,
            "discarded": sum(1 for d in mine if d.final == spec.discard),
            "precision": round(correct / len(mine), 4) if mine else None,
            "interval": precision_interval(correct, len(mine)),
            "unresolved": sum(
                1 for d in decisions if intended[d.key] == label and d.status == UNRESOLVED
            ),
        }

    statuses = Counter(d.status for d in decisions)
    return {
        "task": spec.name,
        "items": len(decisions),
        "reviewed": statuses[REVIEWED],
        "unresolved": statuses[UNRESOLVED],
        "pending": statuses[PENDING],
        "discarded": sum(1 for d in decisions if d.final == spec.discard),
        "revised": sum(1 for d in decisions if d.revisions),
        "final_labels": dict(Counter(d.final for d in decisions if d.final).most_common()),
        "annotators": annotators,
        "cohen_kappa": kappa,
        "krippendorff_alpha": {
            "value": krippendorff_alpha(matrix, len(categories)),
            "items": int((np.sum(~np.isnan(matrix), axis=0) >= 2).sum()) if matrix.size else 0,
            "level": "nominal",
        },
        "per_annotator": per_annotator,
        "precision_of_automatic_labels": precision,
    }
