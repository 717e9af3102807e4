"""The WANLI generation task: one LLM request per ambiguous seed and its neighbours.

Items are :class:`~rudatagen.sources.SourceText` whose ``id`` is the seed's guid; the task keeps
each seed's prompt group (neighbours, then the seed) and renders it as a chat (instruct models)
or a few-shot completion (base models), answered as JSON: ``premise`` + ``hypothesis`` in
``pairs`` mode, ``premise`` + ``entailment`` + ``contradiction`` in ``triples`` mode.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from rudatagen.errors import RudatagenError
from rudatagen.generators.runner import LLM_FIELDS, llm_metadata
from rudatagen.llm.client import Outcome
from rudatagen.llm.settings import LLMSettings
from rudatagen.llm.types import BackendInfo, LLMRequest, Message
from rudatagen.nli.seeds import Seed
from rudatagen.nli.settings import GenerationSettings, WanliSettings
from rudatagen.prompts import PromptSet, default_prompt_dir, load_prompt_set
from rudatagen.sources import SourceText

EXAMPLE_VARS = {"examples", "word", "meaning", "entailment_word", "contradiction_word"}
VARIABLES: dict[str, set[str]] = {
    "system": {"word", "meaning", "entailment_word", "contradiction_word"},
    "user": EXAMPLE_VARS,
    "completion": EXAMPLE_VARS,
    "schema": {"max_chars"},
}

ROW_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("seed_id", pa.string()),
        ("label", pa.string()),
        ("neighbour_ids", pa.list_(pa.string())),
        ("premise", pa.string()),
        ("hypothesis", pa.string()),
        ("entailment", pa.string()),
        ("contradiction", pa.string()),
        *LLM_FIELDS,
    ]
)


@dataclass(frozen=True)
class PromptExample:
    """One in-context example as templates see it."""

    premise: str
    hypothesis: str
    word: str

    @property
    def pair_json(self) -> str:
        return json.dumps(
            {"premise": self.premise, "hypothesis": self.hypothesis}, ensure_ascii=False
        )


@dataclass(frozen=True)
class SeedPrompt:
    """A seed and its neighbours (least similar first); ``examples`` ends with the seed."""

    seed: Seed
    neighbours: list[Seed]

    @property
    def examples(self) -> list[Seed]:
        return [*self.neighbours, self.seed]


def prompt_dir_for(generation: GenerationSettings) -> Any:
    return generation.prompts or default_prompt_dir(f"wanli/{generation.mode}")


class WanliTask:
    name = "wanli"
    row_schema = ROW_SCHEMA

    def __init__(
        self,
        wanli: WanliSettings,
        llm: LLMSettings,
        groups: list[SeedPrompt],
        cartography_fingerprint: str,
    ) -> None:
        self.settings = wanli
        self.mode = wanli.generation.mode
        self.llm = llm
        self.prompts: PromptSet = load_prompt_set(prompt_dir_for(wanli.generation), VARIABLES)
        self.vocabulary = self._vocabulary()
        missing = [label for label in self.settings.seeds.labels if label not in self.vocabulary]
        if missing:
            raise RudatagenError(
                f"{self.prompts.directory}: no label word for {', '.join(missing)} "
                f"in {self.prompts.spec.examples}"
            )
        self.schema = self.prompts.schema(max_chars=self.settings.generation.max_chars)
        self.groups = {g.seed.guid: g for g in groups}
        relevant = {
            "prompts": self.prompts.digest,
            "cartography": cartography_fingerprint,
            "generation": self.settings.generation.model_dump(mode="json", exclude={"prompts"}),
            "selection": self.settings.selection.model_dump(mode="json"),
        }
        blob = json.dumps(relevant, sort_keys=True, ensure_ascii=False)
        self.fingerprint_digest = hashlib.sha256(blob.encode()).hexdigest()

    def _vocabulary(self) -> dict[str, dict[str, str]]:
        vocabulary = {}
        for index, raw in enumerate(self.prompts.examples):
            try:
                vocabulary[str(raw["label"])] = {
                    "word": str(raw["word"]),
                    "meaning": str(raw["meaning"]),
                }
            except KeyError:
                raise RudatagenError(
                    f"{self.prompts.directory}/{self.prompts.spec.examples}: entry {index} needs "
                    f"label, word and meaning"
                ) from None
        return vocabulary

    def items(self) -> list[SourceText]:
        return [
            SourceText(id=g.seed.guid, text=f"{g.seed.premise} ⇒ {g.seed.hypothesis}")
            for g in self.groups.values()
        ]

    def variables(self, group: SeedPrompt) -> dict[str, Any]:
        target = self.vocabulary[group.seed.label]
        contradiction = "contradiction" if "contradiction" in self.vocabulary else "not_entailment"
        return {
            "examples": [
                PromptExample(s.premise, s.hypothesis, self.vocabulary[s.label]["word"])
                for s in group.examples
            ],
            "word": target["word"],
            "meaning": target["meaning"],
            "entailment_word": self.vocabulary["entailment"]["word"],
            "contradiction_word": self.vocabulary[contradiction]["word"],
        }

    def messages(self, group: SeedPrompt) -> tuple[Message, ...]:
        variables = self.variables(group)
        system_vars = {k: v for k, v in variables.items() if k != "examples"}
        return (
            {"role": "system", "content": self.prompts.render("system", **system_vars)},
            {"role": "user", "content": self.prompts.render("user", **variables)},
        )

    def completion_prompt(self, group: SeedPrompt) -> str:
        return self.prompts.render("completion", **self.variables(group))

    def request(self, source: SourceText) -> LLMRequest:
        group = self.groups[source.id]
        return self.llm.request(
            source.id,
            self.schema,
            chat=lambda: self.messages(group),
            completion=lambda: self.completion_prompt(group),
        )

    def row(self, source: SourceText, outcome: Outcome, backend: BackendInfo) -> dict[str, Any]:
        group = self.groups[source.id]
        answer = outcome.answer or {}

        def text(key: str) -> str | None:
            value = answer.get(key)
            return " ".join(str(value).split()) if value is not None else None

        return {
            "id": source.id,
            "seed_id": group.seed.guid,
            "label": group.seed.label,
            "neighbour_ids": [s.guid for s in group.neighbours],
            "premise": text("premise"),
            "hypothesis": text("hypothesis"),
            "entailment": text("entailment"),
            "contradiction": text("contradiction"),
            **llm_metadata(outcome, backend, self.prompts.version),
        }
