"""WANLI benchmarks on the local all-MiniLM-L6-v2 and real TERRa seeds.

1. Cartography wall time per 1,000 seed examples per epoch (training plus the per-epoch
   prediction over the training set and the checkpoint save), and the overhead of recording
   dynamics: the same training without the callback, measured in the same run.
2. Scoring generated pairs with every saved checkpoint (estimated max variability): pairs/s.

    .venv/bin/python bench/bench_wanli.py --rows 400 --epochs 2 --pairs 400
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from _common import SHARED_DATA, int_options, minilm_path
from rudatagen.config import load_recipe
from rudatagen.filters.variability import max_variability, score_with_checkpoints
from rudatagen.nli.cartography import checkpoint_dirs, train_with_dynamics
from rudatagen.nli.seeds import read_seeds


def bare_training(seeds: list, recipe, scratch: Path) -> float:  # type: ignore[no-untyped-def]
    """The same CrossEncoderTrainer run without the dynamics callback: the baseline."""
    from datasets import Dataset
    from sentence_transformers.cross_encoder import (
        CrossEncoderTrainer,
        CrossEncoderTrainingArguments,
    )
    from sentence_transformers.cross_encoder.losses import CrossEntropyLoss
    from transformers import set_seed

    from rudatagen.encoders import load_cross_encoder

    carto = recipe.wanli.cartography
    set_seed(carto.seed)
    model = load_cross_encoder(carto.model, "cpu", carto.max_length, num_labels=2)
    data = Dataset.from_dict(
        {
            "sentence1": [s.premise for s in seeds],
            "sentence2": [s.hypothesis for s in seeds],
            "label": [s.label_id for s in seeds],
        }
    )
    args = CrossEncoderTrainingArguments(
        output_dir=str(scratch),
        num_train_epochs=carto.epochs,
        per_device_train_batch_size=carto.batch_size,
        learning_rate=carto.learning_rate,
        warmup_steps=carto.warmup_ratio,
        seed=carto.seed,
        save_strategy="no",
        logging_strategy="no",
        report_to="none",
        disable_tqdm=True,
        use_cpu=True,
    )
    started = time.perf_counter()
    CrossEncoderTrainer(
        model=model, args=args, train_dataset=data, loss=CrossEntropyLoss(model)
    ).train()
    return time.perf_counter() - started


def main() -> None:
    args = int_options(__doc__, rows=400, epochs=2, max_length=128, pairs=400)
    recipe = load_recipe(
        Path(__file__).resolve().parents[1] / "recipes" / "wanli-terra-demo.yaml",
        [
            f"wanli.seeds.path={SHARED_DATA / 'terra_train.jsonl'}",
            f"wanli.seeds.limit={args.rows}",
            f"wanli.cartography.model={minilm_path()}",
            f"wanli.cartography.epochs={args.epochs}",
            f"wanli.cartography.max_length={args.max_length}",
            "wanli.cartography.device=cpu",
        ],
    )
    assert recipe.wanli.seeds.path is not None
    seeds = read_seeds(recipe.wanli.seeds.path, recipe.wanli.seeds)
    with tempfile.TemporaryDirectory(prefix="bench-wanli-") as tmp:
        out = Path(tmp) / "carto"
        (out / "training_dynamics").mkdir(parents=True)
        (out / "checkpoints").mkdir()
        ours = train_with_dynamics(seeds, recipe.wanli.seeds.labels, recipe.wanli, out,
                                   show_progress=False)  # fmt: skip
        bare = bare_training(seeds, recipe, Path(tmp) / "bare")
        per_k_epoch = ours / len(seeds) * 1000 / args.epochs
        print(
            f"cartography: {len(seeds)} TERRa examples x {args.epochs} epochs, max_length "
            f"{args.max_length}: {ours:.1f}s with dynamics + checkpoints, {bare:.1f}s bare "
            f"training (ratio {ours / bare:.2f}); {per_k_epoch:.1f}s per 1,000 examples per epoch"
        )

        pair_seeds = read_seeds(
            recipe.wanli.seeds.path, recipe.wanli.seeds.model_copy(update={"limit": None})
        )[-args.pairs :]
        pairs = [(s.premise, s.hypothesis) for s in pair_seeds]
        checkpoints = checkpoint_dirs(out)
        started = time.perf_counter()
        probs = score_with_checkpoints(
            checkpoints, pairs, device="cpu", max_length=args.max_length, batch_size=64,
            show_progress=False,
        )  # fmt: skip
        scores = max_variability(probs)
        wall = time.perf_counter() - started
        print(
            f"scoring: {len(pairs)} pairs x {len(checkpoints)} checkpoints in {wall:.1f}s: "
            f"{len(pairs) / wall:.1f} pairs/s with all checkpoints "
            f"({len(pairs) * len(checkpoints) / wall:.1f} pair-checkpoint passes/s); "
            f"max variability mean {scores.mean():.4f}"
        )


if __name__ == "__main__":
    main()
