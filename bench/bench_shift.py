"""Benchmark of the shift statistics with their bootstrap (prints figures; not a test).

``shift_statistics`` (ROC-AUC, Cohen's d, KS, class means and medians under both models, their
changes, each with a paired, label-stratified percentile interval) on synthetic scored pairs, half
positive, half negative, shaped like issue 11's finding (every cosine up after training, better
separation). No encoding: that is ``bench_train.py``'s. Each size runs in a fresh subprocess, so
the peak RSS (``resource.getrusage(...).ru_maxrss``, the process's high-water mark) is that
size's alone; "base MB" is the RSS with the scores in memory, "peak MB" the high-water mark after
the call, so their difference is what the statistics themselves held at most.

    .venv/bin/python bench/bench_shift.py [--sizes 100000 1000000] [--resamples 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from typing import Any

import numpy as np
import psutil

from rudatagen.evaluation.settings import BootstrapSettings
from rudatagen.evaluation.shift_stats import shift_statistics


def scored_pairs(size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cosines before and after of ``size`` pairs: after training all sit higher and the raw gap
    shrinks, but there is less noise around each pair's latent similarity."""
    rng = np.random.default_rng(seed)
    labels = np.r_[np.ones(size // 2), np.zeros(size - size // 2)]
    latent = labels + rng.normal(0, 1, size)
    before = np.clip(0.70 + 0.10 * (latent + rng.normal(0, 1, size)), -1, 1)
    after = np.clip(0.85 + 0.05 * (latent + 0.4 * rng.normal(0, 1, size)), -1, 1)
    return before, after, labels


def peak_mb() -> float:
    """The peak resident set size of this process so far (``ru_maxrss`` is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(size: int, resamples: int) -> dict[str, Any]:
    before, after, labels = scored_pairs(size)
    base = psutil.Process().memory_info().rss / 2**20
    wall, cpu = time.perf_counter(), time.process_time()
    result = shift_statistics(before, after, labels, BootstrapSettings(n_resamples=resamples))
    auc = result["scale_free"]["roc_auc"]["change"]
    return {
        "size": size,
        "wall_s": time.perf_counter() - wall,
        "cpu_s": time.process_time() - cpu,
        "base_mb": base,
        "peak_mb": peak_mb(),
        "verdict": result["verdict"],
        "auc_change": f"{auc['value']:+.4f} [{auc['low']:+.4f}, {auc['high']:+.4f}]",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.resamples)))
        return

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{os.cpu_count()} CPUs, load average {load}; {args.resamples} resamples")
    header = ("pairs", "wall s", "CPU s", "base MB", "peak MB")
    print("".join(f"{name:>9}" for name in header) + "  verdict, ROC-AUC change")
    for size in args.sizes:
        command = [sys.executable, __file__, "--child", str(size)]
        command += ["--resamples", str(args.resamples)]
        run = subprocess.run(command, capture_output=True, text=True, check=True)
        figures = json.loads(run.stdout.strip().splitlines()[-1])
        print(
            f"{figures['size']:>9}{figures['wall_s']:>9.1f}{figures['cpu_s']:>9.1f}"
            f"{figures['base_mb']:>9.0f}{figures['peak_mb']:>9.0f}  {figures['verdict']}, "
            f"{figures['auc_change']}"
        )


if __name__ == "__main__":
    main()
