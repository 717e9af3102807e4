"""The ``cross_encoder_training:`` section: ``rudatagen train-cross-encoder``'s settings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from rudatagen.strict import StrictModel


class PairColumns(StrictModel):
    """Which columns of a labelled pair file hold the texts and the label."""

    text1: str = Field("text_1", description="Column of the first text.")
    text2: str = Field("text_2", description="Column of the second text.")
    label: str = Field("class", description="Column of the label.")
    positive: list[str] = Field(
        default_factory=lambda: ["1"], description="Label values of positive pairs."
    )
    negative: list[str] = Field(
        default_factory=lambda: ["-1"], description="Label values of negative pairs."
    )


class CrossEncoderTrainingSettings(StrictModel):
    """A paraphrase (or 3-way NLI) cross-encoder that loads as the filter's model."""

    base: str = Field("deepvk/USER-base", description="Base encoder (Hub id or folder).")
    kind: Literal["paraphrase", "nli"] = Field(
        "paraphrase", description="`nli`: the label column holds entailment/neutral/contradiction."
    )
    columns: PairColumns = Field(default_factory=PairColumns, description="The pair file.")
    epochs: float = Field(1.0, ge=0.01, description="Training epochs.")
    batch_size: int = Field(16, ge=1, description="Pairs per step.")
    learning_rate: float = Field(5e-5, gt=0, description="Peak learning rate.")
    max_length: int = Field(128, ge=8, description="Truncate pairs to N tokens.")
    eval_fraction: float = Field(
        0.1, ge=0, le=0.5, description="Share of pairs held out for the metrics."
    )
    limit: int | None = Field(None, ge=1, description="Train on at most N pairs.")
    seed: int = Field(42, description="Seed of the split and the training.")
