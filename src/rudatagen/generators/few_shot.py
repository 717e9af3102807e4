"""What the few-shot generators (``ruhnp.py``, ``queries.py``) share: a prompt set whose templates
all take the same variables, worked examples shown as earlier chat turns or inside the completion
prompt, and one request per source text in the recipe's prompt style.

A task builds its prompt set and its template variables (RuHNP's counts, the queries' types),
then calls :meth:`FewShotTask.__init__`; it says how a worked example of ``examples.yaml`` reads
(:meth:`FewShotTask.example`) and how an answer becomes rows.
"""

from __future__ import annotations

import json
from typing import Any

from rudatagen.errors import RudatagenError
from rudatagen.generators.runner import llm_metadata
from rudatagen.llm.client import Outcome
from rudatagen.llm.settings import LLMSettings
from rudatagen.llm.types import BackendInfo, LLMRequest, Message
from rudatagen.prompts import PromptSet, few_shot_turns
from rudatagen.sources import SourceText


class FewShotExample:
    """A worked example cut to the requested counts; ``answer_json`` is what templates show."""

    def __init__(self, text: str, answer: dict[str, list[str]]) -> None:
        self.text = text
        self.answer = answer
        self.answer_json = json.dumps(answer, ensure_ascii=False)


class FewShotTask:
    """A generator task prompting with worked examples; subclasses add ``example`` and rows."""

    example_needs: str = ""  # what a worked example must hold, for the error naming a bad one

    def __init__(
        self,
        llm: LLMSettings,
        prompts: PromptSet,
        variables: dict[str, Any],
        *,
        max_chars: int | None,
        n_examples: int,
        section: str,
    ) -> None:
        """``variables`` go to every template; ``max_chars`` to the schema; ``n_examples`` of
        the set's examples are shown (``section`` names the recipe key in the error when the set
        has fewer)."""
        self.llm = llm
        self.prompts = prompts
        self.variables = variables
        self.schema = prompts.schema(max_chars=max_chars, **variables)
        self.examples = self._examples(n_examples, section)
        self._system = prompts.render("system", **variables)

    def example(self, raw: Any) -> FewShotExample:
        """One entry of ``examples.yaml`` cut to the asked counts (KeyError or TypeError when it
        lacks what :attr:`example_needs` says)."""
        raise NotImplementedError

    def _examples(self, n_examples: int, section: str) -> list[FewShotExample]:
        chosen = []
        for index, raw in enumerate(self.prompts.examples[:n_examples]):
            try:
                chosen.append(self.example(raw))
            except (KeyError, TypeError):
                raise RudatagenError(
                    f"{self.prompts.directory}: example {index} needs {self.example_needs}"
                ) from None
        if len(chosen) < n_examples:
            raise RudatagenError(
                f"{section}.n_examples is {n_examples}, but {self.prompts.directory} "
                f"has only {len(chosen)} examples"
            )
        return chosen

    def messages(self, text: str) -> tuple[Message, ...]:
        """Chat prompt: system, worked examples as earlier turns, then the text."""
        return few_shot_turns(self._system, self.examples, self._user, text)

    def _user(self, text: str) -> str:
        return self.prompts.render("user", text=text, **self.variables)

    def completion_prompt(self, text: str) -> str:
        """Few-shot completion prompt for base models; the model continues with the JSON."""
        return self.prompts.render(
            "completion", text=text, examples=self.examples, **self.variables
        )

    def request(self, source: SourceText) -> LLMRequest:
        return self.llm.request(
            source.id,
            self.schema,
            chat=lambda: self.messages(source.text),
            completion=lambda: self.completion_prompt(source.text),
        )

    def metadata(self, outcome: Outcome, backend: BackendInfo) -> dict[str, Any]:
        """The LLM metadata columns every row of this answer carries."""
        return llm_metadata(outcome, backend, self.prompts.version)


def one_line(text: str) -> str:
    """An answer's text with every run of whitespace (newlines too) made one space."""
    return " ".join(str(text).split())
