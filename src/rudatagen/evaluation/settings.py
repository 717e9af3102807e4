"""The ``evaluate:`` section of a recipe: what ``evaluate`` and ``shift`` measure on, and how."""

from __future__ import annotations

from pydantic import Field

from rudatagen.strict import StrictModel


class PrefixOverrides(StrictModel):
    """Prefixes to use instead of the ones saved with the model (``null``: the model's own)."""

    query: str | None = Field(None, description="Before queries (RuHNP anchors).")
    document: str | None = Field(None, description="Before documents (RuHNP candidates).")
    symmetric: str | None = Field(None, description="Before both sides of symmetric pairs.")


class EvaluateSettings(StrictModel):
    """Evaluation sets and encoding, shared by ``rudatagen evaluate`` and ``rudatagen shift``."""

    data: list[str] = Field(
        default_factory=list,
        description="Published folders, run directories, Parquet files or Hub ids.",
    )
    split: str = Field("test", description="The split of each `data` entry to evaluate on.")
    extra: list[str] = Field(
        default_factory=list,
        description="Labelled pair files, `PATH[:text1=..,text2=..,label=..|score=..,...]`.",
    )
    prefixes: PrefixOverrides = Field(
        default_factory=PrefixOverrides, description="Prefix overrides."
    )
    batch_size: int = Field(64, ge=1, description="Encoding batch size.")
    max_seq_length: int | None = Field(None, ge=8, description="Truncate inputs to N tokens.")
    device: str | None = Field(None, description="cpu, cuda, … (null: the best available).")
