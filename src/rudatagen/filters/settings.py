"""Settings of the filters: the ``filters:`` section (RuHNP, retrieval) and ``wanli.filter``.

RuHNP filters run cheapest first: heuristic → lexical → dedup → bi-encoder → cross-encoder;
retrieval filters: easiness → copying → answerability. Decontamination (on when it names
evaluation sets) runs first and semantic dedup (off by default) last, for every kind.
Each has ``enabled``; the model-based ones are off unless a recipe names a model. Similarities
from rapidfuzz are on its 0–100 scale; cosines and probabilities on 0–1. WANLI's two filters
(the NLI heuristics, then estimated max variability) always run inside ``generate wanli``;
their settings stay flat under ``wanli.filter``, as recipes have always written them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from rudatagen import fields
from rudatagen.strict import StrictModel


def _check_bounds(low: float, high: float, what: str) -> None:
    if low > high:
        raise ValueError(f"{what}: the lower bound ({low}) is above the upper bound ({high})")


class HeuristicSettings(StrictModel):
    """Cheap checks on each candidate alone and against its own record."""

    enabled: bool = fields.enabled(True)
    min_chars: int = Field(10, ge=1, description="Shortest candidate kept, in characters.")
    min_length_ratio: float = Field(
        0.5, gt=0, description="Shortest candidate kept, as a share of the query's length."
    )
    max_length_ratio: float = Field(
        2.0, gt=0, description="Longest candidate kept, as a multiple of the query's length."
    )
    min_cyrillic: float = fields.share(0.5, "Minimum share of Cyrillic among the letters.")
    near_duplicate_similarity: float = fields.fuzz(
        95.0,
        "A candidate this similar (rapidfuzz, 0–100) to an earlier candidate of the same record "
        "is a near-copy.",
    )
    reject_truncated: bool = Field(
        True,
        description="Reject truncated sentences (dangling comma, conjunction or preposition; "
        "no end punctuation where the query has one).",
    )

    @model_validator(mode="after")
    def _bounds(self) -> HeuristicSettings:
        _check_bounds(self.min_length_ratio, self.max_length_ratio, "heuristic length ratio")
        return self


class LexicalSettings(StrictModel):
    """A paraphrase must not be a near-copy; a hard non-paraphrase must stay lexically close."""

    enabled: bool = fields.enabled(True)
    scorer: Literal["ratio", "token_sort_ratio", "token_set_ratio"] = Field(
        "token_sort_ratio", description="The rapidfuzz similarity (0–100) of query and candidate."
    )
    paraphrase_max_similarity: float = fields.fuzz(
        90.0, "A paraphrase above it is a near-copy of the query."
    )
    paraphrase_max_lemma_overlap: float = fields.share(
        0.9, "A paraphrase above this Jaccard overlap of pymorphy3 lemmas is a near-copy."
    )
    non_paraphrase_min_similarity: float = fields.fuzz(
        50.0, "A non-paraphrase below it is not close to the query, so not *hard*."
    )
    non_paraphrase_min_lemma_overlap: float = fields.share(
        0.4, "A non-paraphrase below this lemma overlap is not *hard* either."
    )


class DedupSettings(StrictModel):
    """Exact and near-duplicates across the whole dataset (MinHash + LSH on character shingles);
    the first occurrence stays."""

    enabled: bool = fields.enabled(True)
    near: bool = Field(True, description="Also drop near-duplicates (else exact ones only).")
    threshold: float = Field(
        0.85, gt=0, le=1, description="Shingle Jaccard from which two texts are near-duplicates."
    )
    shingle_chars: int = Field(5, ge=2, description="Characters per shingle.")
    num_perm: int = Field(64, ge=8, description="MinHash permutations (a multiple of `bands`).")
    bands: int = Field(16, ge=1, description="LSH bands.")
    against_queries: bool = Field(
        True, description="Also drop candidates that repeat any record's query."
    )

    @model_validator(mode="after")
    def _bands(self) -> DedupSettings:
        if self.num_perm % self.bands:
            raise ValueError(f"dedup: num_perm ({self.num_perm}) must be a multiple of bands")
        return self


class BiEncoderSettings(StrictModel):
    """cos(query, candidate) under a sentence-transformers model, bounds per label."""

    enabled: bool = fields.enabled(False)
    model: str = Field(
        "deepvk/USER-bge-m3", description="A sentence-transformers model: Hub id or folder."
    )
    query_prefix: str = Field("", description="Put before each query (`query: `, ...).")
    candidate_prefix: str = Field("", description="Put before each candidate (`passage: `, ...).")
    paraphrase_min: float = fields.cosine(0.75, "Lowest cos(query, paraphrase) kept.")
    paraphrase_max: float = fields.cosine(1.0, "Highest cos(query, paraphrase) kept.")
    non_paraphrase_min: float = fields.cosine(
        0.3, "Lowest cos(query, non-paraphrase) kept (hard, not random)."
    )
    non_paraphrase_max: float = fields.cosine(0.98, "Highest cos(query, non-paraphrase) kept.")
    batch_size: int = Field(64, ge=1, description="Texts per encoding batch.")
    max_seq_length: int | None = Field(
        None, ge=8, description="Truncate inputs to N tokens (null: the model's)."
    )
    device: str | None = fields.device()

    @model_validator(mode="after")
    def _bounds(self) -> BiEncoderSettings:
        _check_bounds(self.paraphrase_min, self.paraphrase_max, "biencoder paraphrase")
        _check_bounds(self.non_paraphrase_min, self.non_paraphrase_max, "biencoder non-paraphrase")
        return self


class CrossEncoderSettings(StrictModel):
    """A binary paraphrase classifier, or a 3-way NLI model (entailment both ways)."""

    enabled: bool = fields.enabled(False)
    model: str = Field(
        "cointegrated/rubert-base-cased-nli-threeway",
        description="A cross-encoder: Hub id or folder (see `rudatagen train-cross-encoder`).",
    )
    kind: Literal["paraphrase", "nli"] = Field(
        "nli",
        description="`paraphrase`: a binary classifier's probability; `nli`: min(P(entailment)) "
        "both ways.",
    )
    entailment_label: str = Field(
        "entailment", description="The NLI model's label for entailment (`kind: nli`)."
    )
    paraphrase_min: float = fields.share(0.5, "A paraphrase below this probability is rejected.")
    non_paraphrase_max: float = fields.share(
        0.5, "A non-paraphrase above this probability is rejected."
    )
    batch_size: int = Field(32, ge=1, description="Pairs per batch.")
    max_length: int | None = Field(
        None, ge=8, description="Truncate pairs to N tokens (null: the model's)."
    )
    device: str | None = fields.device()


class EasinessSettings(StrictModel):
    """Retrieval: a query whose passage beats the hardest corpus passage by a wide margin
    teaches nothing (needs `mine`'s `positive_score` and `hardest_score`; rows without them are
    kept unjudged and counted)."""

    enabled: bool = fields.enabled(True)
    max_margin: float = Field(
        0.3,
        ge=0,
        le=2,
        description="A query whose `positive_score - hardest_score` (the mining model's "
        "similarities) is above it is too easy.",
    )


class CopyingSettings(StrictModel):
    """Retrieval: a query that repeats a stretch of its passage (near-)verbatim: the longest run
    of the query's lemmas found contiguously in the passage, as a share of the query's words."""

    enabled: bool = fields.enabled(True)
    max_share: float = fields.share(
        0.75, "A query whose longest copied run covers more than this share of it is a copy."
    )
    min_run: int = Field(
        4,
        ge=1,
        description="Runs shorter than this many words never count as copying (a short keyword "
        "query may well be a phrase of its passage).",
    )


class AnswerabilitySettings(StrictModel):
    """Retrieval: a reranker (a one- or two-output cross-encoder) must judge that the passage
    answers the query."""

    enabled: bool = fields.enabled(False)
    model: str = Field(
        "BAAI/bge-reranker-v2-m3",
        description="A reranker cross-encoder (query, passage): Hub id or folder.",
    )
    min_probability: float = fields.share(
        0.1,
        "A query whose passage scores below this probability (sigmoid of the reranker's "
        "logit) is not answered by it.",
    )
    batch_size: int = Field(32, ge=1, description="Pairs per batch.")
    max_length: int | None = Field(
        512, ge=8, description="Truncate pairs to N tokens (null: the model's)."
    )
    device: str | None = fields.device()


class DecontaminateSettings(StrictModel):
    """Drop every row with a text that repeats an evaluation set's text (word n-grams, or a
    character-shingle near-copy): on when `against` (or `--decontaminate-against`) names a file.

    Compared in the casefolded, ё → е, punctuation-free form. The defaults are argued in
    `filters/contamination.py`: 13 words as GPT-3 did; a shingle Jaccard of 0.5 is the point from
    which a text shares more shingles with the evaluation text than it differs by (copies and
    one-word edits of a sentence, not rewordings).
    """

    against: list[Path] = Field(
        default_factory=list,
        description="Evaluation sets (txt, tsv, csv, jsonl, parquet or a `datasets` folder); every "
        "string column is their text. Empty: decontamination is off.",
    )
    split: str = Field(
        "test", description="The split read from a `datasets` folder that holds several."
    )
    ngram_words: int = Field(
        13,
        ge=2,
        description="A text sharing a run of this many words with an evaluation text is a copy.",
    )
    min_ngram_words: int = Field(
        8,
        ge=2,
        description="An evaluation text shorter than `ngram_words` counts as one n-gram when it "
        "has at least this many words (shorter ones: the shingle rule alone).",
    )
    max_jaccard: float = fields.share(
        0.5,
        "A text whose character-shingle Jaccard with an evaluation text reaches this is a "
        "near-copy of it.",
    )
    shingle_chars: int = Field(5, ge=2, description="Characters per shingle.")
    num_perm: int = Field(128, ge=16, description="MinHash permutations of the shingle index.")

    @property
    def enabled(self) -> bool:
        """On when there is something to decontaminate against."""
        return bool(self.against)

    @model_validator(mode="after")
    def _words(self) -> DecontaminateSettings:
        _check_bounds(self.min_ngram_words, self.ngram_words, "decontaminate n-gram words")
        return self


class SemanticDedupSettings(StrictModel):
    """Near-duplicate rows across the whole dataset by a bi-encoder: of each group of rows whose
    anchors (RuHNP and retrieval: the query) reach `threshold` cosine, the row with the smallest
    record id stays."""

    enabled: bool = fields.enabled(False)
    model: str = Field(
        "deepvk/USER-bge-m3", description="A sentence-transformers model: Hub id or folder."
    )
    prefix: str = Field("", description="Put before each anchor (`query: `, ...).")
    threshold: float = fields.cosine(
        0.95, "Anchors at or above this cosine are near-duplicates of each other."
    )
    neighbours: int = Field(
        16,
        ge=1,
        description="Nearest anchors looked at per anchor: a group of more near-duplicates than "
        "this may keep more than one of them.",
    )
    batch_size: int = Field(64, ge=1, description="Texts per encoding batch.")
    max_seq_length: int | None = Field(
        None, ge=8, description="Truncate inputs to N tokens (null: the model's)."
    )
    device: str | None = fields.device()


class FilterSettings(StrictModel):
    """The filter stages of `rudatagen filter` (RuHNP and retrieval), and how many candidates a
    RuHNP record needs to stay (a retrieval row needs its one candidate)."""

    min_pos: int = Field(
        1, ge=0, description="A record with fewer surviving paraphrases is dropped."
    )
    min_neg: int = Field(
        1, ge=0, description="A record with fewer surviving non-paraphrases is dropped."
    )
    heuristic: HeuristicSettings = fields.section(HeuristicSettings)
    lexical: LexicalSettings = fields.section(LexicalSettings)
    dedup: DedupSettings = fields.section(DedupSettings)
    biencoder: BiEncoderSettings = fields.section(BiEncoderSettings)
    cross_encoder: CrossEncoderSettings = fields.section(CrossEncoderSettings)
    easiness: EasinessSettings = fields.section(EasinessSettings)
    copying: CopyingSettings = fields.section(CopyingSettings)
    answerability: AnswerabilitySettings = fields.section(AnswerabilitySettings)
    decontaminate: DecontaminateSettings = fields.section(DecontaminateSettings)
    semantic_dedup: SemanticDedupSettings = fields.section(SemanticDedupSettings)

    def sections(self) -> dict[str, StrictModel]:
        """Each filter's settings by its registry name (the name of its key)."""
        return {name: value for name, value in self if isinstance(value, StrictModel)}

    def minimums(self) -> dict[str, int]:
        """Surviving candidates a record needs, per intended label."""
        return {"paraphrase": self.min_pos, "non_paraphrase": self.min_neg}


