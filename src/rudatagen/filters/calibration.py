"""Calibrate a filter threshold on labelled pairs: the lowest score that reaches a precision.

Pairs come from a table read by ``core.tables`` (TSV/CSV/JSONL/Parquet or a saved dataset) with
two text columns and a label column; label values name the positives (paraphrases) and
negatives, other values are skipped and counted.
A scorer gives each pair a score where higher means "more likely a paraphrase"; the chosen
threshold is the lowest one whose precision (score >= threshold) reaches the target, which is the
highest recall at that precision. The result renders a recipe snippet for the matching filter.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml

from rudatagen.core.tables import iter_rows
from rudatagen.errors import MissingDependencyError, RudatagenError
from rudatagen.filters.settings import BiEncoderSettings, CrossEncoderSettings

Scorer = Literal["cross_encoder", "biencoder", "lexical"]
RECALL_POINTS = (0.5, 0.8, 0.9, 0.95)
_RECIPE_KEYS = {  # the settings a recipe snippet repeats, besides the threshold
    "cross_encoder": ("model", "kind", "entailment_label"),
    "biencoder": ("model", "query_prefix", "candidate_prefix"),
}


@dataclass
class LabelledPairs:
    """Aligned pairs; ``labels`` is int8, 1 for a positive and 0 for a negative."""

    text_1: list[str]
    text_2: list[str]
    labels: np.ndarray
    skipped: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.text_1)

    def triples(self) -> list[tuple[str, str, int]]:
        """(text_1, text_2, label) tuples, as ``train_cross_encoder`` takes them."""
        return list(zip(self.text_1, self.text_2, self.labels.tolist(), strict=True))


def _label_key(value: object) -> str:
    """Label values compared as text: ``1``, ``1.0``, ``"1"`` and ``"1.0"`` are the same label
    (CSV/TSV cells are strings; JSONL and Parquet keep numbers)."""
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text


def load_labelled_pairs(
    path: str | Path,
    *,
    text_1: str = "text_1",
    text_2: str = "text_2",
    label: str = "class",
    positive: Iterable[object] = ("1",),
    negative: Iterable[object] = ("-1",),
) -> LabelledPairs:
    """Pairs whose label is one of ``positive`` or ``negative`` (the defaults fit ParaPhraser:
    strict paraphrases against non-paraphrases). Rows with other labels or an empty text are
    skipped and counted by label value (``"(empty text)"`` for the latter)."""
    positives = {_label_key(v) for v in positive}
    negatives = {_label_key(v) for v in negative}
    if positives & negatives:
        raise RudatagenError(f"label values {sorted(positives & negatives)} are both kinds")
    firsts: list[str] = []
    seconds: list[str] = []
    labels: list[int] = []
    skipped: Counter[str] = Counter()
    for row in iter_rows(Path(path), [text_1, text_2, label]):
        key = _label_key(row[label])
        if key not in positives and key not in negatives:
            skipped[key] += 1
        elif not row[text_1] or not row[text_2]:
            skipped["(empty text)"] += 1
        else:
            firsts.append(str(row[text_1]))
            seconds.append(str(row[text_2]))
            labels.append(1 if key in positives else 0)
    return LabelledPairs(firsts, seconds, np.asarray(labels, dtype=np.int8), dict(skipped))


def score_pairs(
    pairs: LabelledPairs,
    scorer: Scorer,
    settings: BiEncoderSettings | CrossEncoderSettings | None = None,
) -> np.ndarray:
    """One score per pair, computed exactly as the matching filter computes it.

    ``cross_encoder`` and ``biencoder`` need that filter's settings (model, kind, prefixes…);
    ``lexical`` is rapidfuzz's token_sort_ratio / 100 on the lexical filter's ``loose_text``
    forms, a baseline without a model.
    """
    if scorer == "lexical":
        try:
            from rapidfuzz import fuzz, process

            from rudatagen.filters.russian import loose_text
        except ImportError as exc:
            raise MissingDependencyError("rapidfuzz", "filters", "The lexical scorer") from exc
        firsts = [loose_text(text) for text in pairs.text_1]
        seconds = [loose_text(text) for text in pairs.text_2]
        similarity = process.cpdist(firsts, seconds, scorer=fuzz.token_sort_ratio)
        return np.asarray(similarity, dtype=np.float64) / 100
    if scorer == "biencoder" and isinstance(settings, BiEncoderSettings):
        from rudatagen.filters.biencoder import BiEncoderFilter

        return BiEncoderFilter(settings).cosines(pairs.text_1, pairs.text_2).astype(np.float64)
    if scorer == "cross_encoder" and isinstance(settings, CrossEncoderSettings):
        from rudatagen.filters.crossencoder import PROB, CrossEncoderFilter

        scores = CrossEncoderFilter(settings).score(pairs.text_1, pairs.text_2)
        return scores[PROB].astype(np.float64)
    raise RudatagenError(f"scorer '{scorer}' needs its filter's settings (with the model)")


@dataclass(frozen=True)
class CurvePoint:
    """Keeping pairs with score >= ``threshold`` gives this precision and recall."""

    threshold: float
    precision: float
    recall: float


def pr_curve(labels: np.ndarray, scores: np.ndarray) -> list[CurvePoint]:
    """One point per distinct score, highest threshold first."""
    order = np.argsort(-scores, kind="stable")
    ordered, truth = scores[order], labels[order].astype(np.int64)
    last = np.r_[np.flatnonzero(np.diff(ordered)), len(ordered) - 1]
    tp, kept = np.cumsum(truth)[last], last + 1
    positives = max(int(truth.sum()), 1)
    return [
        CurvePoint(float(t), float(p), float(r))
        for t, p, r in zip(ordered[last], tp / kept, tp / positives, strict=True)
    ]


def _short_threshold(threshold: float, below: float) -> float:
    """The shortest decimal that keeps the same pairs: in (``below``, ``threshold``] as float32
    too, since the filters compare float32 scores."""
    for digits in range(2, 10):
        scale = 10**digits
        candidate = math.floor(threshold * scale) / scale
        if below < candidate <= threshold and below < float(np.float32(candidate)) <= threshold:
            return candidate
    return threshold


@dataclass
class Calibration:
    """The chosen threshold and what it gives on the labelled pairs."""

    scorer: str
    target_precision: float
    threshold: float  # the lowest score kept (score >= threshold)
    recipe_threshold: float  # a short decimal that keeps exactly the same pairs
    precision: float
    recall: float
    positives: int
    negatives: int
    points: dict[str, CurvePoint]
    settings: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def support(self) -> int:
        return self.positives + self.negatives

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "support": self.support}

    def recipe_yaml(self) -> str:
        """A ``filters:`` snippet setting the threshold as the stage's ``paraphrase_min``."""
        head = (
            f"# calibrated on {self.support} pairs ({self.positives} positive): precision "
            f"{self.precision:.3f}, recall {self.recall:.3f} at {self.recipe_threshold:g}\n"
        )
        if self.scorer == "lexical":
            return head + "# lexical baseline: no filter stage takes a minimum similarity\n"
        keys = _RECIPE_KEYS[self.scorer]
        stage = {"enabled": True, **{k: self.settings[k] for k in keys if self.settings.get(k)}}
        if stage.get("kind") != "nli":
            stage.pop("entailment_label", None)
        stage["paraphrase_min"] = self.recipe_threshold
        body = {"filters": {self.scorer: stage}}
        return head + yaml.safe_dump(body, sort_keys=False, allow_unicode=True)


