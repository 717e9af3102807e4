"""Benchmark: training throughput with GIST (a guide model masks in-batch false negatives)
against plain MNRL, and the cost of the anchor-group batch guard (prints figures; not a test).

Same model (local all-MiniLM-L6-v2, its own frozen copy as the guide), data (RuHNP triplets
from a folder published from real ParaPhraser pairs), steps, batch and seed for every variant,
through ``rudatagen.training.run.train`` (what ``rudatagen train`` runs):

- ``mnrl`` (anchor_groups exact): sentence-transformers' NO_DUPLICATES, the baseline;
- ``mnrl+lemmas``: the same with the anchor-group guard (``anchor_groups: lemmas``);
- ``gist``: GISTEmbedLoss with the guide, with the guard;
- ``cached_gist``: CachedGISTEmbedLoss (mini-batches of ``--mini-batch``), with the guard.

Variants alternate over ``--rounds`` rounds (order reversed every other round) and the best
triplets/s of each counts (the box is shared). Throughput counts ``trainer.train()`` alone;
wall adds loading, data and saving.

    .venv/bin/python bench/bench_gist.py [--steps 10] [--batch 32] [--rounds 2] [--mini-batch 8]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import SHARED_DATA, int_options, minilm_path
from rudatagen.publish.job import PublishStage
from rudatagen.publish.settings import PublishSettings
from rudatagen.training.recipe import TrainSettings
from rudatagen.training.run import train

VARIANTS: dict[str, dict[str, Any]] = {
    "mnrl": {"losses": {"triplets": "mnrl"}, "anchor_groups": "exact"},
    "mnrl+lemmas": {"losses": {"triplets": "mnrl"}, "anchor_groups": "lemmas"},
    "gist": {"losses": {"triplets": "gist"}, "anchor_groups": "lemmas"},
    "cached_gist": {"losses": {"triplets": "cached_gist"}, "anchor_groups": "lemmas"},
}


def run_variant(
    name: str, folder: Path, out: Path, model: str, args: argparse.Namespace
) -> tuple[float, float]:
    """(triplets/s of trainer.train(), wall seconds of the whole train())."""
    variant = VARIANTS[name]
    settings = TrainSettings.model_validate(
        {
            "model": {"base": model, "max_seq_length": args.max_seq_length, "device": "cpu"},
            "datasets": [
                {"name": "ruhnp", "path": str(folder), "combinations_per_query": 2,
                 "evaluate": False}
            ],
            "losses": {**variant["losses"], "guide": model},
            "training": {
                "max_steps": args.steps,
                "batch_size": args.batch,
                "mini_batch_size": args.mini_batch,
                "learning_rate": 5e-5,
                "seed": 42,
                "anchor_groups": variant["anchor_groups"],
            },
        }
    )  # fmt: skip
    started = time.perf_counter()
    report = train(settings, out, progress=False)
    return report.pairs_per_s, time.perf_counter() - started


def main() -> None:
    from tests.support.run_dirs import ruhnp_run  # the repo root is on sys.path via _common

    args = int_options(__doc__, steps=10, batch=32, max_seq_length=64, rounds=2, mini_batch=8)
    model = minilm_path()
    best: dict[str, float] = {}
    walls: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-gist-") as tmp:
        work = Path(tmp)
        run = ruhnp_run(work / "runs", SHARED_DATA)
        PublishStage(PublishSettings(splits={"validation": 0.05, "test": 0.1}, seed=0)).run(
            [run], work / "hub"
        )
        order = list(VARIANTS)
        for round_index in range(args.rounds):
            for name in order if round_index % 2 == 0 else order[::-1]:
                out = work / f"model-{name}"
                shutil.rmtree(out, ignore_errors=True)
                rate, wall = run_variant(name, work / "hub", out, model, args)
                best[name] = max(best.get(name, 0.0), rate)
                walls[name] = min(walls.get(name, wall), wall)
                print(f"round {round_index + 1} {name}: {rate:.2f} triplets/s, wall {wall:.1f}s")
    base = best["mnrl"]
    print(f"steps {args.steps}, batch {args.batch}, max_seq_length {args.max_seq_length}, CPU")
    for name in VARIANTS:
        print(
            f"{name}: best {best[name]:.2f} triplets/s ({best[name] / base:.2f}x mnrl), "
            f"best wall {walls[name]:.1f}s"
        )


if __name__ == "__main__":
    main()
