"""Tests for ``parse_answer``: JSON extraction and validation against the real RuHNP schema."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rudatagen.config import Recipe
from rudatagen.generators.ruhnp import RuHNPTask
from rudatagen.llm.structured import InvalidAnswer, extract_json_text, parse_answer

POS = [f"Перефразирование номер {i}." for i in range(1, 6)]
NEG = [f"Неперефразирование номер {i}." for i in range(1, 6)]


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    """The schema the real prompt set renders for the default counts (5 and 5)."""
    task = RuHNPTask(Recipe().generate_settings())
    assert task.settings.n_paraphrases == 5
    assert task.settings.n_non_paraphrases == 5
    return task.schema


def answer(**changes: Any) -> dict[str, Any]:
    value: dict[str, Any] = {"paraphrases": list(POS), "non_paraphrases": list(NEG)}
    value.update(changes)
    return value


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


GOOD = dumps(answer())


# -- accepted answers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(GOOD, id="plain"),
        pytest.param(f"  \n{GOOD}\n\n", id="whitespace"),
        pytest.param(json.dumps(answer(), indent=2), id="pretty-ascii-escapes"),
        pytest.param(f"```json\n{GOOD}\n```", id="json-fence"),
        pytest.param(f"```\n{GOOD}\n```", id="bare-fence"),
        pytest.param(f"```json {GOOD} ```", id="fence-one-line"),
        pytest.param(f"Вот ответ в формате JSON:\n{GOOD}", id="prose-before"),
        pytest.param(f"{GOOD}\nНадеюсь, это поможет!", id="prose-after"),
        pytest.param(f"Ответ:\n```json\n{GOOD}\n```\nГотово.", id="prose-around-fence"),
    ],
)
def test_accepts(text: str, schema: dict[str, Any]) -> None:
    assert parse_answer(text, schema) == answer()


@pytest.mark.parametrize("finish_reason", [None, "stop", "eos"])
def test_finish_reasons_other_than_length_are_fine(
    finish_reason: str | None, schema: dict[str, Any]
) -> None:
    assert parse_answer(GOOD, schema, finish_reason) == answer()


def test_raw_newline_inside_a_string(schema: dict[str, Any]) -> None:
    # Grammar-constrained llama.cpp output may put a literal newline (or tab) inside a string.
    text = GOOD.replace("номер 1.", "номер\nодин.").replace("номер 2.", "номер\tдва.")
    assert "\n" in text
    value = parse_answer(text, schema)
    assert value["paraphrases"][0] == "Перефразирование номер\nодин."
    assert value["paraphrases"][1] == "Перефразирование номер\tдва."


def test_braces_inside_strings_are_kept(schema: dict[str, Any]) -> None:
    value = answer(paraphrases=["{скобки} внутри", *POS[1:]])
    assert parse_answer(f"Ответ: {dumps(value)}", schema) == value


def test_without_schema_any_object_is_accepted() -> None:
    assert parse_answer('{"anything": [1, 2]}', None) == {"anything": [1, 2]}


def test_extract_json_text() -> None:
    assert extract_json_text('пролог {"a": 1} эпилог') == '{"a": 1}'
    assert extract_json_text('```json\n{"a": {"b": 2}}\n```') == '{"a": {"b": 2}}'
    assert extract_json_text("  без скобок  ") == "без скобок"


# -- rejected answers -----------------------------------------------------------------------


def reason_of(text: str, schema: dict[str, Any] | None, finish_reason: str | None = None) -> str:
    with pytest.raises(InvalidAnswer) as info:
        parse_answer(text, schema, finish_reason)
    error = info.value
    assert str(error).startswith(error.reason)
    return error.reason


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(GOOD, id="complete-json"),
        pytest.param(GOOD[: len(GOOD) // 2], id="cut-json"),
        pytest.param("", id="empty"),
    ],
)
def test_length_finish_is_truncated(text: str, schema: dict[str, Any]) -> None:
    assert reason_of(text, schema, "length") == "truncated"


@pytest.mark.parametrize("text", ["", "   ", "\n\t \n"])
def test_empty(text: str, schema: dict[str, Any]) -> None:
    assert reason_of(text, schema) == "empty"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Извините, я не могу ответить.", id="prose"),
        pytest.param(GOOD[:-1], id="missing-closing-brace"),
        pytest.param(GOOD[: len(GOOD) // 2], id="cut-without-length-finish"),
        pytest.param('{"paraphrases": ["a",], }', id="trailing-commas"),
        pytest.param("{'paraphrases': ['a']}", id="single-quotes"),
        pytest.param(dumps([POS, NEG]), id="array"),
        pytest.param('"just a string"', id="string"),
        pytest.param("42", id="number"),
        pytest.param("```json\n```", id="empty-fence"),
    ],
)
def test_not_json(text: str, schema: dict[str, Any]) -> None:
    assert reason_of(text, schema) == "not_json"


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(answer(paraphrases=POS[:4]), id="too-few-paraphrases"),
        pytest.param(answer(paraphrases=[*POS, "шестое"]), id="too-many-paraphrases"),
        pytest.param(answer(non_paraphrases=NEG[:1]), id="too-few-non-paraphrases"),
        pytest.param(answer(non_paraphrases=[]), id="no-non-paraphrases"),
        pytest.param(answer(comment="лишнее"), id="extra-key"),
        pytest.param({"paraphrases": POS}, id="missing-key"),
        pytest.param({}, id="empty-object"),
        pytest.param(answer(paraphrases=["", *POS[1:]]), id="empty-string"),
        pytest.param(answer(paraphrases=[1, *POS[1:]]), id="number-item"),
        pytest.param(answer(paraphrases=" ".join(POS)), id="string-not-list"),
        pytest.param(answer(paraphrases=None), id="null-list"),
    ],
)
def test_schema_violations(value: dict[str, Any], schema: dict[str, Any]) -> None:
    assert reason_of(dumps(value), schema) == "schema"


def test_schema_error_detail_points_at_the_field(schema: dict[str, Any]) -> None:
    value = answer(non_paraphrases=[*NEG[:4], ""])
    with pytest.raises(InvalidAnswer) as info:
        parse_answer(dumps(value), schema)
    assert info.value.detail.startswith("non_paraphrases/4:")


def test_schema_follows_the_recipe_counts() -> None:
    counts = {"ruhnp": {"n_paraphrases": 3, "n_non_paraphrases": 2}}
    task = RuHNPTask(Recipe.model_validate(counts).generate_settings())
    small = {"paraphrases": POS[:3], "non_paraphrases": NEG[:2]}
    assert parse_answer(dumps(small), task.schema) == small
    assert reason_of(GOOD, task.schema) == "schema"
