"""Benchmark: GIST against plain MNRL with sentence-transformers alone, on a GPU (prints figures).

``bench_gist.py`` measures what ``rudatagen train`` runs on the CPU; this script needs only
torch, sentence-transformers and datasets, so it also runs on an accelerator machine that has no
rudatagen installed. Throughput does not depend on the weights, so the encoders are built from a
config with random weights: ``small`` (all-MiniLM-L6-v2's shape, 22M parameters) and ``base``
(BERT-base's shape, 110M, about USER-base's size), both with MiniLM's tokenizer; the guide is a
frozen model of the same shape (the base model as its own guide). The trainer gets the same
data, batch, steps, NO_DUPLICATES sampler and seed for each loss; losses alternate over rounds
and the best samples/s counts.

    python bench/bench_gist_bare.py --tokenizer DIR --data PAIRS.parquet [--steps 40]
        [--batch 128] [--seq 128] [--rounds 2] [--sizes small,base] [--precision bf16]

``--write-data ../shared/data`` first writes PAIRS.parquet from the real data (ParaPhraser
loose and strict paraphrases, RuSTS-B pairs scored 3 or more: 7,639 pairs); copy it and the
tokenizer files of all-MiniLM-L6-v2 to the machine that runs the benchmark.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

SIZES = {
    "small": {"hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 12,
              "intermediate_size": 1536},
    "base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
             "intermediate_size": 3072},
}  # fmt: skip
LOSSES = ("mnrl", "gist", "cached_gist")


def write_pairs(shared: Path, out: Path) -> int:
    """(anchor, positive) pairs from ``shared`` (``../shared/data``) into ``out``."""
    import csv

    import pyarrow as pa
    import pyarrow.parquet as pq

    anchors, positives = [], []
    with (shared / "paraphraser_train.tsv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["class"] in ("0", "1"):
                anchors.append(row["text_1"])
                positives.append(row["text_2"])
    with (shared / "stsb_ru_train.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if float(row["similarity_score"]) >= 3:
                anchors.append(row["sentence1"])
                positives.append(row["sentence2"])
    pq.write_table(pa.table({"anchor": anchors, "positive": positives}), out)
    return len(anchors)


def build_model(tokenizer: Path, size: str, folder: Path) -> Path:
    """A BERT of ``size`` with random weights and MiniLM's tokenizer, saved to ``folder``."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    config = BertConfig.from_pretrained(str(tokenizer))
    for key, value in SIZES[size].items():
        setattr(config, key, value)
    BertModel(config).save_pretrained(str(folder))
    AutoTokenizer.from_pretrained(str(tokenizer)).save_pretrained(str(folder))
    return folder


def run(loss_name: str, model_dir: Path, data: object, args: argparse.Namespace) -> float:
    import torch
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
    from sentence_transformers import losses as st_losses
    from sentence_transformers.training_args import (
        BatchSamplers,
        SentenceTransformerTrainingArguments,
    )

    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = SentenceTransformer(str(model_dir), device=device)
    model.max_seq_length = args.seq
    if loss_name == "mnrl":
        loss = st_losses.MultipleNegativesRankingLoss(model, scale=20.0)
    else:
        guide = SentenceTransformer(str(model_dir), device=device)
        guide.max_seq_length = args.seq
        guide.requires_grad_(False)
        if loss_name == "gist":
            loss = st_losses.GISTEmbedLoss(model, guide, temperature=0.05)
        else:
            loss = st_losses.CachedGISTEmbedLoss(
                model, guide, temperature=0.05, mini_batch_size=args.batch // 4
            )
    with tempfile.TemporaryDirectory() as scratch:
        training_args = SentenceTransformerTrainingArguments(
            output_dir=scratch,
            max_steps=args.steps,
            per_device_train_batch_size=args.batch,
            learning_rate=2e-5,
            warmup_steps=0.1,
            seed=42,
            bf16=args.precision == "bf16" and device == "cuda",
            batch_sampler=BatchSamplers.NO_DUPLICATES,
            save_strategy="no",
            eval_strategy="no",
            logging_steps=1000,
            report_to="none",
            disable_tqdm=True,
        )
        trainer = SentenceTransformerTrainer(
            model=model, args=training_args, train_dataset=data, loss=loss
        )
        started = time.perf_counter()
        trainer.train()
        if device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
    return args.steps * args.batch / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sizes", default="small,base")
    parser.add_argument("--precision", default="bf16")
    parser.add_argument("--write-data", type=Path, help="../shared/data: write --data and stop")
    args = parser.parse_args()
    if args.write_data:
        print(f"{write_pairs(args.write_data, args.data)} pairs → {args.data}")
        return
    import torch
    from datasets import Dataset

    data = Dataset.from_parquet(str(args.data))
    where = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    print(f"{where}; {len(data)} pairs; steps {args.steps}, batch {args.batch}, seq {args.seq}")
    work = Path(tempfile.mkdtemp(prefix="bench-gist-bare-"))
    try:
        for size in args.sizes.split(","):
            model_dir = build_model(args.tokenizer, size, work / size)
            best: dict[str, float] = {}
            for round_index in range(args.rounds):
                order = LOSSES if round_index % 2 == 0 else LOSSES[::-1]
                for name in order:
                    rate = run(name, model_dir, data, args)
                    best[name] = max(best.get(name, 0.0), rate)
                    print(f"{size} round {round_index + 1} {name}: {rate:.1f} samples/s")
            for name in LOSSES:
                print(
                    f"{size} {name}: best {best[name]:.1f} samples/s "
                    f"({best[name] / best['mnrl']:.2f}x mnrl)"
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
