"""RuHNP: for every source text, paraphrases and hard non-paraphrases (deepvk/ru-HNP's shape).

Rows have ``id``, ``query``, ``pos`` (list), ``neg`` (list), then metadata columns.
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

COUNTS = {"n_paraphrases", "n_non_paraphrases"}
VARIABLES: dict[str, set[str]] = {
    "system": COUNTS,
    "user": COUNTS | {"text"},
    "completion": COUNTS | {"text", "examples"},
    "schema": COUNTS | {"max_chars"},
}

ROW_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("query", pa.string()),
        ("pos", pa.list_(pa.string())),
        ("neg", pa.list_(pa.string())),
        *LLM_FIELDS,
    ]
)


class FewShotExample:
    """A worked example cut to the requested counts; ``answer_json`` is what templates show."""

    def __init__(self, text: str, answer: dict[str, list[str]]) -> None:
        self.text = text
        self.answer = answer
        self.answer_json = json.dumps(answer, ensure_ascii=False)


class RuHNPTask:
    """The RuHNP generator: counts and prompt files from ``ruhnp:``, sampling from ``llm:``.

    Prompt files are loaded and checked when it is built, before any LLM call.
    """

    name = "ruhnp"
    row_schema = ROW_SCHEMA

    def __init__(self, settings: GenerateSettings) -> None:
        self.settings = settings.ruhnp
        self.llm = settings.llm
        directory = self.settings.prompts or default_prompt_dir("ruhnp")
        self.prompts: PromptSet = load_prompt_set(directory, VARIABLES)
        self.counts = {
            "n_paraphrases": self.settings.n_paraphrases,
            "n_non_paraphrases": self.settings.n_non_paraphrases,
        }
        self.schema = self.prompts.schema(
            max_chars=self.settings.max_candidate_chars, **self.counts
        )
        self.examples = self._examples()
        self._system = self.prompts.render("system", **self.counts)

    def _examples(self) -> list[FewShotExample]:
        chosen = []
        for index, raw in enumerate(self.prompts.examples[: self.settings.n_examples]):
            try:
                text = str(raw["text"])
                pos = [str(x) for x in raw["paraphrases"]][: self.settings.n_paraphrases]
                neg = [str(x) for x in raw["non_paraphrases"]][: self.settings.n_non_paraphrases]
            except (KeyError, TypeError):
                raise RudatagenError(
                    f"{self.prompts.directory}: example {index} needs text, paraphrases and "
                    f"non_paraphrases"
                ) from None
            chosen.append(FewShotExample(text, {"paraphrases": pos, "non_paraphrases": neg}))
        if len(chosen) < self.settings.n_examples:
            raise RudatagenError(
                f"ruhnp.n_examples is {self.settings.n_examples}, but {self.prompts.directory} "
                f"has only {len(chosen)} examples"
            )
        return chosen

    def messages(self, text: str) -> tuple[Message, ...]:
        """Chat prompt: system, worked examples as earlier turns, then the text."""
        return few_shot_turns(self._system, self.examples, self._user, text)

    def _user(self, text: str) -> str:
        return self.prompts.render("user", text=text, **self.counts)

    def completion_prompt(self, text: str) -> str:
        """Few-shot completion prompt for base models; the model continues with the JSON."""
        return self.prompts.render("completion", text=text, examples=self.examples, **self.counts)

    def request(self, source: SourceText) -> LLMRequest:
        return self.llm.request(
            source.id,
            self.schema,
            chat=lambda: self.messages(source.text),
            completion=lambda: self.completion_prompt(source.text),
        )

    def row(self, source: SourceText, outcome: Outcome, backend: BackendInfo) -> dict[str, Any]:
        answer = outcome.answer or {}
        return {
            "id": source.id,
            "query": source.text,
            "pos": [_clean(x) for x in answer.get("paraphrases", [])],
            "neg": [_clean(x) for x in answer.get("non_paraphrases", [])],
            **llm_metadata(outcome, backend, self.prompts.version),
        }


def _clean(text: str) -> str:
    return " ".join(str(text).split())
