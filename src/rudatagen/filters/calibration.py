"""Calibrate a filter threshold on labelled pairs: the lowest score that reaches a precision.

Pairs come from a table read by ``core.tables`` (TSV/CSV/JSONL/Parquet or a saved dataset) with
two text columns and a label column; label values name the positives (paraphrases) and
negatives, other values are skipped and counted.
A scorer gives each pair a score where higher means "more likely a paraphrase". The chosen
threshold is the lowest one (so the highest recall) whose precision (score >= threshold) reaches
the target, judged by the lower end of its confidence interval (``rule="lower_bound"``, the
default: a precision of 0.95 on 20 kept pairs does not count as 0.95) or by the point estimate
(``rule="point"``). Precision and recall at that threshold come with their intervals
(``core.intervals``), in-sample and, more honestly, held out: ``calibration_heldout`` repeats the
choice on k−1 folds split by group and measures it on the fold left out. When the scorer model was
trained on the calibration pairs, ``training.seen_pairs`` says how many. The result renders a
recipe snippet for the matching filter.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import yaml

from rudatagen.core.intervals import (
    METHOD_NAMES,
    IntervalMethod,
    Proportion,
    clustered_proportion,
)
from rudatagen.core.tables import iter_rows
from rudatagen.errors import MissingDependencyError, RudatagenError
from rudatagen.filters.calibration_curve import (
    CurveCounts,
    CurvePoint,
    Rule,
    choose_index,
    curve_counts,
    pr_curve,
    short_threshold,
)
from rudatagen.filters.settings import BiEncoderSettings, CrossEncoderSettings

if TYPE_CHECKING:
    from rudatagen.filters.calibration_heldout import HeldOutEstimate
    from rudatagen.training.seen_pairs import TrainingOverlap

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


@dataclass
class Calibration:
    """The chosen threshold and what it gives: on the labelled pairs themselves (``precision``,
    ``recall`` and ``in_sample`` with intervals) and held out (``held_out``, the figures to
    expect on new pairs like these)."""

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
    rule: Rule = "lower_bound"
    confidence: float = 0.95
    interval: IntervalMethod = "wilson"
    in_sample: dict[str, Proportion] = field(default_factory=dict)
    held_out: HeldOutEstimate | None = None
    held_out_note: str | None = None  # why there is no held-out estimate
    training_overlap: TrainingOverlap | None = None

    @property
    def support(self) -> int:
        return self.positives + self.negatives

    def as_dict(self) -> dict[str, Any]:
        """Everything, for the JSON next to the snippet (the keys before ``rule`` are the ones
        written before intervals existed, with the same meaning)."""
        return {
            "scorer": self.scorer,
            "target_precision": self.target_precision,
            "threshold": self.threshold,
            "recipe_threshold": self.recipe_threshold,
            "precision": self.precision,
            "recall": self.recall,
            "positives": self.positives,
            "negatives": self.negatives,
            "points": {name: asdict(point) for name, point in self.points.items()},
            "settings": self.settings,
            "skipped": self.skipped,
            "support": self.support,
            "rule": self.rule,
            "confidence": self.confidence,
            "interval": self.interval,
            "in_sample": {name: value.as_dict() for name, value in self.in_sample.items()},
            "held_out": self.held_out.as_dict() if self.held_out else None,
            "held_out_note": self.held_out_note,
            "training_overlap": (
                self.training_overlap.as_dict() if self.training_overlap else None
            ),
        }

    def summary_lines(self) -> list[str]:
        """What the threshold gives, in-sample and held out, each figure with its interval."""
        how = (
            f"the lower end of the {self.confidence:.0%} {METHOD_NAMES[self.interval]} interval of "
            "precision"
            if self.rule == "lower_bound"
            else "the point estimate of precision"
        )
        lines = [
            f"scorer {self.scorer}: threshold {self.recipe_threshold:g} gives precision "
            f"{self.precision:.3f}, recall {self.recall:.3f} on these pairs "
            f"(chosen where {how} reaches {self.target_precision:g})"
        ]
        if self.in_sample:
            lines.append(
                f"  in-sample ({self.confidence:.0%} {METHOD_NAMES[self.interval]}): precision "
                f"{self.in_sample['precision'].text('kept')}, recall "
                f"{self.in_sample['recall'].text('positives')}"
            )
        if self.held_out is not None:
            lines.append(f"  expected on new pairs: {self.held_out.text()}")
        elif self.held_out_note:
            lines.append(f"  no held-out estimate: {self.held_out_note}")
        return lines

    def recipe_yaml(self) -> str:
        """A ``filters:`` snippet setting the threshold as the stage's ``paraphrase_min``."""
        head = (
            f"# calibrated on {self.support} pairs ({self.positives} positive): precision "
            f"{self.precision:.3f}, recall {self.recall:.3f} at {self.recipe_threshold:g}\n"
        )
        if self.held_out is not None:
            head += f"# expected on new pairs: {self.held_out.text()}\n"
        if self.training_overlap is not None and self.training_overlap.warning():
            head += f"# {self.training_overlap.warning()}\n"
        if self.scorer == "lexical":
            return head + "# lexical baseline: no filter stage takes a minimum similarity\n"
        keys = _RECIPE_KEYS[self.scorer]
        stage = {"enabled": True, **{k: self.settings[k] for k in keys if self.settings.get(k)}}
        if stage.get("kind") != "nli":
            stage.pop("entailment_label", None)
        stage["paraphrase_min"] = self.recipe_threshold
        body = {"filters": {self.scorer: stage}}
        return head + yaml.safe_dump(body, sort_keys=False, allow_unicode=True)


