"""Retrieval queries: for every passage, search queries of several types (the ``retrieval`` kind).

One LLM answer per passage holds every query type the ``queries:`` section asks for, exactly as
many of each as it says (the JSON schema demands it); the answer becomes one row per query:
``id`` (``"<passage id>:<type>:<position>"``), ``query``, ``positive`` (the passage),
``negatives`` (empty until ``rudatagen mine`` fills it), ``query_type``, ``passage_id``, then the
LLM metadata columns. A run is resumed by passage, so the store reads ``passage_id`` back.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from rudatagen.generators.few_shot import FewShotExample, FewShotTask, one_line
from rudatagen.generators.runner import LLM_FIELDS
from rudatagen.generators.settings import GenerateSettings
from rudatagen.llm.client import Outcome
from rudatagen.llm.types import BackendInfo
from rudatagen.prompts import default_prompt_dir, load_prompt_set
from rudatagen.sources import SourceText

VARIABLES: dict[str, set[str]] = {
    "system": {"types"},
    "user": {"types", "text"},
    "completion": {"types", "text", "examples"},
    "schema": {"types", "max_chars"},
}

ROW_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("query", pa.string()),
        ("positive", pa.string()),
        ("negatives", pa.list_(pa.string())),
        ("query_type", pa.string()),
        ("passage_id", pa.string()),
        *LLM_FIELDS,
    ]
)


class QueriesTask(FewShotTask):
    """The retrieval-query generator: types and counts from ``queries:``, sampling from ``llm:``.

    Prompt files are loaded and checked when it is built, before any LLM call.
    """

    name = "retrieval"  # the dataset kind its rows are (the manifest's ``kind``)
    row_schema = ROW_SCHEMA
    source_id_column = "passage_id"  # what a resumed run counts as done

    def __init__(self, settings: GenerateSettings) -> None:
        self.settings = settings.queries
        directory = self.settings.prompts or default_prompt_dir("queries")
        self.counts = self.settings.asked()
        self.types = [{"name": name, "count": count} for name, count in self.counts.items()]
        self.example_needs = f"a passage and queries of every asked type ({', '.join(self.counts)})"
        super().__init__(
            settings.llm,
            load_prompt_set(directory, VARIABLES),
            {"types": self.types},
            max_chars=self.settings.max_query_chars,
            n_examples=self.settings.n_examples,
            section="queries",
        )

    def example(self, raw: Any) -> FewShotExample:
        """A worked example cut to the asked types and counts, keys in the asked order (as the
        schema wants them)."""
        queries = raw["queries"]
        answer = {
            name: [str(q) for q in queries[name]][:count] for name, count in self.counts.items()
        }
        return FewShotExample(str(raw["passage"]), answer)

    def rows(
        self, source: SourceText, outcome: Outcome, backend: BackendInfo
    ) -> list[dict[str, Any]]:
        """One row per query, types in the asked order; all rows of a passage share its
        metadata (one answer made them all)."""
        answer = outcome.answer or {}
        metadata = self.metadata(outcome, backend)
        rows = []
        for query_type in self.counts:
            for position, query in enumerate(answer.get(query_type, [])):
                rows.append(
                    {
                        "id": f"{source.id}:{query_type}:{position}",
                        "query": one_line(query),
                        "positive": source.text,
                        "negatives": [],
                        "query_type": query_type,
                        "passage_id": source.id,
                        **metadata,
                    }
                )
        return rows

    def row(self, source: SourceText, outcome: Outcome, backend: BackendInfo) -> dict[str, Any]:
        """The first query's row (the generate stage stores :meth:`rows`, all of them)."""
        return self.rows(source, outcome, backend)[0]
