"""``rudatagen shift``: did training move negative pairs away from positive ones?

For every pair set, the cosine similarities of its positive and negative pairs under the model
before and after training; ``OUT/shift.json`` (statistics and verdicts, see
:func:`rudatagen.evaluation.stats.shift` for the rule), ``OUT/figures/{set}.png`` (before and
after side by side, positives and negatives overlaid) and ``OUT/report.md`` linking them.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from rudatagen.core.manifest import write_json_atomic
from rudatagen.evaluation.encode import Encoder
from rudatagen.evaluation.evaluate import pair_similarities, report_manifest
from rudatagen.evaluation.pairsets import PairSet
from rudatagen.evaluation.stats import shift


def _classes(pairs: PairSet, sims: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    labels = np.array([-1 if x is None else x for x in pairs.labels])
    return sims[labels == 1], sims[labels == 0]


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", name).strip("_") or "dataset"


def _short(name: str) -> str:
    """The last two parts of a model path or Hub id, for figure titles."""
    return "/".join([p for p in re.split(r"[\\/]+", name.rstrip("/")) if p][-2:])


def plot_shift(
    path: Path,
    title: str,
    before: tuple[np.ndarray, np.ndarray],
    after: tuple[np.ndarray, np.ndarray],
    labels: tuple[str, str],
    stats: dict[str, Any],
) -> None:
    """One PNG: two panels (before | after), positive and negative histograms overlaid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = np.concatenate([*before, *after])
    low, high = float(min(values.min(), 0.0)), float(max(values.max(), 1.0))
    bins = np.linspace(low, high, 41)
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.2), sharex=True, sharey=True)
    for axis, (pos, neg), label, key in zip(
        axes, (before, after), labels, ("before", "after"), strict=True
    ):
        part = stats[key]
        axis.hist(
            pos,
            bins=bins,
            alpha=0.55,
            color="tab:green",
            density=True,
            label=f"positive pairs (n={pos.size}, mean {part['positive']['mean']:.3f})",
        )
        axis.hist(
            neg,
            bins=bins,
            alpha=0.55,
            color="tab:red",
            density=True,
            label=f"negative pairs (n={neg.size}, mean {part['negative']['mean']:.3f})",
        )
        axis.axvline(part["positive"]["mean"], color="tab:green", linestyle="--", linewidth=1)
        axis.axvline(part["negative"]["mean"], color="tab:red", linestyle="--", linewidth=1)
        axis.set_title(
            f"{key}: {_short(label)}\nKS {part['ks']:.3f}, ROC-AUC {part['roc_auc']:.3f}",
            fontsize=9,
        )
        axis.set_xlabel("cosine similarity")
        axis.legend(fontsize=8, loc="upper left")
    axes[0].set_ylabel("density")
    verdict = (
        "negatives moved away" if stats["negatives_moved_away"] else "negatives did NOT move away"
    )
    figure.suptitle(f"{title}: {verdict} (gap change {stats['gap_change']:+.3f})", fontsize=11)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _report_markdown(result: dict[str, Any]) -> str:
    lines = [
        "# Cosine-distribution shift",
        "",
        f"- before: `{result['before']}`",
        f"- after: `{result['after']}`",
        f"- rule: {result['rule']}",
        "",
        "| dataset | pos / neg pairs | mean pos (before → after) | mean neg (before → after) | "
        "neg moved | gap change | KS (before → after) | ROC-AUC (before → after) | verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, item in result["datasets"].items():
        b, a = item["before"], item["after"]
        lines.append(
            f"| {name} | {b['positive']['n']} / {b['negative']['n']} | "
            f"{b['positive']['mean']:.3f} → {a['positive']['mean']:.3f} | "
            f"{b['negative']['mean']:.3f} → {a['negative']['mean']:.3f} | "
            f"{item['negative_mean_moved']:+.3f} | {item['gap_change']:+.3f} | "
            f"{b['ks']:.3f} → {a['ks']:.3f} | {b['roc_auc']:.3f} → {a['roc_auc']:.3f} | "
            f"{'moved away' if item['negatives_moved_away'] else 'did not move away'} |"
        )
    lines.append("")
    for name, item in result["datasets"].items():
        b, a = item["before"], item["after"]
        lines += [
            f"## {name}",
            "",
            f"![{name}: before and after]({item['figure']})",
            "",
            "| | positive mean | positive median | negative mean | negative median | gap | KS "
            "| ROC-AUC |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for key, part in (("before", b), ("after", a)):
            lines.append(
                f"| {key} | {part['positive']['mean']:.4f} | {part['positive']['median']:.4f} | "
                f"{part['negative']['mean']:.4f} | {part['negative']['median']:.4f} | "
                f"{part['gap']:.4f} | {part['ks']:.4f} | {part['roc_auc']:.4f} |"
            )
        lines += [
            "",
            f"Negatives moved by {item['negative_mean_moved']:+.4f} (mean), "
            f"{item['negative_median_moved']:+.4f} (median); positives by "
            f"{item['positive_mean_moved']:+.4f}.",
            "",
        ]
    return "\n".join(lines)


def run_shift(
    before: Encoder, after: Encoder, sets: list[PairSet], out: Path, progress: bool = False
) -> dict[str, Any]:
    """Statistics, figures and the report for every set with both positive and negative pairs."""
    from rudatagen.errors import RudatagenError

    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    datasets: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    for pairs in sets:
        if not (pairs.positives and pairs.negatives):
            skipped[pairs.name] = "needs both positive and negative pairs"
            continue
        b = _classes(pairs, pair_similarities(before, pairs, progress)["pairs"])
        a = _classes(pairs, pair_similarities(after, pairs, progress)["pairs"])
        stats = shift(b[0], b[1], a[0], a[1])
        figure = Path("figures") / f"{_slug(pairs.name)}.png"
        plot_shift(out / figure, pairs.name, b, a, (before.name, after.name), stats)
        datasets[pairs.name] = {**stats, "figure": figure.as_posix()}
    if not datasets:
        raise RudatagenError(f"no dataset has both positive and negative pairs: {skipped}")
    result = report_manifest(
        "shift",
        sets,
        started,
        before=before.name,
        after=after.name,
        prefixes={"before": before.prefixes, "after": after.prefixes},
        rule=next(iter(datasets.values()))["rule"],
        datasets=datasets,
        skipped=skipped,
    )
    write_json_atomic(out / "shift.json", result)
    (out / "report.md").write_text(_report_markdown(result), encoding="utf-8")
    return result
