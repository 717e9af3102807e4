"""``rudatagen evaluate``: pair classification, triplet accuracy and STS Spearman per dataset.

For each model, ``OUT/{model}.json`` and ``OUT/{model}.md`` (one Markdown table, a row per
dataset). Similarities are cosines of normalised embeddings, with the prefixes of each side's
role (see :mod:`rudatagen.evaluation.encode`).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from rudatagen.core.manifest import InputRef, Manifest, write_json_atomic
from rudatagen.evaluation.encode import Encoder
from rudatagen.evaluation.pairsets import PairSet, as_dict_counts
from rudatagen.evaluation.stats import pair_classification, spearman, triplet_accuracy

COLUMNS = ("pairs", "ap", "f1", "accuracy", "roc_auc", "triplet_accuracy", "spearman")


def model_slug(name: str) -> str:
    """A file name for a model: the last two parts of its folder or Hub id (``org__name``)."""
    parts = [p for p in re.split(r"[\\/]+", name.rstrip("/")) if p and p not in (".", "..")]
    tail = "__".join(parts[-2:]) if parts else "model"
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", tail) or "model"


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


def evaluate_set(encoder: Encoder, pairs: PairSet, progress: bool = False) -> dict[str, Any]:
    sims = pair_similarities(encoder, pairs, progress)
    result: dict[str, Any] = as_dict_counts(pairs)
    labels = np.array([-1 if x is None else x for x in pairs.labels])
    mask = labels >= 0
    if pairs.positives and pairs.negatives:
        result.update(pair_classification(sims["pairs"][mask], labels[mask]))
    if pairs.triplets:
        result["triplet_accuracy"] = triplet_accuracy(sims["triplet_pos"], sims["triplet_neg"])
    if pairs.gold:
        result["spearman"] = spearman(sims["pairs"], np.array(pairs.gold))
    return result


def markdown_table(model: str, results: dict[str, dict[str, Any]]) -> str:
    lines = [
        f"### {model}",
        "",
        "| dataset | " + " | ".join(COLUMNS) + " |",
        "|---|" + "---|" * len(COLUMNS),
    ]
    for name, metrics in results.items():
        cells = []
        for column in COLUMNS:
            value = metrics.get(column)
            cells.append(
                "" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)
            )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def report_manifest(
    stage: str, sets: list[PairSet], started: float, **facts: Any
) -> dict[str, Any]:
    """The JSON report of ``evaluate``/``shift``: a manifest naming every set it read."""
    seconds = round(time.perf_counter() - started, 3)
    return Manifest(
        stage=stage,
        inputs=[InputRef(path=pairs.source, kind=pairs.kind) for pairs in sets],
        counts={pairs.name: len(pairs.text1) for pairs in sets},
        wall_s=seconds,
        seconds=seconds,
        **facts,
    ).to_json()


def evaluate_model(
    encoder: Encoder, sets: list[PairSet], out: Path | None, progress: bool = False
) -> dict[str, Any]:
    """Metrics of one model on every set; written to ``out/{model}.json|.md`` when given."""
    started = time.perf_counter()
    results = {pairs.name: evaluate_set(encoder, pairs, progress) for pairs in sets}
    report = report_manifest(
        "evaluate", sets, started, model=encoder.name, prefixes=encoder.prefixes, datasets=results
    )
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        slug = model_slug(encoder.name)
        write_json_atomic(out / f"{slug}.json", report)
        (out / f"{slug}.md").write_text(markdown_table(encoder.name, results), encoding="utf-8")
    return report
