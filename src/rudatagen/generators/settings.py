"""The settings ``generate`` reads: its recipe sections, and the fingerprint a resumed run checks.

``config.Recipe`` composes these sections (``ruhnp``, ``output``, ``cache``, with ``source`` from
``rudatagen.sources`` and ``llm`` from ``rudatagen.llm``); ``Recipe.generate_settings()`` hands the
generate stage just them, as a :class:`GenerateSettings`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from rudatagen import fields
from rudatagen.generators.queries_settings import QueriesSettings
from rudatagen.kinds import KINDS
from rudatagen.llm.registry import AnyLLMSettings, default_llm_settings
from rudatagen.sources import SourceSettings
from rudatagen.strict import StrictModel

RECIPE_TASKS = (*KINDS, "train")  # a kind to generate, or training; a new kind needs no edit here


class RuHNPSettings(StrictModel):
    """RuHNP: paraphrases and hard non-paraphrases for every source text."""

    n_paraphrases: int = Field(
        5, ge=1, le=20, description="Paraphrases per text (the schema demands exactly this many)."
    )
    n_non_paraphrases: int = Field(
        5, ge=1, le=20, description="Hard non-paraphrases per text (exactly)."
    )
    n_examples: int = fields.worked_examples(2, "ruhnp", available=10)
    max_candidate_chars: int | None = fields.max_chars("candidate")
    prompts: Path | None = fields.prompt_dir("ruhnp")


class OutputSettings(StrictModel):
    """How results are written: rows per Parquet shard, and the longest wait between shards."""

    shard_size: int = Field(200, ge=1, description="Rows per Parquet shard.")
    flush_seconds: float = Field(
        60.0, gt=0, description="Longest wait before buffered rows are written."
    )


class CacheSettings(StrictModel):
    """The SQLite response cache. ``path: null`` keeps it inside the run directory."""

    enabled: bool = Field(True, description="Cache answers by (model, messages, settings).")
    path: Path | None = Field(
        None,
        description="null: `OUT/cache.sqlite`; point several runs at one file to share answers.",
    )


class GenerateSettings(StrictModel):
    """The recipe sections the generate stage reads; written to its manifest as ``recipe``."""

    task: Literal[RECIPE_TASKS] = Field(  # type: ignore[valid-type]
        "ruhnp", description="The recipe's task (part of the fingerprint)."
    )
    name: str | None = Field(None, description="The run's name (manifests, cards).")
    source: SourceSettings = Field(default_factory=SourceSettings, description="The texts.")
    llm: AnyLLMSettings = Field(default_factory=default_llm_settings, description="Who answers.")
    ruhnp: RuHNPSettings = Field(default_factory=RuHNPSettings, description="RuHNP counts.")
    queries: QueriesSettings = Field(
        default_factory=QueriesSettings, description="Retrieval query types and counts."
    )
    output: OutputSettings = Field(default_factory=OutputSettings, description="Shards.")
    cache: CacheSettings = Field(default_factory=CacheSettings, description="The cache.")

    def public_dict(self) -> dict[str, Any]:
        """The settings as written to manifests (secrets never live in a recipe); the
        ``queries`` section only where it is used, so other tasks' manifests stay as they were."""
        exclude = None if self.task == "retrieval" else {"queries"}
        return self.model_dump(mode="json", exclude=exclude)

    def fingerprint(self, prompt_digest: str = "") -> str:
        """A hash of what changes answers (model, sampling, counts, prompt files).

        A resumed run must match it. Source settings are left out on purpose: resuming with a
        larger ``--limit`` extends a run, and a connection setting (URL, concurrency) may change.
        The ``ruhnp`` counts are hashed for every task (WANLI too), as they always were: runs
        made before must keep their fingerprint; the ``queries`` section only for retrieval, and
        there in passage mode the packing settings too (they decide the passages and their ids).
        """
        relevant = {
            "prompt_digest": prompt_digest,
            "task": self.task,
            "model": self.llm.model,
            "prompt_style": self.llm.prompt_style,
            "temperature": self.llm.temperature,
            "top_p": self.llm.top_p,
            "seed": self.llm.seed,
            "max_tokens": self.llm.max_tokens,
            "ruhnp": self.ruhnp.model_dump(mode="json", exclude={"prompts"}),
        }
        if self.task == "retrieval":
            relevant["queries"] = self.queries.model_dump(mode="json", exclude={"prompts"})
            passages = self.source.passages
            if passages.enabled:  # packing decides the passages and their ids
                relevant["passages"] = {
                    **passages.model_dump(mode="json"),
                    "max_chars": self.source.max_chars,
                }
        blob = json.dumps(relevant, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]
