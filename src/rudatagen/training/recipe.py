"""The ``train:`` section of a recipe (``recipes/train.yaml``, ``recipes/user.yaml``): pydantic
models with ``extra="forbid"``.

``rudatagen.config.Recipe`` composes it; recipes are read by ``rudatagen.core.recipe_io``, so
``--set`` works as everywhere (a list item by its index: ``--set train.datasets.0.limit=500``).

One section makes one model (the single form) or several: ``trainings:`` lists named trainings,
each into ``OUT/NAME/``, and ``split_by_symmetry: true`` is the short form of two of them, ``sym``
and ``asym``. :meth:`TrainSettings.resolved` turns either into plain single-form sections, so the
trainer only ever sees one training at a time.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from rudatagen import fields
from rudatagen.kinds import KINDS, spelled_choices
from rudatagen.strict import StrictModel
from rudatagen.training.merge_settings import MergeSettings
from rudatagen.training.st_format import SENTENCE_TRANSFORMERS, valid_role

LossName = Literal["mnrl", "cached_mnrl", "gist", "cached_gist", "cosent", "angle"]
TRIPLET_LOSSES = ("mnrl", "cached_mnrl", "gist", "cached_gist")
PAIR_LOSSES = ("cosent", "angle")
GUIDED_LOSSES = ("gist", "cached_gist")  # they need ``losses.guide``
# From the registry (a new kind needs no edit here), then sentence-transformers' conventions.
SOURCE_KINDS = ("auto", *KINDS, SENTENCE_TRANSFORMERS)
NAME_PATTERN = r"^[A-Za-z0-9_\-]+$"
MERGED = "merged"  # the merge's folder under OUT/: no training may take the name
BASE = "base"  # in merge.models: the section's base model (against forgetting)


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

    ``query`` goes before anchors (RuHNP queries, retrieval queries), ``document`` before the
    other side (RuHNP paraphrases and non-paraphrases, retrieval passages and their negatives:
    ``search_query: `` / ``search_document: `` for USER2-style models), ``symmetric`` before both
    sides of NLI and labelled pairs, and before every text of a symmetric training or dataset
    (see ``training.build``)."""

    query: str = Field("", description="Before queries (RuHNP and retrieval anchors).")
    document: str = Field(
        "", description="Before RuHNP paraphrases/non-paraphrases and retrieval passages."
    )
    symmetric: str = Field("", description="Before both sides of NLI and labelled pairs.")


