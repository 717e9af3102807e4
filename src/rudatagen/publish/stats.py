"""Length and label statistics of a dataset's splits, for the card."""

from __future__ import annotations

from collections import Counter
from statistics import mean, median
from typing import Any


def _lengths(texts: list[str]) -> dict[str, float]:
    if not texts:
        return {"count": 0, "mean_chars": 0.0, "median_chars": 0.0, "min_chars": 0, "max_chars": 0}
    sizes = [len(t) for t in texts]
    return {
        "count": len(sizes),
        "mean_chars": round(mean(sizes), 1),
        "median_chars": float(median(sizes)),
        "min_chars": min(sizes),
        "max_chars": max(sizes),
    }


def split_stats(task: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-field text lengths; RuHNP: candidates per row; WANLI: label counts."""
    if task == "ruhnp":
        pos = [t for r in rows for t in r["pos"]]
        neg = [t for r in rows for t in r["neg"]]
        return {
            "rows": len(rows),
            "lengths": {
                "query": _lengths([r["query"] for r in rows]),
                "pos": _lengths(pos),
                "neg": _lengths(neg),
            },
            "labels": {"pos": len(pos), "neg": len(neg)},
            "mean_pos_per_row": round(len(pos) / len(rows), 2) if rows else 0.0,
            "mean_neg_per_row": round(len(neg) / len(rows), 2) if rows else 0.0,
        }
    return {
        "rows": len(rows),
        "premises": len({r["premise"] for r in rows}),
        "lengths": {
            "premise": _lengths([r["premise"] for r in rows]),
            "hypothesis": _lengths([r["hypothesis"] for r in rows]),
        },
        "labels": dict(sorted(Counter(r["label"] for r in rows).items())),
    }
