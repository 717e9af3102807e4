"""Score histograms: one PNG per score column, the distribution per intended label, overlaid."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rudatagen.kinds.candidates import CandidateTable

_COLOURS = ("tab:green", "tab:red", "tab:blue", "tab:orange", "tab:purple", "tab:brown")


def write_histograms(table: CandidateTable, directory: Path) -> list[Path]:
    """``directory/<score column>.png`` for every score column with a finite value."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for column, values in sorted(table.scores.items()):
        finite = np.isfinite(values)
        if not finite.any():
            continue
        figure, axis = plt.subplots(figsize=(7, 4))
        bins = np.histogram_bin_edges(values[finite], bins=40)
        for code, label in enumerate(table.labels):
            mask = finite & (table.label == code)
            if not mask.any():
                continue
            axis.hist(
                values[mask],
                bins=bins,
                alpha=0.55,
                color=_COLOURS[code % len(_COLOURS)],
                label=f"{label} (n={int(mask.sum())})",
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
