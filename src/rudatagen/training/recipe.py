"""The training recipe (``recipes/train.yaml``): pydantic models with ``extra="forbid"``.

``--set key=value`` overrides work as for the generation recipes (dotted keys; a list item by
its index: ``--set datasets.0.limit=500``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from rudatagen.errors import RudatagenError
from rudatagen.strict import StrictModel

LossName = Literal["mnrl", "cached_mnrl", "cosent", "angle"]
TRIPLET_LOSSES = ("mnrl", "cached_mnrl")
PAIR_LOSSES = ("cosent", "angle")


class ModelSettings(StrictModel):
    base: str = "deepvk/USER-base"
    max_seq_length: int | None = Field(None, ge=8)
    device: str | None = None


class Prefixes(StrictModel):
    """Text put before every input, by role; the same prefixes are saved with the model
    (``model.prompts``: ``query``, ``document``, ``symmetric``) and used by ``evaluate``/``shift``.

    ``query`` goes before RuHNP queries (the anchor), ``document`` before their paraphrases and
    non-paraphrases, ``symmetric`` before both sides of NLI and labelled pairs."""

    query: str = ""
    document: str = ""
    symmetric: str = ""


class DatasetSettings(StrictModel):
    """One training source. ``path``: a published folder (``data/{split}-*.parquet``), a run
    directory (``data/*.parquet``), a Parquet file, or a Hub dataset id (needs the network)."""

    name: str = Field(pattern=r"^[A-Za-z0-9_\-]+$")
    path: str
    split: str = "train"
    kind: Literal["auto", "ruhnp", "wanli"] = "auto"
    limit: int | None = Field(None, ge=1, description="Use at most N rows of the source.")
    combinations_per_query: int = Field(
        5, ge=1, le=25, description="(positive, negative) pairs per query/premise, of all p×n."
    )
    triplet_loss: LossName = "mnrl"
    pair_loss: LossName = "cosent"
    label_scores: dict[str, float] = Field(
        default_factory=lambda: {
            "entailment": 1.0,
            "neutral": 0.5,
            "contradiction": 0.0,
            "not_entailment": 0.0,
        }
    )
    evaluate: bool = Field(True, description="Use the validation split for evaluators.")

    @model_validator(mode="after")
    def _losses(self) -> DatasetSettings:
        if self.triplet_loss not in TRIPLET_LOSSES:
            raise ValueError(f"triplet_loss must be one of {', '.join(TRIPLET_LOSSES)}")
        if self.pair_loss not in PAIR_LOSSES:
            raise ValueError(f"pair_loss must be one of {', '.join(PAIR_LOSSES)}")
        return self


class TrainingSettings(StrictModel):
    epochs: float = Field(1.0, gt=0)
    max_steps: int = Field(-1, description="Stop after N steps (-1: run all epochs).")
    batch_size: int = Field(64, ge=2)
    mini_batch_size: int = Field(32, ge=1, description="cached_mnrl: texts per forward pass.")
    learning_rate: float = Field(2e-5, gt=0)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    weight_decay: float = Field(0.01, ge=0)
    scale: float = Field(20.0, gt=0, description="MNRL similarity scale (1 / temperature).")
    seed: int = 42
    precision: Literal["fp32", "fp16", "bf16"] = "fp32"
    multi_dataset_sampler: Literal["proportional", "round_robin"] = "proportional"
    eval_steps: int | None = Field(None, ge=1, description="Evaluate every N steps (else at end).")
    logging_steps: int = Field(50, ge=1)
    save_checkpoints: bool = False
    dataloader_workers: int = Field(0, ge=0)


class TrainRecipe(StrictModel):
    task: Literal["train"] = "train"
    name: str = "train"
    model: ModelSettings = ModelSettings()
    prefixes: Prefixes = Prefixes()
    datasets: list[DatasetSettings] = Field(min_length=1)
    training: TrainingSettings = TrainingSettings()
    model_card: dict[str, str] = Field(
        default_factory=dict, description="Extra model card fields: model_name, license, model_id."
    )

    @model_validator(mode="after")
    def _unique_names(self) -> TrainRecipe:
        names = [d.name for d in self.datasets]
        if len(set(names)) != len(names):
            raise ValueError(f"dataset names must be unique, got {names}")
        return self


def _set(tree: dict, dotted: str, value: object) -> None:
    keys = dotted.split(".")
    node: object = tree
    for key in keys[:-1]:
        if isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        elif isinstance(node, dict):
            node = node.setdefault(key, {})
        else:
            raise RudatagenError(f"--set {dotted}: '{key}' is not a section")
    last = keys[-1]
    if isinstance(node, list) and last.isdigit() and int(last) < len(node):
        node[int(last)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise RudatagenError(f"--set {dotted}: cannot set '{last}'")


def load_train_recipe(path: Path, overrides: list[str] | None = None) -> TrainRecipe:
    """Read, override (``key=value``, values as YAML) and validate a training recipe."""
    if not path.is_file():
        raise RudatagenError(f"recipe {path} not found")
    try:
        tree = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise RudatagenError(f"recipe {path} is not valid YAML: {exc}") from None
    if not isinstance(tree, dict):
        raise RudatagenError(f"recipe {path} must be a mapping")
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise RudatagenError(f"--set {item!r}: expected key=value")
        _set(tree, key.strip(), yaml.safe_load(raw))
    try:
        return TrainRecipe.model_validate(tree)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "recipe"
        raise RudatagenError(
            f"recipe {path}: {where}: {first['msg']} ({exc.error_count()} problem(s))"
        ) from None
