"""Retrieval queries: for every passage, search queries of several types (the ``retrieval`` kind).

One LLM answer per passage holds every query type the ``queries:`` section asks for, exactly as
many of each as it says (the JSON schema demands it); the answer becomes one row per query:
``id`` (``"<passage id>:<type>:<position>"``), ``query``, ``positive`` (the passage),
``negatives`` (empty until ``rudatagen mine`` fills it), ``query_type``, ``passage_id``, then the
LLM metadata columns. A run is resumed by passage, so the store reads ``passage_id`` back.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from rudatagen.errors import RudatagenError
from rudatagen.generators.runner import LLM_FIELDS, llm_metadata
from rudatagen.generators.settings import GenerateSettings
from rudatagen.llm.client import Outcome
from rudatagen.llm.types import BackendInfo, LLMRequest, Message
from rudatagen.prompts import PromptSet, default_prompt_dir, few_shot_turns, load_prompt_set
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


class QueryExample:
    """A worked example cut to the asked types and counts; ``answer_json`` is what the
    templates show (keys in the asked order, as the schema wants them)."""

    def __init__(self, text: str, answer: dict[str, list[str]]) -> None:
        self.text = text
        self.answer = answer
        self.answer_json = json.dumps(answer, ensure_ascii=False)


class QueriesTask:
    """The retrieval-query generator: types and counts from ``queries:``, sampling from ``llm:``.

    Prompt files are loaded and checked when it is built, before any LLM call.
    """

    name = "retrieval"  # the dataset kind its rows are (the manifest's ``kind``)
    row_schema = ROW_SCHEMA
    source_id_column = "passage_id"  # what a resumed run counts as done

    def __init__(self, settings: GenerateSettings) -> None:
        self.settings = settings.queries
        self.llm = settings.llm
        directory = self.settings.prompts or default_prompt_dir("queries")
        self.prompts: PromptSet = load_prompt_set(directory, VARIABLES)
        self.counts = self.settings.asked()
        self.types = [{"name": name, "count": count} for name, count in self.counts.items()]
        self.schema = self.prompts.schema(types=self.types, max_chars=self.settings.max_query_chars)
        self.examples = self._examples()
        self._system = self.prompts.render("system", types=self.types)

    def _examples(self) -> list[QueryExample]:
        chosen = []
        for index, raw in enumerate(self.prompts.examples[: self.settings.n_examples]):
            try:
                text = str(raw["passage"])
                queries = raw["queries"]
                answer = {
                    name: [str(q) for q in queries[name]][:count]
                    for name, count in self.counts.items()
                }
            except (KeyError, TypeError):
                raise RudatagenError(
                    f"{self.prompts.directory}: example {index} needs a passage and queries of "
                    f"every asked type ({', '.join(self.counts)})"
                ) from None
            chosen.append(QueryExample(text, answer))
        if len(chosen) < self.settings.n_examples:
            raise RudatagenError(
                f"queries.n_examples is {self.settings.n_examples}, but {self.prompts.directory} "
                f"has only {len(chosen)} examples"
            )
        return chosen

    def messages(self, text: str) -> tuple[Message, ...]:
        """Chat prompt: system, worked examples as earlier turns, then the passage."""
        return few_shot_turns(self._system, self.examples, self._user, text)

    def _user(self, text: str) -> str:
        return self.prompts.render("user", text=text, types=self.types)

    def completion_prompt(self, text: str) -> str:
        """Few-shot completion prompt for base models; the model continues with the JSON."""
        return self.prompts.render(
            "completion", text=text, examples=self.examples, types=self.types
        )

    def request(self, source: SourceText) -> LLMRequest:
        return self.llm.request(
            source.id,
            self.schema,
            chat=lambda: self.messages(source.text),
            completion=lambda: self.completion_prompt(source.text),
        )

    def rows(
        self, source: SourceText, outcome: Outcome, backend: BackendInfo
    ) -> list[dict[str, Any]]:
        """One row per query, types in the asked order; all rows of a passage share its
        metadata (one answer made them all)."""
        answer = outcome.answer or {}
        metadata = llm_metadata(outcome, backend, self.prompts.version)
        rows = []
        for query_type in self.counts:
            for position, query in enumerate(answer.get(query_type, [])):
                rows.append(
                    {
                        "id": f"{source.id}:{query_type}:{position}",
                        "query": _clean(query),
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


def _clean(text: str) -> str:
    return " ".join(str(text).split())
