"""Benchmark of the Ray executor (issue #13; prints figures; not a test).

A real local Ray cluster (``ray start --head`` on 127.0.0.1, 2 CPUs) and the embedded Gemma 3
270M through in-process llama.cpp, one thread each (prompt and generation):

1. 2 replicas against 1 replica on Ray: items/s ratio (2 cores: near 2x).
2. 1 replica on Ray against the local executor: items/s ratio (goal >= 0.9).

Every run generates the same sources into a fresh directory (no cache to reuse). Two rates:
end to end (as a user waits, Ray's start-up of the replicas included) and while generating (Ray:
from the first unit's start to the last unit's end, the manifest's ``executor.units_s``; local:
the generation's own wall time). The local run goes first and last, and the two are averaged,
to soften the drift of a shared machine; a 2-item Ray run first warms the fresh cluster up.

    .venv/bin/python bench/bench_ray.py [--items 12]
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from _common import WIKI, int_options, ratio_line
from rudatagen.config import load_recipe
from rudatagen.executor.settings import ExecutorSettings
from rudatagen.generators.job import GenerateStage
from rudatagen.generators.ruhnp import RuHNPTask

SETTINGS = (
    "ruhnp.n_paraphrases=1",
    "ruhnp.n_non_paraphrases=1",
    "ruhnp.n_examples=0",
    "llm.max_tokens=200",
    "llm.llamacpp.n_threads=1",
    "llm.llamacpp.n_threads_batch=1",
)


def run(items: int, out: Path, executor: ExecutorSettings) -> tuple[float, float]:
    """One generation of ``items`` sources into ``out``: items/s end to end, and items/s while
    the replicas had units (Ray; the start-up of the pool left out) or while the local run
    generated (the model's loading left in)."""
    settings = load_recipe(
        None, [f"source.path={WIKI}", f"source.limit={items}", *SETTINGS]
    ).generate_settings()
    stage = GenerateStage(settings, RuHNPTask(settings), fresh=True, executor=executor)
    started = time.perf_counter()
    result = stage.run([], out, progress=False)
    seconds = time.perf_counter() - started
    facts = result.manifest.extra("executor") or {}
    working = facts.get("units_s", result.report.wall_s)
    extra = f", start-up {facts['startup_s']:.1f}s" if "startup_s" in facts else ""
    print(f"  {out.name}: {result.summary}; {seconds:.1f}s end to end{extra}", flush=True)
    return items / seconds, items / working


def main() -> None:
    from tests.support.ray_cluster import start_ray_cluster  # importable once _common ran

    options = int_options(__doc__ or "", items=12)
    root = Path(tempfile.mkdtemp(prefix="rdg-bench-ray-", dir="/tmp"))
    cluster = start_ray_cluster(root / "r", num_cpus=2)
    try:
        on_ray = {
            n: ExecutorSettings(kind="ray", address=cluster.address, replicas=n, batch_size=1)
            for n in (1, 2)
        }
        # Ray's first job on a fresh cluster also starts its worker processes: not measured
        run(2, root / "warm-up", on_ray[2])
        local_first = run(options.items, root / "local-1", ExecutorSettings())
        one = run(options.items, root / "ray-1-replica", on_ray[1])
        two = run(options.items, root / "ray-2-replicas", on_ray[2])
        local_last = run(options.items, root / "local-2", ExecutorSettings())
        local = [(a + b) / 2 for a, b in zip(local_first, local_last, strict=True)]
        for index, what in enumerate(("end to end", "while generating")):
            print(ratio_line(f"2 replicas vs 1, {what}", two[index], one[index], 1.8, "items/s"))
            print(
                ratio_line(f"1 replica vs local, {what}", one[index], local[index], 0.9, "items/s")
            )
    finally:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
