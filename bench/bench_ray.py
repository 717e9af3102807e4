"""Benchmark of the Ray executor (issue #13; prints figures; not a test).

A real local Ray cluster (``ray start --head`` on 127.0.0.1, 2 CPUs) and the embedded Gemma 3
270M through in-process llama.cpp, one thread each (prompt and generation):

1. 2 replicas against 1 replica on Ray: items/s ratio (2 cores: near 2x).
2. 1 replica on Ray against the local executor: items/s ratio (goal >= 0.9).

Every run is the ``rudatagen generate`` command a user types, in a process of its own (its
start, joining the cluster and its exit included), over the same ``--items`` sources into a
fresh directory (no cache to reuse); units of one source. Two rates: end to end (the command's
wall time) and while generating (Ray: from the first unit's start to the last unit's end, the
manifest's ``executor.units_s``; local: the manifest's ``wall_s``, the model's loading in both).
The sides alternate, local -> 1 replica -> 2 replicas and back (``--rounds`` passes), and each
side's rates are averaged, so a drift of a shared machine falls on every side alike; a 2-item
Ray run first starts the fresh cluster's workers (not measured). Each Ray run also prints the
manifest's ``startup_s`` (from the pool's start to the first unit: workers, model handed over).

    .venv/bin/python bench/bench_ray.py [--items 40] [--rounds 2]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from statistics import mean

from _common import REPO, WIKI, int_options, ratio_line

CLI = str(REPO / ".venv" / "bin" / "rudatagen")
SETTINGS = (
    "ruhnp.n_paraphrases=1",
    "ruhnp.n_non_paraphrases=1",
    "ruhnp.n_examples=0",
    "llm.max_tokens=200",
    "llm.llamacpp.n_threads=1",
    "llm.llamacpp.n_threads_batch=1",
    "executor.batch_size=1",
)


def run(items: int, out: Path, where: list[str]) -> tuple[float, float]:
    """One ``rudatagen generate`` of ``items`` sources into ``out``: items/s end to end and
    while generating."""
    command = [CLI, "generate", "ruhnp", "--source", str(WIKI), "--out", str(out)]
    command += ["--limit", str(items), "--no-progress", *where]
    for setting in SETTINGS:
        command += ["--set", setting]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=os.environ)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{out.name} failed: {result.stderr.strip()[-2000:]}")
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    facts = manifest.get("executor", {})
    working = facts.get("units_s", manifest["wall_s"])
    counts = manifest["counts"]
    line = (
        f"  {out.name}: {counts['rows']} rows, {counts['failed']} failed; {seconds:.1f}s end to end"
    )
    if "startup_s" in facts:
        line += f", startup_s {facts['startup_s']:.1f}, units_s {facts['units_s']:.1f}"
    else:
        line += f", generating {working:.1f}s"
    print(line, flush=True)
    return items / seconds, items / working


def main() -> None:
    from tests.support.ray_cluster import start_ray_cluster  # importable once _common ran

    options = int_options(__doc__ or "", items=40, rounds=2)
    root = Path(tempfile.mkdtemp(prefix="rdg-bench-ray-", dir="/tmp"))
    cluster = start_ray_cluster(root / "r", num_cpus=2)
    on_ray = ["--ray-address", cluster.address]
    sides = {
        "local": ["--executor", "local"],
        "ray-1-replica": [*on_ray, "--set", "executor.replicas=1"],
        "ray-2-replicas": [*on_ray, "--set", "executor.replicas=2"],
    }
    print(f"{options.items} items, {options.rounds} rounds; load average {os.getloadavg()}")
    started = time.perf_counter()
    try:
        # Ray's first job on a fresh cluster also starts its worker processes: not measured
        run(2, root / "warm-up", sides["ray-2-replicas"])
        rates: dict[str, list[tuple[float, float]]] = {side: [] for side in sides}
        for index in range(options.rounds):
            order = list(sides) if index % 2 == 0 else list(reversed(sides))
            for side in order:
                out = root / f"{side}-{index + 1}"
                rates[side].append(run(options.items, out, sides[side]))
        averaged = {
            side: [mean(r[i] for r in runs) for i in (0, 1)] for side, runs in rates.items()
        }
        one, two, local = averaged["ray-1-replica"], averaged["ray-2-replicas"], averaged["local"]
        for index, what in enumerate(("end to end", "while generating")):
            print(ratio_line(f"2 replicas vs 1, {what}", two[index], one[index], 1.8, "items/s"))
            print(
                ratio_line(f"1 replica vs local, {what}", one[index], local[index], 0.9, "items/s")
            )
        print(f"{time.perf_counter() - started:.0f}s in all; load average {os.getloadavg()}")
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
