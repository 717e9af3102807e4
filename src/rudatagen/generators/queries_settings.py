"""The ``queries:`` recipe section: which search queries ``generate queries`` asks for a passage."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from rudatagen import fields
from rudatagen.strict import StrictModel


class QueryCounts(StrictModel):
    """Queries per type for every passage, asked in this order (the schema demands exactly this
    many; 0 leaves a type out; at most 3, as many as each shipped worked example shows). The
    shipped prompts describe these four types."""

    keyword: int = Field(1, ge=0, le=3, description="Short keyword queries (2–6 words).")
    question: int = Field(1, ge=0, le=3, description="Natural questions the passage answers.")
    descriptive: int = Field(
        1, ge=0, le=3, description="Longer queries describing what is sought (12–30 words)."
    )
    partial: int = Field(
        1, ge=0, le=3, description="Queries the passage answers only in part (hard cases)."
    )

    @model_validator(mode="after")
    def _some_queries(self) -> QueryCounts:
        if not any(self.model_dump().values()):
            raise ValueError("counts asks for no query at all; give one type a count above 0")
        return self


class QueriesSettings(StrictModel):
    """Retrieval queries: search queries of several types for every passage.

    Types: `keyword` (a short keyword query), `question` (a natural question), `descriptive`
    (a longer query that describes the need), `partial` (one the passage answers only in part:
    a hard case).
    """

    counts: QueryCounts = fields.section(QueryCounts)
    n_examples: int = fields.worked_examples(2, "queries", available=4)
    max_query_chars: int | None = fields.max_chars("query")
    prompts: Path | None = fields.prompt_dir("queries")

    def asked(self) -> dict[str, int]:
        """The types asked for (count above 0), in order."""
        return {name: count for name, count in self.counts.model_dump().items() if count > 0}
