"""Benchmark of evaluate's statistics path (prints figures; not a test).

On synthetic scored pairs (40% positive, float32 cosines as a model gives them, so some tie; a
gold score for Spearman; a second "model" whose positives sit a little higher), no encoding
(that is ``bench_train.py``'s):

- ``thresholds``: ``pair_classification`` (one sort-and-sweep: AP, ROC-AUC, best F1 and best
  accuracy with their thresholds);
- ``intervals``: the percentile bootstrap intervals of AP, ROC-AUC and best F1;
- ``spearman``: Spearman and its interval;
- ``paired``: the paired comparison B − A of AP, ROC-AUC and best F1 with intervals;
- ``old`` / ``new`` (at ``--old-size``): the O(N²) ``best_accuracy`` + ``best_f1`` this replaced
  (kept as the reference in ``tests/test_evaluate_stats.py``) against the sweep; same results.

Each (step, size) runs in a fresh subprocess, so the peak RSS (``ru_maxrss``, the process's
high-water mark) is that step's alone; "base MB" is the RSS with the arrays built, so peak − base
is what the step held at most.

    .venv/bin/python bench/bench_evaluate.py [--sizes 100000 1000000] [--resamples 1000]
        [--old-size 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import psutil

from _common import REPO  # noqa: F401  (puts the repository on sys.path, for tests.*)
from rudatagen.evaluation.intervals import (
    PairMetrics,
    SpearmanMetric,
    metric_intervals,
    paired_differences,
)
from rudatagen.evaluation.settings import BootstrapSettings
from rudatagen.evaluation.stats import best_accuracy, best_f1, pair_classification, spearman

STEPS = ("thresholds", "intervals", "spearman", "paired")


def scored_pairs(size: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = (rng.random(size) < 0.4).astype(int)
    latent = labels + rng.normal(0, 1, size)
    cosine = np.clip(0.55 + 0.12 * latent, -1, 1).astype(np.float32).astype(np.float64)
    better = np.clip(cosine + 0.01 * labels, -1, 1).astype(np.float32).astype(np.float64)
    return {
        "labels": labels,
        "a": cosine,
        "b": better,
        "gold": np.clip(2.5 + 1.2 * latent + rng.normal(0, 0.8, size), 0, 5),
    }


def _best_text(accuracy: tuple[float, float], f1: dict[str, float]) -> str:
    return f"acc {accuracy[0]:.4f} at {accuracy[1]:.6f}, F1 {f1['f1']:.4f} at {f1['threshold']:.6f}"


def _step(name: str, data: dict[str, np.ndarray], settings: BootstrapSettings) -> Callable[[], str]:
    """The work of one step, returning a short summary of its result."""
    labels, a, b, gold = data["labels"], data["a"], data["b"], data["gold"]

    def thresholds() -> str:
        result = pair_classification(a, labels)
        return f"AP {result['ap']:.4f}, F1 {result['f1']:.4f} at {result['f1_threshold']:.4f}"

    def intervals() -> str:
        ap = metric_intervals(PairMetrics(a, labels), settings)["ap"]
        return f"AP [{ap['low']:.4f}, {ap['high']:.4f}]"

    def rho() -> str:
        value = spearman(a, gold)
        interval = metric_intervals(SpearmanMetric(a, gold), settings)["spearman"]
        return f"ρ {value:.4f} [{interval['low']:.4f}, {interval['high']:.4f}]"

    def paired() -> str:
        row = paired_differences(PairMetrics(a, labels), PairMetrics(b, labels), settings)["ap"]
        return f"AP B − A {row['difference']:+.4f} [{row['low']:+.4f}, {row['high']:+.4f}]"

    def old() -> str:
        from tests.test_evaluate_stats import brute_force_best_accuracy, brute_force_best_f1

        return _best_text(brute_force_best_accuracy(a, labels), brute_force_best_f1(a, labels))

    def new() -> str:
        return _best_text(best_accuracy(a, labels), best_f1(a, labels))

    steps = {"thresholds": thresholds, "intervals": intervals, "spearman": rho, "paired": paired}
    return {**steps, "old": old, "new": new}[name]


def child(step: str, size: int, resamples: int) -> dict[str, Any]:
    data = scored_pairs(size)
    work = _step(step, data, BootstrapSettings(n_resamples=resamples))
    import scipy.stats  # noqa: F401  (imported before the clock starts: not the statistics' cost)
    import sklearn.metrics  # noqa: F401

    base = psutil.Process().memory_info().rss / 2**20
    wall, cpu = time.perf_counter(), time.process_time()
    summary = work()
    return {
        "step": step,
        "size": size,
        "wall_s": time.perf_counter() - wall,
        "cpu_s": time.process_time() - cpu,
        "base_mb": base,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "result": summary,
    }


def run(step: str, size: int, resamples: int) -> None:
    command = [sys.executable, __file__, "--child", step, str(size), "--resamples", str(resamples)]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    figures = json.loads(output.strip().splitlines()[-1])
    print(
        f"{figures['step']:>11}{figures['size']:>9}{figures['wall_s']:>9.2f}"
        f"{figures['cpu_s']:>9.2f}{figures['base_mb']:>9.0f}{figures['peak_mb']:>9.0f}  "
        f"{figures['result']}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--old-size", type=int, default=20_000)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]), args.resamples)))
        return

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{os.cpu_count()} CPUs, load average {load}; {args.resamples} resamples per interval")
    header = ("step", "pairs", "wall s", "CPU s", "base MB", "peak MB")
    print(f"{header[0]:>11}" + "".join(f"{name:>9}" for name in header[1:]) + "  result")
    for step in ("old", "new"):
        run(step, args.old_size, args.resamples)
    for size in args.sizes:
        for step in STEPS:
            run(step, size, args.resamples)


if __name__ == "__main__":
    main()
