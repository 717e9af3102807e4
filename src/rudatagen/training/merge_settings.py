"""The ``merge:`` section of a training recipe and the options of ``rudatagen merge-models``.

A merge makes one model from several of the same architecture (:mod:`rudatagen.training.merge`):
``linear`` averages their parameters with weights that are given, equal, or tuned on a few
examples of the target tasks as LM-Cocktail does (``tune_on``); ``slerp`` interpolates two models
on the sphere. In a recipe, ``models`` names the section's trainings (``sym``, ``asym``) or any
other model (a folder or Hub id, such as the base model, against forgetting).

This module imports nothing of the training recipe (``training.recipe`` imports it).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from rudatagen import fields
from rudatagen.kinds import KINDS
from rudatagen.strict import StrictModel
from rudatagen.training.st_format import SENTENCE_TRANSFORMERS

MergeMethod = Literal["linear", "slerp"]
TUNE_KINDS = ("auto", *KINDS, SENTENCE_TRANSFORMERS)
_SPLIT = re.compile(r"^[A-Za-z0-9_.\-]+$")


class TuneSet(StrictModel):
    """A few examples of one target task: rows of a dataset read like training data (a published
    folder, run directory, Parquet file or Hub id), turned into (anchor, positive[, negative…])
    rows by its kind. In a recipe, ``PATH:SPLIT`` is short for ``{path: PATH, split: SPLIT}``."""

    path: str = Field(description="Published folder, run directory, Parquet file or Hub id.")
    split: str = Field("validation", description="Split to take the examples from.")
    name: str | None = Field(None, description="Task name in the card (null: `FOLDER:SPLIT`).")
    kind: Literal[TUNE_KINDS] = Field(  # type: ignore[valid-type]
        "auto", description="Dataset kind, as for a training dataset (`auto`: detected)."
    )
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="Sentence-transformers reading with other column names: role → column.",
    )
    symmetric: bool | None = Field(
        None, description="Prefixes as for a training dataset (null: the kind's)."
    )

    @model_validator(mode="before")
    @classmethod
    def _short_form(cls, data: Any) -> Any:
        return cls.parse_spec(data) if isinstance(data, str) else data

    @staticmethod
    def parse_spec(spec: str) -> dict[str, str]:
        """``PATH:SPLIT`` (the split after the last colon) or ``PATH`` (the validation split)."""
        path, colon, split = spec.rpartition(":")
        if colon and path and _SPLIT.match(split):
            return {"path": path, "split": split}
        return {"path": spec}

    @property
    def label(self) -> str:
        return self.name or f"{Path(self.path.rstrip('/')).name or self.path}:{self.split}"


class MergeSettings(StrictModel):
    """Merge models into one: a weighted average of their parameters (weights given, equal, or
    tuned as LM-Cocktail does on a few examples per task), or SLERP of two."""

    models: list[str] = Field(
        min_length=2,
        description="Models to merge, in order: names of this section's trainings, folders or Hub "
        "ids. The first gives the merged model its configuration and tokenizer.",
    )
    method: MergeMethod = Field(
        "linear",
        description="`linear`: weighted average of every parameter; `slerp`: spherical "
        "interpolation of two models, tensor by tensor (`t`).",
    )
    weights: list[float] | None = Field(
        None,
        description="`linear`: one weight ≥ 0 per model, normalised to sum to 1 (null: tuned on "
        "`tune_on`, else equal).",
    )
    tune_on: list[TuneSet] = Field(
        default_factory=list,
        description="`linear`: tune the weights on a few examples of each of these datasets "
        "(LM-Cocktail): softmax(−loss / temperature) of each model's MNRL loss.",
    )
    t: float = fields.share(0.5, "`slerp`: 0 gives the first model, 1 the second.")
    temperature: float = Field(
        5.0, gt=0, description="LM-Cocktail's softmax temperature (its default: 5)."
    )
    examples_per_task: int = Field(
        16, ge=2, description="Examples taken from each `tune_on` dataset (seeded sample)."
    )
    batch_size: int = Field(
        16, ge=2, description="Examples per batch of the tuning loss (in-batch negatives)."
    )
    scale: float = Field(20.0, gt=0, description="MNRL similarity scale of the tuning loss.")
    seed: int = Field(0, description="Seed of the examples' sample.")
    prompts: dict[str, str] = Field(
        default_factory=dict,
        description="Prompts of the merged model by role (`query`, `document`, `symmetric`), "
        "over the parents' (for a role two parents prefix differently: the first's).",
    )
    device: str | None = fields.device()

    @model_validator(mode="after")
    def _consistent(self) -> MergeSettings:
        if self.method == "slerp":
            if len(self.models) != 2:
                raise ValueError(f"slerp merges exactly two models, got {len(self.models)}")
            if self.weights is not None or self.tune_on:
                raise ValueError("slerp takes t, not weights or tune_on")
            return self
        if self.weights is not None and self.tune_on:
            raise ValueError("give weights or tune_on, not both")
        labels = [tune.label for tune in self.tune_on]
        if len(set(labels)) != len(labels):
            raise ValueError(f"tune_on: two sets named alike in {labels}; give each a name")
        if self.weights is not None:
            if len(self.weights) != len(self.models):
                raise ValueError(
                    f"{len(self.weights)} weights for {len(self.models)} models: give one each"
                )
            if any(w < 0 for w in self.weights) or sum(self.weights) <= 0:
                raise ValueError("weights must be ≥ 0 with a positive sum")
        return self

    def given_weights(self) -> list[float] | None:
        """The weights normalised to sum to 1, equal when neither weights nor tune_on is given,
        None when they are to be tuned (or for SLERP)."""
        if self.method == "slerp" or self.tune_on:
            return None
        raw = self.weights or [1.0] * len(self.models)
        return [w / sum(raw) for w in raw]