def _unreachable(
    counts: CurveCounts, target: float, rule: Rule, confidence: float, method: IntervalMethod
) -> RudatagenError:
    """The error for a target no threshold reaches, naming the best figure seen."""
    if rule == "point":
        precisions = counts.true_positives / counts.kept
        best = counts.point(int(np.lexsort((-counts.kept, -precisions))[0]))
        return RudatagenError(
            f"target precision {target:g} is not reachable: the best is "
            f"{best.precision:.3f} (recall {best.recall:.3f} at threshold {best.threshold:.4f})"
        )
    low = counts.precision_lower_bounds(confidence, method)
    i = int(np.nanargmax(low))
    best = counts.point(i)
    return RudatagenError(
        f"target precision {target:g} is not reachable with {confidence:.0%} confidence: the best "
        f"lower bound ({METHOD_NAMES[method]}) is {low[i]:.3f} (precision {best.precision:.3f} "
        f"on {best.kept} kept pairs at threshold {best.threshold:.4f}); label more pairs, lower "
        "the target or choose on the point estimate (--rule point)"
    )


def calibrate_scores(
    labels: np.ndarray,
    scores: np.ndarray,
    target_precision: float,
    scorer: str = "lexical",
    settings: dict[str, Any] | None = None,
    *,
    groups: np.ndarray | None = None,
    rule: Rule = "lower_bound",
    confidence: float = 0.95,
    method: IntervalMethod = "wilson",
) -> Calibration:
    """Pick the lowest threshold whose precision reaches ``target_precision`` by ``rule``.

    ``groups`` (an id per pair, see ``calibration_heldout.pair_groups``) make the intervals
    account for pairs that share a text; without them every pair is independent.
    Raises ``RudatagenError`` when there are no positives or negatives, or when no threshold
    reaches the target (the message gives the best precision, or lower bound, seen).
    """
    labels = np.asarray(labels).astype(np.int8)
    scores = np.asarray(scores, dtype=np.float64)
    positives = int(labels.sum())
    negatives = len(labels) - positives
    if not positives or not negatives:
        raise RudatagenError(
            f"calibration needs positive and negative pairs: got {positives} and {negatives}"
        )
    counts = curve_counts(labels, scores, groups)
    index = choose_index(counts, target_precision, rule, confidence, method)
    if index is None:
        raise _unreachable(counts, target_precision, rule, confidence, method)
    chosen = counts.point(index)
    below = float(counts.thresholds[index + 1]) if index + 1 < len(counts.kept) else -math.inf
    curve = pr_curve(labels, scores)
    points = {"chosen": chosen}
    for recall in RECALL_POINTS:
        eligible = [p for p in curve if p.recall >= recall]
        points[f"recall_{recall:g}"] = max(eligible, key=lambda p: p.precision)
    kept = scores >= chosen.threshold
    pair_ids = np.arange(len(labels)) if groups is None else np.asarray(groups)
    return Calibration(
        scorer=scorer,
        target_precision=target_precision,
        threshold=chosen.threshold,
        recipe_threshold=short_threshold(chosen.threshold, below),
        precision=chosen.precision,
        recall=chosen.recall,
        positives=positives,
        negatives=negatives,
        points=points,
        settings=settings or {},
        rule=rule,
        confidence=confidence,
        interval=method,
        in_sample={
            "precision": clustered_proportion(
                labels[kept] == 1, pair_ids[kept], confidence, method
            ),
            "recall": clustered_proportion(
                kept[labels == 1], pair_ids[labels == 1], confidence, method
            ),
        },
    )


def calibrate(
    pairs: LabelledPairs,
    target_precision: float,
    scorer: Scorer = "cross_encoder",
    settings: BiEncoderSettings | CrossEncoderSettings | None = None,
    *,
    rule: Rule = "lower_bound",
    confidence: float = 0.95,
    method: IntervalMethod = "wilson",
    folds: int = 5,
    seed: int = 0,
    overlap: TrainingOverlap | None = None,
) -> Calibration:
    """Score ``pairs`` with ``scorer`` (see ``score_pairs``), calibrate on the scores with pairs
    grouped by shared texts, and estimate the result on ``folds`` held-out folds split by those
    groups (``folds`` 0: no estimate). ``overlap`` (from ``training.seen_pairs``) is recorded.
    """
    from rudatagen.filters.calibration_heldout import held_out_estimate, pair_groups

    scores = score_pairs(pairs, scorer, settings)
    groups = pair_groups(pairs.text_1, pairs.text_2)
    dumped = settings.model_dump(mode="json") if settings is not None else {}
    choice: dict[str, Any] = {"rule": rule, "confidence": confidence, "method": method}
    result = calibrate_scores(
        pairs.labels, scores, target_precision, scorer, dumped, groups=groups, **choice
    )
    result.skipped = dict(pairs.skipped)
    result.training_overlap = overlap
    if folds:
        result.held_out, result.held_out_note = held_out_estimate(
            pairs.labels, scores, groups, target_precision, folds=folds, seed=seed, **choice
        )
    return result
