"""``rudatagen shift``: did training move negative pairs away from positive ones?

For every pair set, the cosine similarities of its positive and negative pairs under the model
before and after training, scored on the same pairs; the measures, their paired bootstrap
intervals and the verdict come from :mod:`rudatagen.evaluation.shift_stats`. Written:
``OUT/shift.json`` (every measure with its interval), ``OUT/figures/{set}.png`` (histograms
before | after, ROC curves of both), ``OUT/figures/{set}-cosines.png`` (the plain, scale-dependent
picture: where each class's cosines moved) and ``OUT/report.md`` linking them.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from rudatagen.core.manifest import write_json_atomic
from rudatagen.errors import RudatagenError
from rudatagen.evaluation.encode import Encoder
from rudatagen.evaluation.evaluate import pair_similarities, report_manifest
from rudatagen.evaluation.pairsets import PairSet
from rudatagen.evaluation.settings import BootstrapSettings
from rudatagen.evaluation.shift_stats import PRIMARY, describe, rule, shift_statistics

LABELS = {
    "roc_auc": "ROC-AUC",
    "cohens_d": "Cohen's d",
    "ks": "KS",
    "negative_mean": "negative mean",
    "negative_median": "negative median",
    "positive_mean": "positive mean",
    "positive_median": "positive median",
    "gap": "gap of means",
}
# run-wide facts: written once at the top of shift.json, not in every dataset
_RUN_FACTS = ("rule", "bootstrap", "primary")


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", name).strip("_") or "dataset"


def _short(name: str) -> str:
    """The last two parts of a model path or Hub id, for figure titles."""
    return "/".join([p for p in re.split(r"[\\/]+", name.rstrip("/")) if p][-2:])


def ci(item: dict[str, float], signed: bool = False) -> str:
    """``0.827 [0.812, 0.841]``: a value and its interval (``signed``: with ``+``/``−``)."""
    form = "+.3f" if signed else ".3f"
    return f"{item['value']:{form}} [{item['low']:{form}}, {item['high']:{form}}]"


def moved(item: dict[str, float]) -> str:
    """``moved left (down) by 0.123 [0.110, 0.135]``: a change as a distance in its direction
    (a bound below 0 means the interval reaches the other direction)."""
    if item["value"] == 0:
        return f"did not move ({ci(item, signed=True)})"
    if item["value"] < 0:
        return (
            f"moved left (down) by {-item['value']:.3f} [{-item['high']:.3f}, {-item['low']:.3f}]"
        )
    return f"moved right (up) by {item['value']:.3f} [{item['low']:.3f}, {item['high']:.3f}]"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_separation(
    path: Path,
    title: str,
    scores: dict[str, np.ndarray],
    labels: np.ndarray,
    models: dict[str, str],
    stats: dict[str, Any],
) -> None:
    """One PNG: positive and negative histograms before | after, and both ROC curves."""
    from sklearn.metrics import roc_curve

    plt = _pyplot()
    measures, confidence = stats["scale_free"], stats["bootstrap"]["confidence_level"]
    values = np.concatenate(list(scores.values()))
    bins = np.linspace(min(float(values.min()), 0.0), max(float(values.max()), 1.0), 41)
    figure, axes = plt.subplots(1, 3, figsize=(17, 4.6))
    for axis, key in zip(axes[:2], ("before", "after"), strict=True):
        for label, colour, name in ((1, "tab:green", "positive"), (0, "tab:red", "negative")):
            part = scores[key][labels == label]
            label_text = f"{name} pairs (n={part.size}, mean {part.mean():.3f})"
            axis.hist(part, bins=bins, alpha=0.55, color=colour, density=True, label=label_text)
            axis.axvline(part.mean(), color=colour, linestyle="--", linewidth=1)
        axis.set_title(
            f"{key}: {_short(models[key])}\nROC-AUC {ci(measures['roc_auc'][key])}, "
            f"d {ci(measures['cohens_d'][key])}, KS {ci(measures['ks'][key])}",
            fontsize=9,
        )
        axis.set_xlabel("cosine similarity")
        axis.legend(fontsize=8, loc="upper left")
    axes[0].set_ylabel("density")
    roc = axes[2]
    for key, style in (("before", "--"), ("after", "-")):
        false_pos, true_pos, _ = roc_curve(labels, scores[key])
        auc = measures["roc_auc"][key]
        roc.plot(false_pos, true_pos, style, label=f"{key}: AUC {ci(auc)}")
    roc.plot([0, 1], [0, 1], ":", color="grey", linewidth=1)
    roc.set_xlabel("false positive rate (negatives above the threshold)")
    roc.set_ylabel("true positive rate")
    roc.set_title(
        f"ROC curves: AUC change {ci(measures['roc_auc']['change'], signed=True)}", fontsize=9
    )
    roc.legend(fontsize=8, loc="lower right")
    change = ci(measures[PRIMARY]["change"], signed=True)
    figure.suptitle(
        f"{title}: {stats['verdict']} (ROC-AUC change {change}, {confidence:.0%} paired "
        "bootstrap interval)",
        fontsize=11,
    )
    _save(figure, path)


def plot_cosines(
    path: Path, title: str, scores: dict[str, np.ndarray], labels: np.ndarray, stats: dict
) -> None:
    """The plain picture: each class's cosines before and after, and how far they moved.

    Scale-dependent: a loss can move every cosine without changing how well they separate.
    """
    plt = _pyplot()
    where = stats["scale_dependent"]
    values = np.concatenate(list(scores.values()))
    bins = np.linspace(min(float(values.min()), 0.0), max(float(values.max()), 1.0), 41)
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.4), sharex=True)
    for axis, label, name in zip(axes, (0, 1), ("negative", "positive"), strict=True):
        colour = "tab:red" if label == 0 else "tab:green"
        # before as an outline, after filled: the eye reads the move from one to the other
        for key, style in (("before", {"histtype": "step", "linestyle": "--"}), ("after", {})):
            part = scores[key][labels == label]
            axis.hist(
                part,
                bins=bins,
                color=colour,
                density=True,
                alpha=0.8 if style else 0.45,
                linewidth=1.5,
                label=f"{key} (n={part.size})",
                **style,
            )
            axis.axvline(np.median(part), linestyle="--" if style else "-", color="k", linewidth=1)
        axis.set_title(
            f"{name} pairs {moved(where[f'{name}_mean']['change'])} (mean),\n"
            f"{moved(where[f'{name}_median']['change'])} (median)",
            fontsize=9,
        )
        axis.set_xlabel("cosine similarity (medians: dashed before, solid after)")
        axis.legend(fontsize=8, loc="upper left")
    axes[0].set_ylabel("density")
    figure.suptitle(
        f"{title}: where the cosines moved (scale-dependent: a loss can move every cosine "
        "without changing separation)",
        fontsize=10,
    )
    _save(figure, path)


def _save(figure: Any, path: Path) -> None:
    plt = _pyplot()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _measure_table(measures: dict[str, dict[str, dict[str, float]]]) -> list[str]:
    lines = ["| measure | before | after | change (after − before) |", "|---|---|---|---|"]
    for name, item in measures.items():
        lines.append(
            f"| {LABELS[name]} | {ci(item['before'])} | {ci(item['after'])} | "
            f"{ci(item['change'], signed=True)} |"
        )
    return lines


def report_markdown(result: dict[str, Any]) -> str:
    drawn = result["bootstrap"]
    level = f"{drawn['confidence_level']:.0%}"
    lines = [
        "# Cosine-distribution shift",
        "",
        f"- before: `{result['before']}`",
        f"- after: `{result['after']}`",
        f"- rule: {result['rule']}",
        f"- intervals: {level} {drawn['method']} bootstrap, {drawn['n_resamples']} resamples "
        "of the pairs (each resample scored by both models; positives and negatives resampled "
        f"separately), seed {drawn['seed']}",
        "",
        f"| dataset | pos / neg pairs | ROC-AUC before → after | ROC-AUC change [{level}] | "
        f"Cohen's d change [{level}] | KS change [{level}] | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, item in result["datasets"].items():
        m = item["scale_free"]
        lines.append(
            f"| {name} | {item['positives']} / {item['negatives']} | "
            f"{m['roc_auc']['before']['value']:.3f} → {m['roc_auc']['after']['value']:.3f} | "
            f"{ci(m['roc_auc']['change'], True)} | {ci(m['cohens_d']['change'], True)} | "
            f"{ci(m['ks']['change'], True)} | **{item['verdict']}** |"
        )
    lines.append("")
    for name, item in result["datasets"].items():
        where = item["scale_dependent"]
        lines += [
            f"## {name}",
            "",
            f"**{item['verdict']}** ({item['positives']} positive, {item['negatives']} negative "
            f"pairs; values with their {level} intervals).",
            "",
            f"![{name}: separation before and after]({item['figure']})",
            "",
            *_measure_table(item["scale_free"]),
            "",
            "### Where the cosines moved (scale-dependent)",
            "",
            f"Negative pairs {moved(where['negative_mean']['change'])} (mean), "
            f"{moved(where['negative_median']['change'])} (median); positive pairs "
            f"{moved(where['positive_mean']['change'])} (mean). These depend on where the loss "
            "puts the cosine scale (CoSENT, for one, moves every cosine up); the verdict does not.",
            "",
            f"![{name}: where the cosines moved]({item['cosine_figure']})",
            "",
            *_measure_table(where),
            "",
        ]
    return "\n".join(lines)


def run_shift(
    before: Encoder,
    after: Encoder,
    sets: list[PairSet],
    out: Path,
    progress: bool = False,
    bootstrap: BootstrapSettings | None = None,
) -> dict[str, Any]:
    """Statistics, figures and the report for every set with at least two positive and two
    negative pairs."""
    bootstrap = bootstrap or BootstrapSettings()
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    datasets: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    for pairs in sets:
        if pairs.positives < 2 or pairs.negatives < 2:
            skipped[pairs.name] = "needs at least 2 positive and 2 negative pairs"
            continue
        labels = np.array([-1 if x is None else x for x in pairs.labels])
        kept = labels >= 0
        scores = {
            key: pair_similarities(encoder, pairs, progress)["pairs"][kept]
            for key, encoder in (("before", before), ("after", after))
        }
        stats = shift_statistics(scores["before"], scores["after"], labels[kept], bootstrap)
        slug = _slug(pairs.name)
        figure, cosines = Path("figures") / f"{slug}.png", Path("figures") / f"{slug}-cosines.png"
        models = {"before": before.name, "after": after.name}
        plot_separation(out / figure, pairs.name, scores, labels[kept], models, stats)
        plot_cosines(out / cosines, pairs.name, scores, labels[kept], stats)
        entry = {key: value for key, value in stats.items() if key not in _RUN_FACTS}
        datasets[pairs.name] = {
            **entry,
            "figure": figure.as_posix(),
            "cosine_figure": cosines.as_posix(),
        }
    if not datasets:
        raise RudatagenError(f"no dataset has at least 2 positive and 2 negative pairs: {skipped}")
    result = report_manifest(
        "shift",
        sets,
        started,
        before=before.name,
        after=after.name,
        prefixes={"before": before.prefixes, "after": after.prefixes},
        rule=rule(bootstrap.confidence_level),
        primary=PRIMARY,
        bootstrap=describe(bootstrap),
        datasets=datasets,
        skipped=skipped,
    )
    write_json_atomic(out / "shift.json", result)
    (out / "report.md").write_text(report_markdown(result), encoding="utf-8")
    return result
