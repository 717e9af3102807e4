"""The ``train:`` section of a recipe (``recipes/train.yaml``): pydantic models with
``extra="forbid"``.

``rudatagen.config.Recipe`` composes it; recipes are read by ``rudatagen.core.recipe_io``, so
``--set`` works as everywhere (a list item by its index: ``--set train.datasets.0.limit=500``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from rudatagen import fields
from rudatagen.kinds import KINDS, spelled_choices
from rudatagen.strict import StrictModel

LossName = Literal["mnrl", "cached_mnrl", "cosent", "angle"]
TRIPLET_LOSSES = ("mnrl", "cached_mnrl")
PAIR_LOSSES = ("cosent", "angle")
SOURCE_KINDS = ("auto", *KINDS)  # from the registry: a new kind needs no edit here


class ModelSettings(StrictModel):
    """The base encoder to fine-tune."""

    base: str = Field("deepvk/USER-base", description="Base encoder: Hub id or folder.")
    max_seq_length: int | None = Field(
        None, ge=8, description="Truncate inputs to N tokens (null: the model's own limit)."
    )
    device: str | None = fields.device()


class Prefixes(StrictModel):
    """Text put before every input, by role; the same prefixes are saved with the model
    (``model.prompts``: ``query``, ``document``, ``symmetric``) and used by ``evaluate``/``shift``.

    ``query`` goes before the anchor of asymmetric kinds (RuHNP queries, retrieval queries),
    ``document`` before the other side (RuHNP paraphrases and non-paraphrases, retrieval
    passages and their negatives: ``search_query: `` / ``search_document: `` for USER2-style
    models), ``symmetric`` before both sides of NLI and labelled pairs."""

    query: str = Field("", description="Before queries (RuHNP and retrieval anchors).")
    document: str = Field(
        "", description="Before RuHNP paraphrases/non-paraphrases and retrieval passages."
    )
    symmetric: str = Field("", description="Before both sides of NLI and labelled pairs.")


class DatasetSettings(StrictModel):
    """One training source. ``path``: a published folder (``data/{split}-*.parquet``), a run
    directory (``data/*.parquet``), a Parquet file, or a Hub dataset id (needs the network)."""

    name: str = Field(
        pattern=r"^[A-Za-z0-9_\-]+$",
        description="Dataset name (losses and metrics are keyed by it).",
    )
    path: str = Field(description="Published folder, run directory, Parquet file or Hub id.")
    split: str = Field("train", description="Split to train on.")
    kind: Literal[SOURCE_KINDS] = Field(  # type: ignore[valid-type]
        "auto",
        description=f"{spelled_choices(tuple(KINDS))}, or `auto`: detected from the manifest "
        "or the columns.",
    )
    limit: int | None = Field(None, ge=1, description="Use at most N rows of the source.")
    combinations_per_query: int = Field(
        5, ge=1, le=25, description="(positive, negative) pairs per query/premise, of all p×n."
    )
    triplet_loss: LossName = Field(
        "mnrl",
        description="`mnrl` (MultipleNegativesRankingLoss) or `cached_mnrl` (its GradCache "
        "variant: big batches in little memory).",
    )
    pair_loss: LossName = Field(
        "cosent", description="`cosent` or `angle`, for WANLI scored pairs."
    )
    label_scores: dict[str, float] = Field(
        default_factory=lambda: {
            "entailment": 1.0,
            "neutral": 0.5,
            "contradiction": 0.0,
            "not_entailment": 0.0,
        },
        description="WANLI label → score of a scored pair.",
    )
    evaluate: bool = Field(
        True,
        description="Evaluate on the source's `validation` split (published folders): "
        "TripletEvaluator / EmbeddingSimilarityEvaluator + the loss.",
    )

    @model_validator(mode="after")
    def _losses(self) -> DatasetSettings:
        if self.triplet_loss not in TRIPLET_LOSSES:
            raise ValueError(f"triplet_loss must be one of {', '.join(TRIPLET_LOSSES)}")
        if self.pair_loss not in PAIR_LOSSES:
            raise ValueError(f"pair_loss must be one of {', '.join(PAIR_LOSSES)}")
        return self


class TrainingSettings(StrictModel):
    """Sentence-transformers' training arguments."""

    epochs: float = Field(1.0, gt=0, description="Epochs over the data (`max_steps` > 0 wins).")
    max_steps: int = Field(-1, description="Stop after N steps (-1: run all epochs).")
    batch_size: int = Field(64, ge=2, description="Per device; bigger is better for MNRL.")
    mini_batch_size: int = Field(32, ge=1, description="cached_mnrl: texts per forward pass.")
    learning_rate: float = fields.learning_rate(2e-5)
    warmup_ratio: float = fields.warmup_ratio()
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay.")
    scale: float = Field(20.0, gt=0, description="MNRL similarity scale (1 / temperature).")
    seed: int = fields.training_seed()
    precision: Literal["fp32", "fp16", "bf16"] = Field(
        "fp32", description="`fp16` / `bf16` on a GPU."
    )
    multi_dataset_sampler: Literal["proportional", "round_robin"] = Field(
        "proportional", description="How batches are drawn from several datasets."
    )
    eval_steps: int | None = Field(None, ge=1, description="Evaluate every N steps (else at end).")
    logging_steps: int = Field(50, ge=1, description="Log the loss every N steps.")
    save_checkpoints: bool = Field(False, description="Keep checkpoints in `OUT/checkpoints`.")
    dataloader_workers: int = Field(0, ge=0, description="Data loader worker processes.")


class TrainSettings(StrictModel):
    """Encoder training: the base model, prefixes, datasets and trainer settings."""

    name: str = Field("train", description="Run name (model card, trainer's run name).")
    model: ModelSettings = fields.section(ModelSettings)
    prefixes: Prefixes = fields.section(
        Prefixes,
        "Text put before every input, by role; saved with the model as `model.prompts` and used "
        "by `evaluate` and `shift`.",
    )
    datasets: list[DatasetSettings] = Field(
        min_length=1, description="The training sources, trained on together."
    )
    training: TrainingSettings = fields.section(TrainingSettings)
    model_card: dict[str, str] = Field(
        default_factory=dict, description="Extra model card fields: model_name, license, model_id."
    )

    @model_validator(mode="after")
    def _unique_names(self) -> TrainSettings:
        names = [d.name for d in self.datasets]
        if len(set(names)) != len(names):
            raise ValueError(f"dataset names must be unique, got {names}")
        return self
