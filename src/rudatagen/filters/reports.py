"""Filter reports: the funnel (JSON and a Markdown table) and score histograms per label."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rudatagen.filters.candidates import LABEL_NAMES, NON_PARAPHRASE, PARAPHRASE, CandidateTable
from rudatagen.filters.pipeline import StageCounts

LABELS = (LABEL_NAMES[PARAPHRASE], LABEL_NAMES[NON_PARAPHRASE])


def funnel_dict(
    stages: list[StageCounts],
    *,
    candidates_in: dict[str, int],
    dropped_with_records: dict[str, int],
    candidates_out: dict[str, int],
    records: dict[str, int],
) -> dict[str, Any]:
    """Everything needed to check that counts add up: in − Σ rejected − dropped = out."""
    return {
        "candidates_in": candidates_in,
        "stages": [stage.as_dict() for stage in stages],
        "dropped_with_records": dropped_with_records,
        "candidates_out": candidates_out,
        "records": records,
    }


def funnel_markdown(funnel: dict[str, Any]) -> str:
    header = "| stage | " + " | ".join(f"{label} in | out | rejected" for label in LABELS)
    lines = [
        "# Filter funnel",
        "",
        header + " | top rules |",
        "|---|" + "---:|" * (3 * len(LABELS)) + "---|",
    ]
    for stage in funnel["stages"]:
        cells = []
        for label in LABELS:
            c = stage[label]
            cells += [str(c["in"]), str(c["out"]), str(c["rejected"])]
        rules = ", ".join(f"{k} ({v})" for k, v in list(stage["rejected_by_rule"].items())[:3])
        lines.append(f"| {stage['filter']} | " + " | ".join(cells) + f" | {rules} |")
    dropped = funnel["dropped_with_records"]
    out = funnel["candidates_out"]
    cells = []
    for label in LABELS:
        cells += [str(out[label] + dropped[label]), str(out[label]), str(dropped[label])]
    lines.append("| records below min_pos/min_neg | " + " | ".join(cells) + " | |")
    lines += [
        "",
        f"Candidates in: {funnel['candidates_in']}; out: {out}.",
        f"Records: {funnel['records']}.",
        "",
    ]
    return "\n".join(lines)


def write_histograms(table: CandidateTable, directory: Path) -> list[Path]:
    """One PNG per score column: the distribution per intended label, overlaid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for column, values in sorted(table.scores.items()):
        figure, axis = plt.subplots(figsize=(7, 4))
        finite = np.isfinite(values)
        if not finite.any():
            plt.close(figure)
            continue
        bins = np.histogram_bin_edges(values[finite], bins=40)
        for value, colour in ((PARAPHRASE, "tab:green"), (NON_PARAPHRASE, "tab:red")):
            mask = finite & (table.label == value)
            axis.hist(
                values[mask],
                bins=bins,
                alpha=0.55,
                color=colour,
                label=f"{LABEL_NAMES[value]} (n={int(mask.sum())})",
            )
        axis.set_title(column)
        axis.set_xlabel("score")
        axis.set_ylabel("candidates")
        axis.legend()
        figure.tight_layout()
        path = directory / f"{column}.png"
        figure.savefig(path, dpi=100)
        plt.close(figure)
        written.append(path)
    return written
