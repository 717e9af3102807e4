"""RuHNP: for every source text, paraphrases and hard non-paraphrases (deepvk/ru-HNP's shape).

Rows have ``id``, ``query``, ``pos`` (list), ``neg`` (list), then metadata columns.
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


class RuHNPTask(FewShotTask):
    """The RuHNP generator: counts and prompt files from ``ruhnp:``, sampling from ``llm:``.

    Prompt files are loaded and checked when it is built, before any LLM call.
    """

    name = "ruhnp"
    row_schema = ROW_SCHEMA
    example_needs = "text, paraphrases and non_paraphrases"

    def __init__(self, settings: GenerateSettings) -> None:
        self.settings = settings.ruhnp
        directory = self.settings.prompts or default_prompt_dir("ruhnp")
        self.counts = {
            "n_paraphrases": self.settings.n_paraphrases,
            "n_non_paraphrases": self.settings.n_non_paraphrases,
        }
        super().__init__(
            settings.llm,
            load_prompt_set(directory, VARIABLES),
            self.counts,
            max_chars=self.settings.max_candidate_chars,
            n_examples=self.settings.n_examples,
            section="ruhnp",
        )

    def example(self, raw: Any) -> FewShotExample:
        text = str(raw["text"])
        pos = [str(x) for x in raw["paraphrases"]][: self.settings.n_paraphrases]
        neg = [str(x) for x in raw["non_paraphrases"]][: self.settings.n_non_paraphrases]
        return FewShotExample(text, {"paraphrases": pos, "non_paraphrases": neg})

    def row(self, source: SourceText, outcome: Outcome, backend: BackendInfo) -> dict[str, Any]:
        answer = outcome.answer or {}
        return {
            "id": source.id,
            "query": source.text,
            "pos": [one_line(x) for x in answer.get("paraphrases", [])],
            "neg": [one_line(x) for x in answer.get("non_paraphrases", [])],
            **self.metadata(outcome, backend),
        }
