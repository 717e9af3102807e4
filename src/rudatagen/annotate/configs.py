"""The two review tasks: their labelling configs (``annotation/*.xml``) and what the results mean.

A config's choices carry Russian text for the annotators and an English ``alias``; Label Studio
stores the alias in the results, so the codes below are what pull reads back.
"""

from __future__ import annotations

from rudatagen.kinds import AnnotationSpec, get_kind

# Each kind's review task is part of the kind (``rudatagen.kinds``); this module keeps the names
# the annotate modules use for it.
TaskSpec = AnnotationSpec
RUHNP = get_kind("ruhnp").annotation
WANLI = get_kind("wanli").annotation

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
    return get_kind(name).annotation
