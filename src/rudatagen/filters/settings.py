"""Settings of the filter stages (the ``filters:`` section of a recipe).

Stages run cheapest first: heuristic → lexical → dedup → bi-encoder → cross-encoder. Each has
``enabled``; the model-based ones are off unless a recipe names a model. Similarities from
rapidfuzz are on its 0–100 scale; cosines and probabilities on 0–1.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from rudatagen.strict import StrictModel


def _check_bounds(low: float, high: float, what: str) -> None:
    if low > high:
        raise ValueError(f"{what}: the lower bound ({low}) is above the upper bound ({high})")


class HeuristicSettings(StrictModel):
    """Cheap checks on each candidate alone and against its own record."""

    enabled: bool = True
    min_chars: int = Field(10, ge=1)
    min_length_ratio: float = Field(0.5, gt=0)
    max_length_ratio: float = Field(2.0, gt=0)
    min_cyrillic: float = Field(0.5, ge=0, le=1)
    near_duplicate_similarity: float = Field(95.0, ge=0, le=100)
    reject_truncated: bool = True

    @model_validator(mode="after")
    def _bounds(self) -> HeuristicSettings:
        _check_bounds(self.min_length_ratio, self.max_length_ratio, "heuristic length ratio")
        return self


class LexicalSettings(StrictModel):
    """A paraphrase must not be a near-copy; a hard non-paraphrase must stay lexically close."""

    enabled: bool = True
    scorer: Literal["ratio", "token_sort_ratio", "token_set_ratio"] = "token_sort_ratio"
    paraphrase_max_similarity: float = Field(90.0, ge=0, le=100)
    paraphrase_max_lemma_overlap: float = Field(0.9, ge=0, le=1)
    non_paraphrase_min_similarity: float = Field(50.0, ge=0, le=100)
    non_paraphrase_min_lemma_overlap: float = Field(0.4, ge=0, le=1)


class DedupSettings(StrictModel):
    """Exact and near-duplicates across the whole dataset (MinHash + LSH on character shingles)."""

    enabled: bool = True
    near: bool = True
    threshold: float = Field(0.85, gt=0, le=1)
    shingle_chars: int = Field(5, ge=2)
    num_perm: int = Field(64, ge=8)
    bands: int = Field(16, ge=1)
    against_queries: bool = True

    @model_validator(mode="after")
    def _bands(self) -> DedupSettings:
        if self.num_perm % self.bands:
            raise ValueError(f"dedup: num_perm ({self.num_perm}) must be a multiple of bands")
        return self


class BiEncoderSettings(StrictModel):
    """cos(query, candidate) under a sentence-transformers model, bounds per label."""

    enabled: bool = False
    model: str = "deepvk/USER-bge-m3"
    query_prefix: str = ""
    candidate_prefix: str = ""
    paraphrase_min: float = Field(0.75, ge=-1, le=1)
    paraphrase_max: float = Field(1.0, ge=-1, le=1)
    non_paraphrase_min: float = Field(0.3, ge=-1, le=1)
    non_paraphrase_max: float = Field(0.98, ge=-1, le=1)
    batch_size: int = Field(64, ge=1)
    max_seq_length: int | None = Field(None, ge=8)
    device: str | None = None

    @model_validator(mode="after")
    def _bounds(self) -> BiEncoderSettings:
        _check_bounds(self.paraphrase_min, self.paraphrase_max, "biencoder paraphrase")
        _check_bounds(self.non_paraphrase_min, self.non_paraphrase_max, "biencoder non-paraphrase")
        return self


class CrossEncoderSettings(StrictModel):
    """A binary paraphrase classifier, or a 3-way NLI model (entailment both ways)."""

    enabled: bool = False
    model: str = "cointegrated/rubert-base-cased-nli-threeway"
    kind: Literal["paraphrase", "nli"] = "nli"
    entailment_label: str = "entailment"
    paraphrase_min: float = Field(0.5, ge=0, le=1)
    non_paraphrase_max: float = Field(0.5, ge=0, le=1)
    batch_size: int = Field(32, ge=1)
    max_length: int | None = Field(None, ge=8)
    device: str | None = None


class FilterSettings(StrictModel):
    """All filter stages, and how many candidates a record needs to stay."""

    min_pos: int = Field(1, ge=0)
    min_neg: int = Field(1, ge=0)
    heuristic: HeuristicSettings = Field(default_factory=HeuristicSettings)
    lexical: LexicalSettings = Field(default_factory=LexicalSettings)
    dedup: DedupSettings = Field(default_factory=DedupSettings)
    biencoder: BiEncoderSettings = Field(default_factory=BiEncoderSettings)
    cross_encoder: CrossEncoderSettings = Field(default_factory=CrossEncoderSettings)
