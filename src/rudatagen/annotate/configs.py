"""The two review tasks: their labelling configs (``annotation/*.xml``) and what the results mean.

A config's choices carry Russian text for the annotators and an English ``alias``; Label Studio
stores the alias in the results, so the codes below are what pull reads back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rudatagen.errors import RudatagenError

PACKAGED_CONFIGS = Path(__file__).resolve().parents[1] / "_annotation"
REPO_CONFIGS = Path(__file__).resolve().parents[3] / "annotation"


@dataclass(frozen=True)
class TaskSpec:
    """One review task: its config file, label choices and revisable text fields."""

    name: str
    config_file: str
    choice_from: str  # the Choices control's name
    choice_to: str  # the object tag it labels
    labels: tuple[str, ...]  # codes of the real labels
    discard: str  # the code that throws the item away (``broken`` / ``discard``)
    revisions: dict[str, str]  # TextArea control name -> the data field it revises
    title: str

    @property
    def choices(self) -> tuple[str, ...]:
        return (*self.labels, self.discard)

    def label_config(self) -> str:
        for folder in (PACKAGED_CONFIGS, REPO_CONFIGS):
            path = folder / self.config_file
            if path.is_file():
                return path.read_text(encoding="utf-8")
        raise RudatagenError(f"labelling config {self.config_file} not found in {REPO_CONFIGS}")


RUHNP = TaskSpec(
    name="ruhnp",
    config_file="ruhnp.xml",
    choice_from="label",
    choice_to="candidate",
    labels=("paraphrase", "non_paraphrase"),
    discard="broken",
    revisions={"correction": "text"},
    title="RuHNP review",
)

WANLI = TaskSpec(
    name="wanli",
    config_file="wanli.xml",
    choice_from="label",
    choice_to="hypothesis",
    labels=("entailment", "neutral", "contradiction"),
    discard="discard",
    revisions={"premise_revision": "premise", "hypothesis_revision": "hypothesis"},
    title="WANLI review",
)

TASKS = {spec.name: spec for spec in (RUHNP, WANLI)}

# The Russian choice values, in case a config without aliases was used in the project.
RUSSIAN_VALUES = {
    "Парафраз": "paraphrase",
    "Не парафраз": "non_paraphrase",
    "Битый текст": "broken",
    "Следует": "entailment",
    "Нейтрально": "neutral",
    "Противоречие": "contradiction",
    "Отбросить": "discard",
}


def task_spec(name: str) -> TaskSpec:
    try:
        return TASKS[name]
    except KeyError:
        raise RudatagenError(
            f"unknown --task {name!r}; choose one of {', '.join(sorted(TASKS))}"
        ) from None