def calibrate_scores(
    labels: np.ndarray,
    scores: np.ndarray,
    target_precision: float,
    scorer: str = "lexical",
    settings: dict[str, Any] | None = None,
) -> Calibration:
    """Pick the lowest threshold whose precision reaches ``target_precision``.

    Raises ``RudatagenError`` when there are no positives or negatives, or when no threshold
    reaches the target (the message gives the best precision seen).
    """
    labels = np.asarray(labels).astype(np.int8)
    scores = np.asarray(scores, dtype=np.float64)
    positives = int(labels.sum())
    negatives = len(labels) - positives
    if not positives or not negatives:
        raise RudatagenError(
            f"calibration needs positive and negative pairs: got {positives} and {negatives}"
        )
    curve = pr_curve(labels, scores)
    reaching = [i for i, point in enumerate(curve) if point.precision >= target_precision]
    if not reaching:
        best = max(curve, key=lambda p: (p.precision, p.recall))
        raise RudatagenError(
            f"target precision {target_precision:g} is not reachable: the best is "
            f"{best.precision:.3f} (recall {best.recall:.3f} at threshold {best.threshold:.4f})"
        )
    chosen = curve[reaching[-1]]
    below = curve[reaching[-1] + 1].threshold if reaching[-1] + 1 < len(curve) else -math.inf
    points = {"chosen": chosen}
    for recall in RECALL_POINTS:
        eligible = [p for p in curve if p.recall >= recall]
        points[f"recall_{recall:g}"] = max(eligible, key=lambda p: p.precision)
    return Calibration(
        scorer=scorer,
        target_precision=target_precision,
        threshold=chosen.threshold,
        recipe_threshold=_short_threshold(chosen.threshold, below),
        precision=chosen.precision,
        recall=chosen.recall,
        positives=positives,
        negatives=negatives,
        points=points,
        settings=settings or {},
    )


def calibrate(
    pairs: LabelledPairs,
    target_precision: float,
    scorer: Scorer = "cross_encoder",
    settings: BiEncoderSettings | CrossEncoderSettings | None = None,
) -> Calibration:
    """Score ``pairs`` with ``scorer`` (see ``score_pairs``) and calibrate on the scores."""
    scores = score_pairs(pairs, scorer, settings)
    dumped = settings.model_dump(mode="json") if settings is not None else {}
    result = calibrate_scores(pairs.labels, scores, target_precision, scorer, dumped)
    result.skipped = dict(pairs.skipped)
    return result
