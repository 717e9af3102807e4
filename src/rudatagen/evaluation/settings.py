"""The ``evaluate:`` section of a recipe: what ``evaluate`` and ``shift`` measure on, and how."""

from __future__ import annotations

from pydantic import Field

from rudatagen.strict import StrictModel


class PrefixOverrides(StrictModel):
    """Prefixes to use instead of the ones saved with the model (``null``: the model's own)."""

    query: str | None = Field(None, description="Before queries (RuHNP and retrieval anchors).")
    document: str | None = Field(
        None, description="Before documents (RuHNP candidates, retrieval passages)."
    )
    symmetric: str | None = Field(None, description="Before both sides of symmetric pairs.")


class BootstrapSettings(StrictModel):
    """Percentile bootstrap intervals: ``evaluate``'s metrics, paired model differences, and
    ``shift``'s measures (its verdict needs them, so 0 resamples is an error there)."""

    n_resamples: int = Field(1000, ge=0, description="Resamples per interval (0: no intervals).")
    confidence_level: float = Field(0.95, gt=0, lt=1, description="Coverage of each interval.")
    seed: int = Field(0, description="Seed of the resampling: the same seed, the same intervals.")


class EvaluateSettings(StrictModel):
    """Evaluation sets and encoding, shared by ``rudatagen evaluate`` and ``rudatagen shift``."""

    data: list[str] = Field(
        default_factory=list,
        description="Published folders, run directories, Parquet files or Hub ids.",
    )
    split: str = Field("test", description="The split of each `data` entry to evaluate on.")
    extra: list[str] = Field(
        default_factory=list,
        description="Labelled pair files, `PATH[:text1=..,text2=..,label=..|score=..,...]`, "
        "or (evaluate) BEIR-style folders (`corpus.jsonl`, `queries.jsonl`, `qrels/test.tsv`).",
    )
    prefixes: PrefixOverrides = Field(
        default_factory=PrefixOverrides, description="Prefix overrides."
    )
    batch_size: int = Field(64, ge=1, description="Encoding batch size.")
    max_seq_length: int | None = Field(None, ge=8, description="Truncate inputs to N tokens.")
    device: str | None = Field(None, description="cpu, cuda, … (null: the best available).")
    bootstrap: BootstrapSettings = Field(
        default_factory=BootstrapSettings,
        description="Intervals of `evaluate`'s metrics and `shift`'s measures.",
    )