class DatasetSettings(StrictModel):
    """One training source. ``path``: a published folder (``data/{split}-*.parquet``), a run
    directory (``data/*.parquet``), a Parquet file, or a Hub dataset id (needs the network)."""

    name: str = Field(
        pattern=NAME_PATTERN, description="Dataset name (losses and metrics are keyed by it)."
    )
    path: str = Field(description="Published folder, run directory, Parquet file or Hub id.")
    split: str = Field("train", description="Split to train on.")
    kind: Literal[SOURCE_KINDS] = Field(  # type: ignore[valid-type]
        "auto",
        description=f"{spelled_choices(tuple(KINDS))}; `{SENTENCE_TRANSFORMERS}`: columns in its "
        "conventions (anchor/positive[/negative, negative_1..n], sentence1/sentence2/score or "
        "0/1 label); `auto`: the manifest, else a kind's columns, else those conventions.",
    )
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="Sentence-transformers reading with other column names: role → column "
        "(`{anchor: question, positive: answer}`).",
    )
    symmetric: bool | None = Field(
        None,
        description="Both sides the same kind of text (null: the kind's: RuHNP, WANLI, "
        "sentence pairs yes; retrieval, anchor/positive tuples no). Given, it also sets the "
        "prefixes: `symmetric` on every text, or `query` on the first and `document` on the rest.",
    )
    limit: int | None = Field(None, ge=1, description="Use at most N rows of the source.")
    combinations_per_query: int = Field(
        5, ge=1, le=25, description="(positive, negative) pairs per query/premise, of all p×n."
    )
    triplet_loss: LossName | None = Field(
        None, description="Loss of its triplets (null: the training's `losses.triplets`)."
    )
    pair_loss: LossName | None = Field(
        None, description="Loss of its scored pairs (null: the training's `losses.pairs`)."
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
        _check_losses(self.triplet_loss, self.pair_loss, "triplet_loss", "pair_loss")
        bad = [role for role in self.columns if not valid_role(role)]
        if bad:
            raise ValueError(f"columns: unknown role(s) {bad}")
        if self.columns and self.kind not in ("auto", SENTENCE_TRANSFORMERS):
            raise ValueError(f"columns: only for kind {SENTENCE_TRANSFORMERS} (or auto)")
        return self


def _check_losses(triplets: str | None, pairs: str | None, *names: str) -> None:
    if triplets is not None and triplets not in TRIPLET_LOSSES:
        raise ValueError(f"{names[0]} must be one of {', '.join(TRIPLET_LOSSES)}")
    if pairs is not None and pairs not in PAIR_LOSSES:
        raise ValueError(f"{names[1]} must be one of {', '.join(PAIR_LOSSES)}")


class LossSettings(StrictModel):
    """The losses of a training's datasets (a dataset's own `triplet_loss` / `pair_loss` wins).

    `gist` / `cached_gist` are sentence-transformers' GISTEmbedLoss / CachedGISTEmbedLoss: MNRL
    whose in-batch candidates the `guide` model finds closer to the anchor than the positive is
    are masked, so a false negative (a paraphrase of the anchor in another row) is not pushed
    away."""

    triplets: LossName = Field(
        "mnrl",
        description="`mnrl` (MultipleNegativesRankingLoss), `cached_mnrl` (its GradCache variant: "
        "big batches in little memory), `gist` / `cached_gist` (the same with a guide model).",
    )
    pairs: LossName = Field("cosent", description="`cosent` or `angle`, for scored pairs.")
    guide: str | None = Field(
        None,
        description="`gist` / `cached_gist`: the guide model (Hub id or folder; the base model "
        "itself is a common choice), kept frozen.",
    )
    gist_margin: float = Field(
        0.0,
        description="`gist`: mask candidates the guide scores above the positive's similarity "
        "minus this margin (sentence-transformers' absolute strategy).",
    )

    @model_validator(mode="after")
    def _known(self) -> LossSettings:
        _check_losses(self.triplets, self.pairs, "losses.triplets", "losses.pairs")
        return self


class TrainingSettings(StrictModel):
    """Sentence-transformers' training arguments."""

    epochs: float = Field(1.0, gt=0, description="Epochs over the data (`max_steps` > 0 wins).")
    max_steps: int = Field(-1, description="Stop after N steps (-1: run all epochs).")
    batch_size: int = Field(64, ge=2, description="Per device; bigger is better for MNRL.")
    mini_batch_size: int = Field(
        32, ge=1, description="cached_mnrl / cached_gist: texts per forward pass."
    )
    learning_rate: float = fields.learning_rate(2e-5)
    warmup_ratio: float = fields.warmup_ratio()
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay.")
    scale: float = Field(20.0, gt=0, description="MNRL / GIST similarity scale (1 / temperature).")
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
    anchor_groups: Literal["exact", "loose", "lemmas"] = Field(
        "lemmas",
        description="Rows whose anchors are alike never share a batch (no in-batch false "
        "negative): `exact` (no text twice in a batch: sentence-transformers' NO_DUPLICATES), "
        "`loose` (+ anchors equal up to case, ё/е, punctuation, spacing), `lemmas` (+ the same "
        "lemmas in the same order).",
    )


SYMMETRIC_HELP = (
    "The model this training makes: `true` symmetric (only the symmetric datasets; "
    "`prefixes.symmetric` before every text, and saved as every prompt), `false` asymmetric "
    "(only the asymmetric datasets), null: every dataset."
)


class TrainingEntry(StrictModel):
    """One of several trainings, into `OUT/NAME/`. A key left out is the section's; a section
    given here changes only the keys it names (`training: {learning_rate: 1e-5}`)."""

    name: str = Field(pattern=NAME_PATTERN, description="Training name: its folder `OUT/NAME/`.")
    symmetric: bool | None = Field(None, description=SYMMETRIC_HELP)
    model: ModelSettings | None = Field(None, description="Overrides `train.model`.")
    prefixes: Prefixes | None = Field(None, description="Overrides `train.prefixes`.")
    datasets: list[DatasetSettings] | None = Field(
        None, description="Its own sources (null: `train.datasets`)."
    )
    losses: LossSettings | None = Field(None, description="Overrides `train.losses`.")
    training: TrainingSettings | None = Field(None, description="Overrides `train.training`.")
    model_card: dict[str, str] | None = Field(None, description="Added to `train.model_card`.")


class TrainSettings(StrictModel):
    """Encoder training: the base model, prefixes, datasets, losses and trainer settings; one
    training (into `OUT/`) or several (`trainings:` or `split_by_symmetry`, into `OUT/NAME/`)."""

    name: str = Field("train", description="Run name (model card, trainer's run name).")
    symmetric: bool | None = Field(None, description=SYMMETRIC_HELP)
    model: ModelSettings = fields.section(ModelSettings)
    prefixes: Prefixes = fields.section(
        Prefixes,
        "Text put before every input, by role; saved with the model as `model.prompts` and used "
        "by `evaluate` and `shift`.",
    )
    datasets: list[DatasetSettings] = Field(
        default_factory=list,
        description="The training sources, trained on together (with several trainings: those "
        "of every training without its own list).",
    )
    losses: LossSettings = fields.section(LossSettings)
    training: TrainingSettings = fields.section(TrainingSettings)
    model_card: dict[str, str] = Field(
        default_factory=dict, description="Extra model card fields: model_name, license, model_id."
    )
    split_by_symmetry: bool = Field(
        False,
        description="Two trainings from `datasets`: `sym` (`symmetric: true`) and `asym` "
        "(`symmetric: false`), into `OUT/sym/` and `OUT/asym/` (the USER method).",
    )
    trainings: list[TrainingEntry] = Field(
        default_factory=list,
        description="Several named trainings, one after the other, each into `OUT/NAME/`; "
        "every key an entry leaves out is this section's.",
    )
    merge: MergeSettings | None = Field(
        None,
        description="After the trainings, merge models into `OUT/merged/` (`models`: training "
        "names, `base` for `model.base`, folders or Hub ids; the trainings go to `OUT/NAME/`).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> TrainSettings:
        if self.trainings and self.split_by_symmetry:
            raise ValueError("give either trainings or split_by_symmetry, not both")
        names = [entry.name for entry in self.trainings]
        if len(set(names)) != len(names):
            raise ValueError(f"training names must be unique, got {names}")
        if self.merge is not None and MERGED in [t.name for t in self.resolved()]:
            raise ValueError(f"a training named {MERGED!r} would clash with the merge's folder")
        for training in self.resolved():
            where = f"training {training.name}: " if self.several else ""
            if not training.datasets:
                raise ValueError(f"{where}no datasets (give train.datasets)")
            listed = [d.name for d in training.datasets]
            if len(set(listed)) != len(listed):
                raise ValueError(f"{where}dataset names must be unique, got {listed}")
            guided = [loss for loss in training.loss_names() if loss in GUIDED_LOSSES]
            if guided and not training.losses.guide:
                raise ValueError(f"{where}{guided[0]} needs a guide model (losses.guide)")
        return self

    @property
    def several(self) -> bool:
        """Whether the section makes several models, each into ``OUT/NAME/``: several
        trainings, or a training and its merge."""
        return bool(self.trainings) or self.split_by_symmetry or self.merge is not None

    def loss_names(self) -> set[str]:
        """Every loss the datasets of this (single) training may use."""
        return {
            name
            for d in self.datasets
            for name in (
                d.triplet_loss or self.losses.triplets,
                d.pair_loss or self.losses.pairs,
            )
        }

    def resolved(self) -> list[TrainSettings]:
        """The trainings to run, each a single-form section: this one, or one per entry of
        ``trainings`` (``split_by_symmetry``: ``sym`` and ``asym``) with the entry's keys laid
        over this section's."""
        if self.split_by_symmetry:
            entries = [
                TrainingEntry(name="sym", symmetric=True),
                TrainingEntry(name="asym", symmetric=False),
            ]
        elif self.trainings:
            entries = self.trainings
        else:
            return [self]
        return [self._with(entry) for entry in entries]

    def _with(self, entry: TrainingEntry) -> TrainSettings:
        update: dict[str, object] = {"name": entry.name, "trainings": []}
        update["split_by_symmetry"] = False
        update["merge"] = None  # a training merges nothing; the section does
        for key in entry.model_fields_set - {"name"}:
            value, base = getattr(entry, key), getattr(self, key)
            if isinstance(value, BaseModel) and isinstance(base, BaseModel):
                value = base.model_copy(
                    update={k: getattr(value, k) for k in value.model_fields_set}
                )
            elif isinstance(value, dict) and isinstance(base, dict):
                value = {**base, **value}
            update[key] = base if value is None and key != "symmetric" else value
        return self.model_copy(update=update)
