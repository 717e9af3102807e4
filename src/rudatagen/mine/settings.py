"""The ``mine:`` section of a recipe: which encoder mines, how many negatives, how hard.

The keys are those of sentence-transformers' ``util.mine_hard_negatives`` (which does the
mining), under the same names, so its documentation reads for them too. The false-negative
guard is ``relative_margin`` (default 0.05: a negative must score at least 5% below the
positive, the NV-Retriever "TopK-PercPos" rule) and/or ``absolute_margin`` / ``max_score``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from rudatagen import fields
from rudatagen.core.tables import TableFormat
from rudatagen.strict import StrictModel


class CorpusSettings(StrictModel):
    """The corpus negatives come from: a table file or a run directory (`--corpus`)."""

    path: str | None = Field(None, description="Table file or run directory (`--corpus`).")
    column: str | None = Field(
        None,
        description="The passage column (null: the first of `text`, `passage`, `positive`).",
    )
    format: TableFormat = Field("auto", description="Table format (auto: by extension).")
    split: str = Field("train", description="Split of a `save_to_disk` folder.")


class MineSettings(StrictModel):
    """Hard negatives from a corpus (`rudatagen mine`), by sentence-transformers'
    `mine_hard_negatives`."""

    model: str = Field("deepvk/USER-bge-m3", description="The mining bi-encoder: Hub id or folder.")
    query_prefix: str = Field(
        "", description="Put before each query (empty: the model's own `query` prompt, if any)."
    )
    document_prefix: str = Field(
        "",
        description="Put before each passage (empty: the model's own `document` prompt, if any).",
    )
    num_negatives: int = Field(5, ge=1, description="Negatives per query.")
    range_min: int = Field(0, ge=0, description="Skip the N most similar candidates.")
    range_max: int | None = Field(
        None,
        ge=1,
        description="Look no further than rank N (null: derived from num_negatives and the guard).",
    )
    relative_margin: float | None = Field(
        0.05,
        ge=0,
        le=1,
        description="A negative scores at least this share of the positive's score below it.",
    )
    absolute_margin: float | None = Field(
        None, description="A negative scores at least this much below the positive."
    )
    max_score: float | None = Field(None, description="Drop candidates scoring above this.")
    min_score: float | None = Field(
        None, description="Drop candidates scoring below this (too easy)."
    )
    sampling_strategy: Literal["top", "random"] = Field(
        "top", description="`top`: the hardest allowed; `random`: a sample of the allowed."
    )
    seed: int = Field(42, description="Seed of `sampling_strategy: random`.")
    cross_encoder: str | None = Field(
        None,
        description="Rescore the candidates with this cross-encoder before the guard applies.",
    )
    use_faiss: bool | None = Field(
        None, description="Search with faiss (null: when faiss is installed)."
    )
    batch_size: int = Field(64, ge=1, description="Texts per encoding batch.")
    max_seq_length: int | None = Field(
        None, ge=8, description="Truncate inputs to N tokens (null: the model's)."
    )
    device: str | None = fields.device()
    corpus: CorpusSettings = fields.section(CorpusSettings)

    @model_validator(mode="after")
    def _window(self) -> MineSettings:
        if self.range_max is not None:
            if self.range_min >= self.range_max:
                raise ValueError(
                    f"range_min ({self.range_min}) must be below range_max ({self.range_max})"
                )
            if self.num_negatives > self.range_max - self.range_min:
                raise ValueError(
                    f"num_negatives ({self.num_negatives}) does not fit between range_min "
                    f"and range_max ({self.range_max - self.range_min} candidates)"
                )
        return self
