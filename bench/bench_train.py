"""Benchmarks for the encoder stage (prints figures; not a test).

1. Training throughput (triplets/s, wall time from the published folder on disk to the saved
   model) of ``rudatagen.training.run.train`` against a bare sentence-transformers script with the
   same model (local all-MiniLM-L6-v2), data (RuHNP triplets from a folder published from real
   ParaPhraser pairs), settings (batch, steps, lr, warm-up, seed, NO_DUPLICATES, max_seq_length)
   and loss (MultipleNegativesRankingLoss). Both save the model with its card. Sides alternate
   (bare, ours, ours, bare, ...) and the best of each counts (the box is shared). Goal >= 0.95.
2. ``evaluate`` and ``shift`` wall time per 10k pairs (RuSTS-B train pairs, MiniLM), measured on
   ``--eval-pairs`` pairs and scaled linearly.

    .venv/bin/python bench/bench_train.py [--steps 12] [--batch 16] [--rounds 2] [--eval-pairs 1000]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from _common import SHARED_DATA, int_options, minilm_path, ratio_line
from rudatagen.publish.job import PublishStage
from rudatagen.publish.settings import PublishSettings
from rudatagen.training.recipe import TrainSettings
from rudatagen.training.run import train


def bare_train(folder: Path, out: Path, model_path: str, args: argparse.Namespace) -> int:
    """What a user would write by hand with sentence-transformers; returns triplets seen."""
    from datasets import Dataset, load_dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from sentence_transformers.sentence_transformer.training_args import (
        BatchSamplers,
        SentenceTransformerTrainingArguments,
    )

    rows = load_dataset(str(folder), split="train")
    anchors, positives, negatives = [], [], []
    for row in rows:  # up to `combinations` (pos, neg) pairs per query, diagonals first
        pos, neg = row["pos"], row["neg"]
        grid = [(i, (i + k) % len(neg)) for k in range(len(neg)) for i in range(len(pos))]
        for i, j in grid[: args.combinations]:
            anchors.append(row["query"])
            positives.append(pos[i])
            negatives.append(neg[j])
    data = Dataset.from_dict({"anchor": anchors, "positive": positives, "negative": negatives})
    model = SentenceTransformer(model_path, device="cpu")
    model.max_seq_length = args.max_seq_length
    with tempfile.TemporaryDirectory() as scratch:
        training_args = SentenceTransformerTrainingArguments(
            output_dir=scratch,
            max_steps=args.steps,
            per_device_train_batch_size=args.batch,
            learning_rate=5e-5,
            warmup_steps=0.1,
            weight_decay=0.01,
            seed=42,
            data_seed=42,
            batch_sampler=BatchSamplers.NO_DUPLICATES,
            save_strategy="no",
            eval_strategy="no",
            logging_steps=50,
            report_to="none",
            disable_tqdm=True,
            dataloader_pin_memory=False,
            use_cpu=True,
        )
        trainer = SentenceTransformerTrainer(
            model=model,
            args=training_args,
            train_dataset=data,
            loss=MultipleNegativesRankingLoss(model, scale=20.0),
        )
        trainer.train()
    model.save_pretrained(str(out))
    return args.steps * args.batch  # as rudatagen counts with max_steps


def ours_train(folder: Path, out: Path, model_path: str, args: argparse.Namespace) -> int:
    settings = TrainSettings.model_validate(
        {
            "model": {"base": model_path, "max_seq_length": args.max_seq_length, "device": "cpu"},
            "datasets": [
                {
                    "name": "ruhnp",
                    "path": str(folder),
                    "combinations_per_query": args.combinations,
                    "evaluate": False,
                }
            ],
            "training": {
                "max_steps": args.steps,
                "batch_size": args.batch,
                "learning_rate": 5e-5,
                "warmup_ratio": 0.1,
                "seed": 42,
            },
        }
    )
    return train(settings, out, progress=False).rows_seen


def bench_training(folder: Path, work: Path, model_path: str, args: argparse.Namespace) -> None:
    sides = {"bare": bare_train, "rudatagen": ours_train}
    best: dict[str, float] = {}
    order = ["bare", "rudatagen"]
    for round_index in range(args.rounds):
        for name in order if round_index % 2 == 0 else order[::-1]:
            out = work / f"model-{name}"
            shutil.rmtree(out, ignore_errors=True)
            started = time.perf_counter()
            seen = sides[name](folder, out, model_path, args)
            seconds = time.perf_counter() - started
            rate = seen / seconds
            best[name] = max(best.get(name, 0.0), rate)
            print(
                f"round {round_index + 1} {name}: {seen} triplets in {seconds:.1f}s = {rate:.2f}/s"
            )
    print(ratio_line("training throughput", best["rudatagen"], best["bare"], 0.95, "triplets/s"))


def bench_eval(model_path: str, trained: Path, work: Path, pairs: int) -> None:
    from rudatagen.evaluation.encode import Encoder
    from rudatagen.evaluation.evaluate import evaluate_model
    from rudatagen.evaluation.pairsets import from_file
    from rudatagen.evaluation.shift import run_shift

    sets = [from_file(f"{SHARED_DATA / 'stsb_ru_train.csv'}:limit={pairs},name=rusts")]
    before = Encoder.load(model_path, device="cpu")
    after = Encoder.load(str(trained), device="cpu")
    started = time.perf_counter()
    evaluate_model(before, sets, work / "eval")
    evaluate_seconds = time.perf_counter() - started
    started = time.perf_counter()
    run_shift(before, after, sets, work / "shift")
    shift_seconds = time.perf_counter() - started
    scale = 10_000 / pairs
    print(
        f"evaluate: {pairs} pairs in {evaluate_seconds:.1f}s -> {evaluate_seconds * scale:.0f}s "
        f"per 10k pairs; shift (two models + figure): {shift_seconds:.1f}s -> "
        f"{shift_seconds * scale:.0f}s per 10k pairs"
    )


def main() -> None:
    from tests.support.run_dirs import ruhnp_run  # the repo root is on sys.path via _common

    args = int_options(
        __doc__, steps=12, batch=16, max_seq_length=64, combinations=2, rounds=2, eval_pairs=1000
    )
    model_path = minilm_path()
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        work = Path(tmp)
        run = ruhnp_run(work / "runs", SHARED_DATA)
        splits = PublishSettings(splits={"validation": 0.05, "test": 0.1}, seed=0)
        PublishStage(splits).run([run], work / "hub")
        bench_training(work / "hub", work, model_path, args)
        bench_eval(model_path, work / "model-rudatagen", work, args.eval_pairs)


if __name__ == "__main__":
    main()
