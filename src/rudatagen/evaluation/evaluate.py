"""``rudatagen evaluate``: pair classification, triplet accuracy and STS Spearman per dataset, with
bootstrap intervals, and a paired comparison when several models are evaluated.

For each model, ``OUT/{model}.json`` and ``OUT/{model}.md`` (one Markdown table, a row per
dataset). Similarities are cosines of normalised embeddings, with the prefixes of each side's
role (see :mod:`rudatagen.evaluation.encode`). AP, ROC-AUC, best F1 and Spearman come with
percentile bootstrap intervals (:mod:`rudatagen.evaluation.intervals`). Every model after the
first is compared with the first on the same pairs: the difference of each of those metrics with
its paired interval, and a plain statement, in that model's JSON (``comparison``) and Markdown.
Retrieval sets (a retrieval split, a BEIR folder) get nDCG/MRR/Recall/MAP with intervals
(:mod:`rudatagen.evaluation.retrieval`), in a table of their own, and in the comparison the
difference of each with its paired interval over the same queries.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rudatagen.core.manifest import InputRef, Manifest, write_json_atomic
from rudatagen.evaluation.encode import Encoder
from rudatagen.evaluation.intervals import (
    Metric,
    PairMetrics,
    SpearmanMetric,
    describe,
    metric_intervals,
    paired_differences,
)
from rudatagen.evaluation.pairsets import PairSet, as_dict_counts
from rudatagen.evaluation.retrieval import (
    METRIC_LABELS,
    RetrievalScores,
    markdown_rows,
    paired_retrieval_differences,
    retrieval_report,
    score_retrieval,
)
from rudatagen.evaluation.settings import BootstrapSettings
from rudatagen.evaluation.stats import pair_classification, spearman, triplet_accuracy
from rudatagen.kinds.shapes import RetrievalSet
from rudatagen.training.merge import read_merge

EvaluationSet = PairSet | RetrievalSet

COLUMNS = ("pairs", "ap", "f1", "accuracy", "roc_auc", "triplet_accuracy", "spearman")
METRIC_NAMES = {
    "ap": "AP",
    "roc_auc": "ROC-AUC",
    "f1": "best F1",
    "spearman": "Spearman",
    **METRIC_LABELS,
}


def model_slug(name: str) -> str:
    """A file name for a model: the last two parts of its folder or Hub id (``org__name``)."""
    parts = [p for p in re.split(r"[\\/]+", name.rstrip("/")) if p and p not in (".", "..")]
    tail = "__".join(parts[-2:]) if parts else "model"
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", tail) or "model"


def unique_slugs(names: list[str]) -> list[str]:
    """The file name of each model; a repeated one gets ``-2``, ``-3``, … (no report overwrites
    another, even for the same model given twice)."""
    seen: Counter[str] = Counter()
    slugs = []
    for name in names:
        slug = model_slug(name)
        seen[slug] += 1
        slugs.append(slug if seen[slug] == 1 else f"{slug}-{seen[slug]}")
    return slugs


def pair_similarities(encoder: Encoder, pairs: PairSet, progress: bool = False) -> dict[str, Any]:
    """Cosines of the pairs and of the triplets' (anchor, pos) and (anchor, neg)."""
    sides = [(encoder.prefix(pairs.role1, pairs.text1), encoder.prefix(pairs.role2, pairs.text2))]
    if pairs.triplets:
        anchors = encoder.prefix(pairs.role1, [t[0] for t in pairs.triplets])
        sides.append((anchors, encoder.prefix(pairs.role2, [t[1] for t in pairs.triplets])))
        sides.append((anchors, encoder.prefix(pairs.role2, [t[2] for t in pairs.triplets])))
    sims = encoder.similarities(sides, progress)
    return {
        "pairs": sims[0],
        "triplet_pos": sims[1] if pairs.triplets else None,
        "triplet_neg": sims[2] if pairs.triplets else None,
    }


@dataclass
class ModelScores:
    """One model's similarities on every pair set and per-query values on every retrieval set
    (by set name): kept to compare models on the same pairs and queries. ``label``: the short
    name statements use (its report's file name)."""

    name: str
    label: str
    sets: dict[str, dict[str, Any]] = field(default_factory=dict)
    retrieval: dict[str, RetrievalScores] = field(default_factory=dict)


