"""The ``wanli:`` section of a recipe: seeds, cartography, seed selection, generation, filtering."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from rudatagen.strict import StrictModel

CANONICAL_LABELS = ("entailment", "neutral", "contradiction", "not_entailment")


class SeedDataSettings(StrictModel):
    """Where the seed NLI set lives and how its columns and label values map to ours."""

    path: Path | None = None
    format: Literal["auto", "jsonl", "csv", "tsv", "parquet", "hf"] = "auto"
    split: str = "train"
    premise_column: str = "premise"
    hypothesis_column: str = "hypothesis"
    label_column: str = "label"
    id_column: str | None = None
    labels: list[str] = Field(default_factory=lambda: ["entailment", "neutral", "contradiction"])
    label_map: dict[str, str] = Field(default_factory=dict)
    limit: int | None = Field(None, ge=1)
    sample_seed: int = 0

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

    model: str = "deepvk/USER-base"
    epochs: int = Field(5, ge=2)
    batch_size: int = Field(32, ge=1)
    learning_rate: float = Field(2e-5, gt=0)
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    max_length: int = Field(128, ge=8)
    predict_batch_size: int = Field(64, ge=1)
    seed: int = 42
    device: str | None = None


class SelectionSettings(StrictModel):
    """Which seeds are ambiguous and how many neighbours each prompt holds."""

    quantile: float = Field(0.75, gt=0, lt=1)
    k: int = Field(4, ge=1, le=20)
    max_seeds: int | None = Field(None, ge=1)
    embed_batch_size: int = Field(64, ge=1)


class GenerationSettings(StrictModel):
    """``pairs``: one new pair per seed; ``triples``: premise + entailed + contradicting."""

    mode: Literal["pairs", "triples"] = "pairs"
    prompts: Path | None = None
    max_chars: int | None = Field(400, ge=10)


class WanliFilterSettings(StrictModel):
    """WANLI's heuristics and the estimated-max-variability filter."""

    min_chars: int = Field(5, ge=1)
    leak_phrases: list[str] = Field(
        default_factory=lambda: [
            "Пример",
            "Посылка:",
            "Гипотеза:",
            "Предложение:",
            "Отношение:",
            "Следствие:",
            "Возможно:",
            "Противоречие:",
            "Не следует:",
            "premise",
            "hypothesis",
            "JSON",
        ]
    )
    keep_fraction: float = Field(0.5, gt=0, le=1)
    batch_size: int = Field(64, ge=1)
    max_length: int | None = Field(None, ge=8)


class WanliSettings(StrictModel):
    seeds: SeedDataSettings = Field(default_factory=SeedDataSettings)
    cartography: CartographySettings = Field(default_factory=CartographySettings)
    selection: SelectionSettings = Field(default_factory=SelectionSettings)
    generation: GenerationSettings = Field(default_factory=GenerationSettings)
    filter: WanliFilterSettings = Field(default_factory=WanliFilterSettings)