class NLIHeuristicSettings(StrictModel):
    """WANLI's heuristics on generated NLI pairs (too short, copies, leaked prompt words)."""

    min_chars: int = Field(5, ge=1, description="Shortest premise or hypothesis kept.")
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
        ],
        description="Phrases that mark a leaked prompt (case-sensitive, whole words).",
    )


class VariabilitySettings(StrictModel):
    """Estimated max variability under the cartography checkpoints, an equal quota per label."""

    keep_fraction: float = Field(
        0.5, gt=0, le=1, description="Fraction kept by max variability, equal per label."
    )
    batch_size: int = Field(64, ge=1, description="Scoring batch size.")
    max_length: int | None = Field(
        None, ge=8, description="Truncate pairs to N tokens (null: `cartography.max_length`)."
    )


class WanliFilterSettings(VariabilitySettings, NLIHeuristicSettings):
    """WANLI's heuristics and the estimated-max-variability filter."""

    def sections(self) -> dict[str, StrictModel]:
        """Each filter's settings by its registry name."""
        return {
            "nli_heuristic": _part(NLIHeuristicSettings, self),
            "max_variability": _part(VariabilitySettings, self),
        }


def _part(model: type[StrictModel], whole: StrictModel) -> StrictModel:
    return model.model_validate(whole.model_dump(include=set(model.model_fields)))
