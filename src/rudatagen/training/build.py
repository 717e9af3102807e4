"""From a :class:`TrainSettings` to the objects sentence-transformers' trainer takes.

Datasets (one per source and shape), one loss per dataset, the prompts (prefixes) per dataset
and column, the training arguments (with the batch sampler of ``training.batches``) and the
evaluators. Nothing here trains: ``run.py`` hands these to ``SentenceTransformerTrainer``.

Which prefix a column gets (:func:`prompt_roles`): in a symmetric training (``symmetric: true``)
every text gets ``prefixes.symmetric``; a dataset whose ``symmetric:`` is given gets
``symmetric`` on every text (true) or ``query`` on its first column and ``document`` on the rest
(false); otherwise its kind says (RuHNP: query / document; WANLI: symmetric; retrieval: query /
document; sentence-transformers pairs: symmetric, n-tuples: query / document).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rudatagen.errors import RudatagenError
from rudatagen.kinds.shapes import TrainingRows
from rudatagen.training.data import Source, kind_of_dataset, read_split
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
    symmetric: bool = False
    parts: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)


def _convert(settings: DatasetSettings, rows: list[dict[str, Any]], kind: Source) -> TrainingRows:
    return kind.training_rows(rows, settings.combinations_per_query, settings.label_scores)


def is_symmetric(settings: DatasetSettings, kind: Source) -> bool:
    """A dataset's symmetry: given on it, else its kind's."""
    return kind.symmetric if settings.symmetric is None else settings.symmetric


def prompt_roles(
    kind: Source, shape: str, columns: list[str], settings: DatasetSettings, symmetric: bool | None
) -> dict[str, str]:
    """The prefix role of each column (see the module docstring); a numbered column
    (``negative_3`` of an n-tuple) takes the role of its base name (``negative``)."""
    if symmetric or settings.symmetric:
        return dict.fromkeys(columns, "symmetric")
    if settings.symmetric is False:
        return {column: "query" if i == 0 else "document" for i, column in enumerate(columns)}
    roles = kind.prompt_roles(shape)
    chosen = {}
    for column in columns:
        base, _, number = column.rpartition("_")
        chosen[column] = roles.get(column) or (roles.get(base) if number.isdigit() else None)
    return {column: role or "symmetric" for column, role in chosen.items()}


def _prompts(roles: dict[str, str], prefixes: Prefixes) -> dict[str, str]:
    by_role = {"query": prefixes.query, "document": prefixes.document}
    chosen = {column: by_role.get(role, prefixes.symmetric) for column, role in roles.items()}
    return {column: prefix for column, prefix in chosen.items() if prefix}


def _has_split(path: str, split: str) -> bool:
    data = Path(path).expanduser() / "data"
    return data.is_dir() and any(data.glob(f"{split}-*.parquet"))


def build_parts(train: TrainSettings) -> tuple[list[Part], list[SourceInfo]]:
    """Read every source and turn it into triplet and/or pair datasets; a symmetric (asymmetric)
    training leaves the asymmetric (symmetric) sources out."""
    parts: list[Part] = []
    infos: list[SourceInfo] = []
    left_out: list[str] = []
    for settings in train.datasets:
        rows = read_split(settings.path, settings.split)[: settings.limit]
        kind = kind_of_dataset(settings.path, rows, settings.kind, settings.columns)
        symmetric = is_symmetric(settings, kind)
        if train.symmetric is not None and symmetric != train.symmetric:
            left_out.append(settings.name)
            continue
        converted = _convert(settings, rows, kind)
        evaluated = None
        if settings.evaluate and _has_split(settings.path, "validation"):
            evaluated = _convert(settings, read_split(settings.path, "validation"), kind)
        info = SourceInfo(
            settings.name,
            settings.path,
            kind.name,
            len(rows),
            symmetric,
            skipped=dict(converted.skipped),
        )
        triplet_loss = settings.triplet_loss or train.losses.triplets
        shapes = [("triplets", converted.triplets, triplet_loss)]
        if "pairs" in kind.training_shapes:
            shapes.append(("pairs", converted.pairs, settings.pair_loss or train.losses.pairs))
        for shape, columns, loss in shapes:
            if not next(iter(columns.values())):
                continue
            name = settings.name if len(kind.training_shapes) == 1 else f"{settings.name}_{shape}"
            eval_columns = None
            if evaluated is not None:
                candidate = evaluated.triplets if shape == "triplets" else evaluated.pairs
                eval_columns = candidate if next(iter(candidate.values())) else None
            roles = prompt_roles(kind, shape, list(columns), settings, train.symmetric)
            parts.append(
                Part(
                    name,
                    settings.path,
                    shape,
                    loss,
                    columns,
                    _prompts(roles, train.prefixes),
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
    if not infos:
        wanted = "symmetric" if train.symmetric else "asymmetric"
        raise RudatagenError(
            f"training {train.name}: no {wanted} dataset among {', '.join(left_out)} (a "
            "dataset's symmetry is its kind's, or `symmetric:` on it)"
        )
    return parts, infos


def build_loss(
    name: str, model: Any, training: TrainingSettings, guide: Any = None, margin: float = 0.0
) -> Any:
    """sentence-transformers' loss ``name``; ``guide``: the frozen model of GIST losses, whose
    temperature is ``1 / training.scale`` like MNRL's (so the two differ only by the masking)."""
    from sentence_transformers.sentence_transformer import losses

    if name == "mnrl":
        return losses.MultipleNegativesRankingLoss(model, scale=training.scale)
    if name == "cached_mnrl":
        return losses.CachedMultipleNegativesRankingLoss(
            model, scale=training.scale, mini_batch_size=training.mini_batch_size
        )
    if name in ("gist", "cached_gist") and guide is None:
        raise RudatagenError(f"loss {name} needs a guide model (losses.guide)")
    if name == "gist":
        return losses.GISTEmbedLoss(model, guide, temperature=1 / training.scale, margin=margin)
    if name == "cached_gist":
        return losses.CachedGISTEmbedLoss(
            model,
            guide,
            temperature=1 / training.scale,
            mini_batch_size=training.mini_batch_size,
            margin=margin,
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
        MultiDatasetBatchSamplers,
        SentenceTransformerTrainingArguments,
    )

    from rudatagen.training.batches import batch_sampler

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
        batch_sampler=batch_sampler(training.anchor_groups),
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
