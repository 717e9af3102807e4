"""From a :class:`TrainSettings` to the objects sentence-transformers' trainer takes.

Datasets (one per source and shape), one loss per dataset, the prompts (prefixes) per dataset
and column, the training arguments and the evaluators. Nothing here trains: ``run.py`` hands
these to ``SentenceTransformerTrainer``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rudatagen.errors import RudatagenError
from rudatagen.kinds import Kind
from rudatagen.kinds.shapes import TrainingRows
from rudatagen.training.data import kind_of_dataset, read_split
from rudatagen.training.recipe import DatasetSettings, Prefixes, TrainingSettings, TrainSettings


@dataclass
class Part:
    """One training dataset handed to the trainer: its columns, loss and prompts."""

    name: str
    source: str
    shape: str  # "triplets" or "pairs"
    loss: str
    columns: dict[str, list[Any]]
    prompts: dict[str, str]
    eval_columns: dict[str, list[Any]] | None = None

    @property
    def rows(self) -> int:
        return len(next(iter(self.columns.values())))


@dataclass
class SourceInfo:
    name: str
    path: str
    kind: str
    rows_read: int
    parts: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)


def _convert(settings: DatasetSettings, rows: list[dict[str, Any]], kind: Kind) -> TrainingRows:
    return kind.training_rows(rows, settings.combinations_per_query, settings.label_scores)


def _prompts(kind: Kind, shape: str, prefixes: Prefixes, columns: Iterable[str]) -> dict[str, str]:
    """The prefix of each training column, by the role the kind gives it; a numbered column
    (``negative_3`` of an n-tuple) takes the role of its base name (``negative``)."""
    by_role = {"query": prefixes.query, "document": prefixes.document}
    roles = kind.prompt_roles(shape)
    chosen = {}
    for column in columns:
        base, _, number = column.rpartition("_")
        role = roles.get(column) or (roles.get(base) if number.isdigit() else None)
        chosen[column] = by_role.get(role or "", prefixes.symmetric)
    return {column: prefix for column, prefix in chosen.items() if prefix}


def _has_split(path: str, split: str) -> bool:
    data = Path(path).expanduser() / "data"
    return data.is_dir() and any(data.glob(f"{split}-*.parquet"))


def build_parts(train: TrainSettings) -> tuple[list[Part], list[SourceInfo]]:
    """Read every source and turn it into triplet and/or pair datasets."""
    parts: list[Part] = []
    infos: list[SourceInfo] = []
    for settings in train.datasets:
        rows = read_split(settings.path, settings.split)[: settings.limit]
        kind = kind_of_dataset(settings.path, rows, settings.kind)
        converted = _convert(settings, rows, kind)
        evaluated = None
        if settings.evaluate and _has_split(settings.path, "validation"):
            evaluated = _convert(settings, read_split(settings.path, "validation"), kind)
        info = SourceInfo(
            settings.name, settings.path, kind.name, len(rows), skipped=dict(converted.skipped)
        )
        shapes = [("triplets", converted.triplets, settings.triplet_loss)]
        if "pairs" in kind.training_shapes:
            shapes.append(("pairs", converted.pairs, settings.pair_loss))
        for shape, columns, loss in shapes:
            if not next(iter(columns.values())):
                continue
            name = settings.name if len(kind.training_shapes) == 1 else f"{settings.name}_{shape}"
            eval_columns = None
            if evaluated is not None:
                candidate = evaluated.triplets if shape == "triplets" else evaluated.pairs
                eval_columns = candidate if next(iter(candidate.values())) else None
            parts.append(
                Part(
                    name,
                    settings.path,
                    shape,
                    loss,
                    columns,
                    _prompts(kind, shape, train.prefixes, columns),
                    eval_columns,
                )
            )
            info.parts[name] = len(next(iter(columns.values())))
        if not info.parts:
            raise RudatagenError(
                f"dataset {settings.name} ({settings.path}): no training rows "
                f"({len(rows)} rows read; skipped: {dict(converted.skipped) or 'none'})"
            )
        infos.append(info)
    return parts, infos


def build_loss(name: str, model: Any, training: TrainingSettings) -> Any:
    from sentence_transformers.sentence_transformer import losses

    if name == "mnrl":
        return losses.MultipleNegativesRankingLoss(model, scale=training.scale)
    if name == "cached_mnrl":
        return losses.CachedMultipleNegativesRankingLoss(
            model, scale=training.scale, mini_batch_size=training.mini_batch_size
        )
    if name == "cosent":
        return losses.CoSENTLoss(model)
    if name == "angle":
        return losses.AnglELoss(model)
    raise RudatagenError(f"unknown loss {name}")


def build_evaluator(parts: list[Part], batch_size: int) -> Any | None:
    """A TripletEvaluator per triplet (or n-tuple) validation set, an EmbeddingSimilarityEvaluator
    per pair set; prefixes are put on the texts here exactly as the trainer's prompts put them."""
    from sentence_transformers.sentence_transformer.evaluation import (
        EmbeddingSimilarityEvaluator,
        SequentialEvaluator,
        TripletEvaluator,
    )

    def with_prefix(part: Part, column: str) -> list[str]:
        prefix = part.prompts.get(column, "")
        return [prefix + text for text in (part.eval_columns or {})[column]]

    evaluators = []
    for part in parts:
        if part.eval_columns is None:
            continue
        if part.shape == "triplets":
            # an n-tuple (anchor, positive, negative_1..n) is judged on its first negative
            negative = next((c for c in ("negative", "negative_1") if c in part.eval_columns), None)
            if negative is None:  # (anchor, positive) pairs: the eval loss alone
                continue
            evaluators.append(
                TripletEvaluator(
                    with_prefix(part, "anchor"),
                    with_prefix(part, "positive"),
                    with_prefix(part, negative),
                    name=f"{part.name}_validation",
                    batch_size=batch_size,
                    write_csv=False,
                )
            )
        else:
            evaluators.append(
                EmbeddingSimilarityEvaluator(
                    with_prefix(part, "sentence1"),
                    with_prefix(part, "sentence2"),
                    list(part.eval_columns["score"]),
                    name=f"{part.name}_validation",
                    batch_size=batch_size,
                    write_csv=False,
                )
            )
    if not evaluators:
        return None
    return evaluators[0] if len(evaluators) == 1 else SequentialEvaluator(evaluators)


