"""Train a bi-encoder from a recipe with ``SentenceTransformerTrainer`` and save it with its card.

The output folder is a sentence-transformers model (``SentenceTransformer(OUT)`` loads it) whose
``README.md`` is sentence-transformers' model card (language ``ru``, datasets, losses, metrics)
and whose ``prompts`` hold the recipe's prefixes under the names ``query``, ``document`` and
``symmetric``; ``training.json`` keeps the data sizes, settings, metrics and throughput, and
``seen_pairs`` describes the set of text pairs the training rows hold (``seen_pairs.npy``, see
``training.seen_pairs``), which ``calibrate`` compares with its pairs.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rudatagen.core.manifest import InputRef, Manifest, write_json_atomic
from rudatagen.encoders import load_sentence_transformer, resolve_device
from rudatagen.errors import MissingDependencyError
from rudatagen.training.build import (
    Part,
    build_arguments,
    build_evaluator,
    build_loss,
    build_parts,
)
from rudatagen.training.recipe import GUIDED_LOSSES, TrainSettings
from rudatagen.training.seen_pairs import pair_hashes, triplet_pairs, write_seen_pairs


@dataclass
class TrainReport:
    out: str
    base_model: str
    datasets: list[dict[str, Any]]
    losses: dict[str, str]
    train_rows: int
    steps: int
    metrics: dict[str, float]
    train_seconds: float
    seconds: float

    @property
    def pairs_per_s(self) -> float:
        """Training rows (triplets or pairs) seen per second of ``trainer.train()``."""
        return self.rows_seen / self.train_seconds if self.train_seconds else 0.0

    rows_seen: int = 0
    left_out: list[str] = field(default_factory=list)  # datasets of the other symmetry

    def summary(self) -> str:
        metrics = ", ".join(
            f"{k} {v:.4f}" for k, v in self.metrics.items() if "accuracy" in k or "spearman" in k
        )
        return (
            f"trained {self.base_model} on {self.train_rows} rows "
            f"({', '.join(f'{k}: {v}' for k, v in self.losses.items())}); {self.steps} steps in "
            f"{self.train_seconds:.1f}s ({self.pairs_per_s:.1f} rows/s)"
            + (f"; {metrics}" if metrics else "")
            + (f"; left out (other symmetry): {', '.join(self.left_out)}" if self.left_out else "")
            + f" → {self.out}"
        )


def _card_data(model: Any, settings: TrainSettings, parts: list[Part]) -> None:
    card = model.model_card_data
    card.language = ["ru"]
    card.license = settings.model_card.get("license", card.license)
    card.model_name = settings.model_card.get(
        "model_name",
        f"{settings.name}: {settings.model.base} fine-tuned on Russian RuHNP/WANLI data",
    )
    if "model_id" in settings.model_card:
        card.model_id = settings.model_card["model_id"]
    card.local_files_only = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
    card.tags = [*card.tags, "rudatagen", "russian"]


def _seen_pair_hashes(parts: list[Part]) -> np.ndarray:
    """The hashes of every text pair the training datasets hold (see ``training.seen_pairs``)."""
    hashes = [pair_hashes(*triplet_pairs(part.columns)) for part in parts]
    return np.unique(np.concatenate(hashes)) if hashes else np.zeros(0, dtype=np.uint64)


def saved_prompts(settings: TrainSettings) -> dict[str, str]:
    """``model.prompts`` of the trained model: the prefixes by role; a symmetric training put
    ``prefixes.symmetric`` before every text, so every role gets it."""
    prefixes = settings.prefixes
    if settings.symmetric:
        prompts = dict.fromkeys(("query", "document", "symmetric"), prefixes.symmetric)
    else:
        prompts = {
            "query": prefixes.query,
            "document": prefixes.document,
            "symmetric": prefixes.symmetric,
        }
    return {k: v for k, v in prompts.items() if v}


def _guide(settings: TrainSettings, parts: list[Part], device: str) -> Any:
    """The frozen guide model of GIST losses, loaded once per training; None without them."""
    if not any(part.loss in GUIDED_LOSSES for part in parts) or not settings.losses.guide:
        return None
    guide = load_sentence_transformer(settings.losses.guide, device, settings.model.max_seq_length)
    guide.eval()
    for parameter in guide.parameters():
        parameter.requires_grad_(False)
    return guide


def train(settings: TrainSettings, out: Path, *, progress: bool = True) -> TrainReport:
    """Build everything from the ``train:`` section, train, evaluate on validation splits,
    save to ``out``."""
    try:
        from datasets import Dataset
        from sentence_transformers import SentenceTransformerTrainer
    except ImportError as exc:
        raise MissingDependencyError("sentence-transformers", "train", "Training") from exc

    started = time.perf_counter()
    parts, infos = build_parts(settings)
    device = resolve_device(settings.model.device)
    model = load_sentence_transformer(settings.model.base, device, settings.model.max_seq_length)
    model.train()
    _card_data(model, settings, parts)
    train_dataset = {p.name: Dataset.from_dict(p.columns) for p in parts}
    eval_dataset = {
        p.name: Dataset.from_dict(p.eval_columns) for p in parts if p.eval_columns is not None
    }
    guide = _guide(settings, parts, device)
    margin = settings.losses.gist_margin
    losses = {p.name: build_loss(p.loss, model, settings.training, guide, margin) for p in parts}
    evaluator = build_evaluator(parts, settings.training.batch_size)

    with tempfile.TemporaryDirectory(prefix="rudatagen-train-") as scratch:
        checkpoints = str(out / "checkpoints") if settings.training.save_checkpoints else scratch
        args = build_arguments(settings, parts, checkpoints, device, progress)
        trainer = SentenceTransformerTrainer(
            model=model,
            args=args,
            train_dataset=train_dataset,
            eval_dataset=eval_dataset or None,
            loss=losses,
            evaluator=evaluator,
        )
        train_started = time.perf_counter()
        result = trainer.train()
        train_seconds = time.perf_counter() - train_started
        metrics: dict[str, float] = {}
        if eval_dataset or evaluator is not None:
            metrics = {k: float(v) for k, v in trainer.evaluate().items()}

    model.prompts = saved_prompts(settings)
    model.default_prompt_name = None
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    steps = int(result.global_step)
    total_rows = sum(p.rows for p in parts)
    if settings.training.max_steps > 0:  # full batches (a last, partial one counts as full)
        rows_seen = steps * settings.training.batch_size
    else:
        rows_seen = round(total_rows * settings.training.epochs)
    report = TrainReport(
        out=str(out),
        base_model=settings.model.base,
        datasets=[asdict(info) for info in infos],
        losses={p.name: p.loss for p in parts},
        train_rows=total_rows,
        steps=steps,
        metrics=metrics,
        train_seconds=round(train_seconds, 3),
        seconds=round(time.perf_counter() - started, 3),
        rows_seen=rows_seen,
        left_out=[d.name for d in settings.datasets if d.name not in {i.name for i in infos}],
    )
    manifest = Manifest(
        stage="train",
        inputs=[InputRef(path=info.path, kind=info.kind) for info in infos],
        recipe=settings.model_dump(mode="json"),
        counts={"train_rows": total_rows, "steps": steps},
        wall_s=report.seconds,
        **asdict(report),
        rows_per_s=round(report.pairs_per_s, 3),
        seen_pairs=write_seen_pairs(out, _seen_pair_hashes(parts)),
    )
    write_json_atomic(out / "training.json", manifest.to_json())
    return report
