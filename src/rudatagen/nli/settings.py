"""The ``wanli:`` section of a recipe: seeds, cartography, seed selection, generation, filtering."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from rudatagen import fields
from rudatagen.filters.settings import DecontaminateSettings, WanliFilterSettings
from rudatagen.generators.settings import GenerateSettings
from rudatagen.strict import StrictModel

CANONICAL_LABELS = ("entailment", "neutral", "contradiction", "not_entailment")


class SeedDataSettings(StrictModel):
    """Where the seed NLI set lives and how its columns and labels map to ours."""

    path: Path | None = Field(None, description="Seed data (or `--seed-data`).")
    format: Literal["auto", "jsonl", "csv", "tsv", "parquet", "hf"] = Field(
        "auto", description="`auto`: by extension; a folder is `hf` (`save_to_disk`)."
    )
    split: str = Field("train", description="Split of a saved `DatasetDict`.")
    premise_column: str = Field("premise", description="Source column of the premise.")
    hypothesis_column: str = Field("hypothesis", description="Source column of the hypothesis.")
    label_column: str = Field("label", description="Source column of the label.")
    id_column: str | None = Field(None, description="Unique id column; null: the row number.")
    labels: list[str] = Field(
        default_factory=lambda: ["entailment", "neutral", "contradiction"],
        description="The label set, in class-id order (2-way: `[entailment, not_entailment]`).",
    )
    label_map: dict[str, str] = Field(
        default_factory=dict,
        description='Raw value → canonical label (`"0": entailment`). Empty: the raw values '
        "must be the canonical names. Quote YAML's `yes`/`no`/`on`/`off` keys: unquoted they "
        "are read as booleans.",
    )
    limit: int | None = Field(
        None, ge=1, description="Use a seeded random sample of at most N seed examples."
    )
    sample_seed: int = Field(0, description="Seed of the `limit` sample.")

    @field_validator("labels")
    @classmethod
    def _known_labels(cls, value: list[str]) -> list[str]:
        unknown = [label for label in value if label not in CANONICAL_LABELS]
        if unknown:
            raise ValueError(
                f"unknown label(s) {', '.join(unknown)}; use {', '.join(CANONICAL_LABELS)}"
            )
        if len(value) < 2 or len(set(value)) != len(value):
            raise ValueError("needs at least two distinct labels")
        return value

    @field_validator("label_map", mode="before")
    @classmethod
    def _string_keys(cls, value: object) -> object:
        # YAML reads `0: entailment` with an int key; raw labels are compared as strings.
        if isinstance(value, dict):
            return {str(k): v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _map_targets(self) -> SeedDataSettings:
        bad = sorted({v for v in self.label_map.values() if v not in self.labels})
        if bad:
            raise ValueError(
                f"label_map maps to unknown label(s) {', '.join(bad)} "
                f"(labels: {', '.join(self.labels)})"
            )
        return self


class CartographySettings(StrictModel):
    """The classifier trained on the seed set to record training dynamics."""

    model: str = Field(
        "deepvk/USER-base",
        description="Encoder, or folder, to train (a new classification head is added).",
    )
    epochs: int = Field(5, ge=2, description="Epochs, at least 2 (variability needs two points).")
    batch_size: int = Field(32, ge=1, description="Training batch size.")
    learning_rate: float = fields.learning_rate(2e-5)
    warmup_ratio: float = fields.warmup_ratio()
    max_length: int = Field(128, ge=8, description="Truncate pairs to N tokens.")
    predict_batch_size: int = Field(64, ge=1, description="Batch size of the per-epoch prediction.")
    seed: int = fields.training_seed()
    device: str | None = fields.device()


class SelectionSettings(StrictModel):
    """Which seeds are ambiguous and how many neighbours each prompt holds."""

    quantile: float = Field(
        0.75,
        gt=0,
        lt=1,
        description="Per-label variability quantile above which a seed is ambiguous.",
    )
    k: int = Field(
        4, ge=1, le=20, description="Neighbours per prompt (the prompt shows `k + 1` examples)."
    )
    max_seeds: int | None = Field(
        None, ge=1, description="Prompt with at most this many seeds (`--limit`)."
    )
    embed_batch_size: int = Field(64, ge=1, description="Batch size for the [CLS] embeddings.")


class GenerationSettings(StrictModel):
    """``pairs``: one new pair per seed; ``triples``: premise + entailed + contradicting."""

    mode: Literal["pairs", "triples"] = Field(
        "pairs",
        description="`pairs`: one new pair per seed; `triples`: premise + entailed + "
        "contradicting hypothesis.",
    )
    prompts: Path | None = Field(None, description="Prompt folder (null: `prompts/wanli/<mode>/`).")
    max_chars: int | None = Field(
        400, ge=10, description="`maxLength` of each string in the answer schema."
    )


class WanliSettings(StrictModel):
    seeds: SeedDataSettings = fields.section(SeedDataSettings)
    cartography: CartographySettings = fields.section(CartographySettings)
    selection: SelectionSettings = fields.section(SelectionSettings)
    generation: GenerationSettings = fields.section(
        GenerationSettings, "What the LLM is asked to write."
    )
    filter: WanliFilterSettings = fields.section(WanliFilterSettings)


class WanliRunSettings(StrictModel):
    """What ``generate wanli`` reads: the generation sections, the ``wanli:`` section and the
    recipe's ``filters.decontaminate`` (the evaluation sets every stage keeps out)."""

    generate: GenerateSettings = Field(default_factory=GenerateSettings)
    wanli: WanliSettings = Field(default_factory=WanliSettings)
    decontaminate: DecontaminateSettings = Field(default_factory=DecontaminateSettings)

    def public_dict(self) -> dict[str, object]:
        """As written to the manifest: the generation sections with ``wanli`` beside them, and
        ``filters.decontaminate`` where it is on."""
        public: dict[str, object] = {
            **self.generate.public_dict(),
            "wanli": self.wanli.model_dump(mode="json"),
        }
        if self.decontaminate.enabled:
            public["filters"] = {"decontaminate": self.decontaminate.model_dump(mode="json")}
        return public

    @classmethod
    def from_public_dict(cls, recipe: dict[str, Any]) -> WanliRunSettings:
        """The settings back from a manifest's ``recipe`` (``merge-shards`` filters with them)."""
        generate = {k: v for k, v in recipe.items() if k not in ("wanli", "filters")}
        decontaminate = (recipe.get("filters") or {}).get("decontaminate") or {}
        return cls(
            generate=GenerateSettings.model_validate(generate),
            wanli=WanliSettings.model_validate(recipe.get("wanli") or {}),
            decontaminate=DecontaminateSettings.model_validate(decontaminate),
        )