def _labelled(pairs: PairSet, cosines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The cosines and labels of the pairs in pair classification (labelled 1 or 0)."""
    labels = np.array([-1 if x is None else x for x in pairs.labels])
    mask = labels >= 0
    return cosines[mask], labels[mask]


def _metrics(pairs: PairSet, cosines: np.ndarray) -> list[Metric]:
    """The resampled metrics of a set: AP/ROC-AUC/F1 when it has both classes, Spearman when it
    has gold scores."""
    metrics: list[Metric] = []
    if pairs.positives and pairs.negatives:
        metrics.append(PairMetrics(*_labelled(pairs, cosines)))
    if pairs.gold:
        metrics.append(SpearmanMetric(cosines, np.array(pairs.gold)))
    return metrics


def evaluate_set(
    pairs: PairSet, sims: dict[str, Any], bootstrap: BootstrapSettings
) -> dict[str, Any]:
    """Every metric of one set from its similarities, with the intervals (``intervals``)."""
    result: dict[str, Any] = as_dict_counts(pairs)
    if pairs.positives and pairs.negatives:
        result.update(pair_classification(*_labelled(pairs, sims["pairs"])))
    if pairs.triplets:
        result["triplet_accuracy"] = triplet_accuracy(sims["triplet_pos"], sims["triplet_neg"])
    if pairs.gold:
        result["spearman"] = spearman(sims["pairs"], np.array(pairs.gold))
    intervals: dict[str, Any] = {}
    for metric in _metrics(pairs, sims["pairs"]):
        intervals.update(metric_intervals(metric, bootstrap))
    if intervals:
        result["intervals"] = intervals
    return result


def statement(model: str, baseline: str, metric: str, row: dict[str, Any]) -> str:
    """``B is better than A on AP by 0.031 [0.012, 0.050], n=1234``; ``no difference shown``
    when the interval of B − A covers 0."""
    name, difference, n = METRIC_NAMES[metric], row["difference"], row["n"]
    low, high = row["low"], row["high"]
    if low is None or high is None:
        return f"{model} − {baseline} on {name}: {difference:+.3f} (no interval), n={n}"
    if low > 0 or high < 0:
        word = "better" if low > 0 else "worse"
        near, far = sorted((abs(low), abs(high)))
        return (
            f"{model} is {word} than {baseline} on {name} by {abs(difference):.3f} "
            f"[{near:.3f}, {far:.3f}], n={n}"
        )
    return (
        f"no difference shown on {name}: {model} − {baseline} = {difference:+.3f} "
        f"[{low:+.3f}, {high:+.3f}], n={n}"
    )


def compare_models(
    baseline: ModelScores,
    model: ModelScores,
    sets: list[PairSet] | list[EvaluationSet],
    bootstrap: BootstrapSettings,
) -> dict[str, Any]:
    """``model − baseline`` of AP, ROC-AUC, best F1 and Spearman on every pair set, and of the
    retrieval metrics on every retrieval set, each with its paired bootstrap interval (the same
    resampled pairs or queries under both models) and statement."""
    datasets: dict[str, Any] = {}
    for pairs in sets:
        rows: dict[str, Any] = {}
        if isinstance(pairs, RetrievalSet):
            rows = paired_retrieval_differences(
                baseline.retrieval[pairs.name], model.retrieval[pairs.name], bootstrap
            )
        else:
            before = _metrics(pairs, baseline.sets[pairs.name]["pairs"])
            after = _metrics(pairs, model.sets[pairs.name]["pairs"])
            for first, second in zip(before, after, strict=True):
                rows.update(paired_differences(first, second, bootstrap))
        for metric, row in rows.items():
            row["statement"] = statement(model.label, baseline.label, metric, row)
        datasets[pairs.name] = rows
    return {
        "baseline": baseline.name,
        "model": model.name,
        "labels": {"baseline": baseline.label, "model": model.label},
        "difference": "model − baseline (higher is better for every metric)",
        "rule": (
            f"better/worse when the {bootstrap.confidence_level:.0%} paired interval of the "
            "difference lies wholly above/below 0; no difference shown when it covers 0"
        ),
        "datasets": datasets,
    }


def _cell(value: Any, interval: dict[str, float] | None) -> str:
    if value is None:
        return ""
    if not isinstance(value, float):
        return str(value)
    if interval is None:
        return f"{value:.4f}"
    return f"{value:.4f} [{interval['low']:.4f}, {interval['high']:.4f}]"


def markdown_table(model: str, results: dict[str, dict[str, Any]]) -> str:
    """The pair sets' table, then the retrieval sets' (:func:`markdown_rows`), if any."""
    pairs = {name: r for name, r in results.items() if r.get("task") != "retrieval"}
    lines = [f"### {model}", ""]
    if pairs or not results:
        lines += ["| dataset | " + " | ".join(COLUMNS) + " |", "|---|" + "---|" * len(COLUMNS)]
    for name, metrics in pairs.items():
        intervals = metrics.get("intervals", {})
        cells = [_cell(metrics.get(column), intervals.get(column)) for column in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    retrieval = markdown_rows(results)
    if retrieval:
        lines += ["", *retrieval] if pairs else retrieval
    if any("intervals" in metrics for metrics in results.values()):
        lines += ["", "[low, high]: percentile bootstrap interval (see the JSON's `bootstrap`)."]
    return "\n".join(lines) + "\n"


def markdown_comparison(comparison: dict[str, Any], results: dict[str, dict[str, Any]]) -> str:
    """The comparison's heading, rule and statements. ``results`` (this model's figures per
    set) says what both models were scored on: pairs, queries (retrieval sets) or both."""
    labels = comparison["labels"]
    retrieval = [results[name].get("task") == "retrieval" for name in comparison["datasets"]]
    compared = "pairs and queries" if any(retrieval) else "pairs"
    if retrieval and all(retrieval):
        compared = "queries"
    lines = [
        f"### {labels['model']} vs {labels['baseline']}, on the same {compared}",
        "",
        f"`{labels['model']}`: {comparison['model']}; `{labels['baseline']}`: "
        f"{comparison['baseline']}. Rule: {comparison['rule']}.",
        "",
    ]
    for name, rows in comparison["datasets"].items():
        lines.append(f"- **{name}**")
        lines += [f"  - {row['statement']}" for row in rows.values()]
    return "\n".join(lines) + "\n"


def report_manifest(
    stage: str, sets: list[PairSet] | list[EvaluationSet], started: float, **facts: Any
) -> dict[str, Any]:
    """The JSON report of ``evaluate``/``shift``: a manifest naming every set it read (counts:
    pairs of a pair set, queries of a retrieval set)."""
    seconds = round(time.perf_counter() - started, 3)
    return Manifest(
        stage=stage,
        inputs=[InputRef(path=pairs.source, kind=pairs.kind) for pairs in sets],
        counts={
            pairs.name: len(pairs.queries if isinstance(pairs, RetrievalSet) else pairs.text1)
            for pairs in sets
        },
        wall_s=seconds,
        seconds=seconds,
        **facts,
    ).to_json()


def evaluate_model(
    encoder: Encoder,
    sets: list[PairSet] | list[EvaluationSet],
    out: Path | None,
    progress: bool = False,
    bootstrap: BootstrapSettings | None = None,
    baseline: ModelScores | None = None,
    slug: str | None = None,
) -> tuple[dict[str, Any], ModelScores]:
    """Metrics of one model on every set, with intervals, and the comparison with ``baseline``
    (another model's scores on the same sets) when given; written to ``out/{slug}.json|.md``.
    A retrieval set gets its retrieval metrics (:mod:`rudatagen.evaluation.retrieval`).

    Returns the report and this model's scores (to be the baseline of the next model).
    """
    bootstrap = bootstrap or BootstrapSettings()
    slug = slug or model_slug(encoder.name)
    started = time.perf_counter()
    scores = ModelScores(encoder.name, slug)
    results = {}
    for pairs in sets:
        if isinstance(pairs, RetrievalSet):
            scores.retrieval[pairs.name] = score_retrieval(encoder, pairs, progress)
            results[pairs.name] = retrieval_report(pairs, scores.retrieval[pairs.name], bootstrap)
            continue
        scores.sets[pairs.name] = pair_similarities(encoder, pairs, progress)
        results[pairs.name] = evaluate_set(pairs, scores.sets[pairs.name], bootstrap)
    facts: dict[str, Any] = {"bootstrap": describe(bootstrap)}
    if baseline is not None:
        facts["comparison"] = compare_models(baseline, scores, sets, bootstrap)
    merge = read_merge(encoder.name)  # a merged model: its parents and weights
    if merge is not None:
        facts["merge"] = merge
    report = report_manifest(
        "evaluate",
        sets,
        started,
        model=encoder.name,
        prefixes=encoder.prefixes,
        datasets=results,
        **facts,
    )
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out / f"{slug}.json", report)
        markdown = markdown_table(encoder.name, results)
        if merge is not None:
            markdown += f"\nA merge, {merge['summary']}.\n"
        if baseline is not None:
            markdown += "\n" + markdown_comparison(facts["comparison"], results)
        (out / f"{slug}.md").write_text(markdown, encoding="utf-8")
    return report, scores
