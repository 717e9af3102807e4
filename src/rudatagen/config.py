"""Recipes: the composed settings model of a run, one section per stage.

A recipe holds every setting of a run. With no recipe file the defaults below apply, and they
describe the *embedded* demo set-up (Gemma 3 270M through llama.cpp, no server needed);
``recipes/ruhnp.yaml`` holds the production set-up (an instruct model behind vLLM's server).
Sections live next to their stage (``sources``, ``llm.settings`` with one model per backend,
``generators.settings``, ``filters.settings``, ``nli.settings``, ``training.recipe``); reading,
``--set`` and one-line errors are ``rudatagen.core.recipe_io``'s.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from rudatagen import fields
from rudatagen.annotate.settings import AnnotateSettings
from rudatagen.core.recipe_io import load_model
from rudatagen.evaluation.settings import EvaluateSettings
from rudatagen.executor.settings import ExecutorSettings
from rudatagen.filters.calibration_settings import CalibrateSettings
from rudatagen.filters.settings import FilterSettings
from rudatagen.generators.queries_settings import QueriesSettings
from rudatagen.generators.settings import (
    RECIPE_TASKS,
    CacheSettings,
    GenerateSettings,
    OutputSettings,
    RuHNPSettings,
)
from rudatagen.kinds import spelled_choices
from rudatagen.llm.registry import AnyLLMSettings, default_llm_settings
from rudatagen.llm.settings import EMBEDDED_MODEL_NAME as EMBEDDED_MODEL_NAME
from rudatagen.mine.settings import MineSettings
from rudatagen.nli.settings import WanliRunSettings, WanliSettings
from rudatagen.publish.settings import PublishSettings
from rudatagen.sources import SourceSettings
from rudatagen.strict import StrictModel
from rudatagen.training.cross_encoder_settings import CrossEncoderTrainingSettings
from rudatagen.training.recipe import TrainSettings

TRAINING_KEYS = ("model", "prefixes", "datasets", "training", "model_card")
"""Keys of the ``train:`` section that old training recipes kept at the top level."""


class Recipe(StrictModel):
    """A whole run's settings."""

    task: Literal[RECIPE_TASKS] = Field(  # type: ignore[valid-type]
        "ruhnp", description=f"What the recipe is for: {spelled_choices(RECIPE_TASKS)}."
    )
    name: str | None = Field(None, description="The run's name (manifests, cards).")
    source: SourceSettings = fields.section(SourceSettings, "Which texts, and which are kept.")
    llm: AnyLLMSettings = fields.section(
        default_llm_settings, "Who answers: the backend and its own keys, sampling, retries."
    )
    ruhnp: RuHNPSettings = fields.section(RuHNPSettings, "The RuHNP generator.")
    queries: QueriesSettings = fields.section(
        QueriesSettings, "Retrieval queries for passages (`rudatagen generate queries`)."
    )
    output: OutputSettings = fields.section(OutputSettings, "How generated rows are written.")
    cache: CacheSettings = fields.section(CacheSettings, "The SQLite response cache.")
    executor: ExecutorSettings = fields.section(ExecutorSettings)
    filters: FilterSettings = fields.section(
        FilterSettings, "The filter stages (`rudatagen filter`)."
    )
    mine: MineSettings = fields.section(
        MineSettings, "Hard negatives from a corpus (`rudatagen mine`)."
    )
    wanli: WanliSettings = fields.section(
        WanliSettings, "WANLI-style NLI generation (`rudatagen cartography`, `generate wanli`)."
    )
    train: TrainSettings | None = Field(
        None, description="Encoder training (`rudatagen train`); needed by `task: train`."
    )
    annotate: AnnotateSettings = fields.section(
        AnnotateSettings, "Human review (`rudatagen annotate`)."
    )
    calibrate: CalibrateSettings = fields.section(CalibrateSettings)
    evaluate: EvaluateSettings = fields.section(
        EvaluateSettings, "Evaluation sets and encoding (`rudatagen evaluate` and `shift`)."
    )
    cross_encoder_training: CrossEncoderTrainingSettings = fields.section(
        CrossEncoderTrainingSettings, "`rudatagen train-cross-encoder` (its flags override these)."
    )
    publish: PublishSettings = fields.section(
        PublishSettings, "Splits and the card (`rudatagen publish`; its flags override these)."
    )

    @model_validator(mode="after")
    def _train_needs_section(self) -> Recipe:
        if self.task == "train" and self.train is None:
            raise ValueError("task 'train' needs a 'train:' section")
        return self

    def public_dict(self) -> dict[str, Any]:
        """The resolved recipe as written to manifests (secrets never live in a recipe)."""
        return self.model_dump(mode="json")

    def generate_settings(self) -> GenerateSettings:
        """The sections the generate stage reads (source, llm, ruhnp, queries, output, cache)."""
        return GenerateSettings(
            task=self.task,
            name=self.name,
            source=self.source,
            llm=self.llm,
            ruhnp=self.ruhnp,
            queries=self.queries,
            output=self.output,
            cache=self.cache,
        )

    def wanli_settings(self) -> WanliRunSettings:
        """The sections ``generate wanli`` reads (generation, ``wanli:`` and
        ``filters.decontaminate``)."""
        return WanliRunSettings(
            generate=self.generate_settings(),
            wanli=self.wanli,
            decontaminate=self.filters.decontaminate,
        )

    def generation_fingerprint(self, prompt_digest: str = "") -> str:
        """What a resumed run must match: ``GenerateSettings.fingerprint`` of this recipe."""
        return self.generate_settings().fingerprint(prompt_digest)


def nest_training_keys(data: dict[str, Any], origin: str) -> dict[str, Any]:
    """Move an old training recipe's top-level keys under ``train:``, with one warning line.

    Old layout: ``task: train`` with ``datasets:`` (``model:``, ...) at the top level. Its
    ``name`` names the training run, so it moves too unless ``train:`` has one already.
    """
    moved = [key for key in TRAINING_KEYS if key in data]
    if data.get("task") != "train" or not moved:
        return data
    print(
        f"warning: {origin}: training keys at the top level are deprecated; "
        "nest them under 'train:'",
        file=sys.stderr,
    )
    section = data.get("train")
    section = dict(section) if isinstance(section, dict) else {}
    for key in moved:
        section[key] = data.pop(key)
    if "name" in data and "name" not in section:
        section["name"] = data.pop("name")
    return {**data, "train": section}


def load_recipe(path: Path | None = None, overrides: list[str] | None = None) -> Recipe:
    """Read a recipe (or the embedded defaults), apply overrides, validate."""
    return load_model(Recipe, path, overrides, upgrade=nest_training_keys)