def build_arguments(
    train: TrainSettings, parts: list[Part], output_dir: str, device: str, progress: bool
) -> Any:
    from sentence_transformers.sentence_transformer.training_args import (
        BatchSamplers,
        MultiDatasetBatchSamplers,
        SentenceTransformerTrainingArguments,
    )

    training = train.training
    prompts = {part.name: part.prompts for part in parts if part.prompts}
    has_eval = any(part.eval_columns is not None for part in parts)
    return SentenceTransformerTrainingArguments(
        output_dir=output_dir,
        num_train_epochs=training.epochs,
        max_steps=training.max_steps,
        per_device_train_batch_size=training.batch_size,
        per_device_eval_batch_size=training.batch_size,
        learning_rate=training.learning_rate,
        warmup_steps=training.warmup_ratio,  # below 1: a fraction of all steps
        weight_decay=training.weight_decay,
        seed=training.seed,
        data_seed=training.seed,
        fp16=training.precision == "fp16",
        bf16=training.precision == "bf16",
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        multi_dataset_batch_sampler=MultiDatasetBatchSamplers(training.multi_dataset_sampler),
        prompts=prompts or None,
        eval_strategy="steps" if has_eval and training.eval_steps else "no",
        eval_steps=training.eval_steps,
        save_strategy="steps" if training.save_checkpoints else "no",
        save_steps=training.eval_steps or 500,
        logging_steps=training.logging_steps,
        report_to="none",
        disable_tqdm=not progress,
        dataloader_num_workers=training.dataloader_workers,
        dataloader_pin_memory=device.startswith("cuda"),
        use_cpu=device == "cpu",
        run_name=train.name,
    )
