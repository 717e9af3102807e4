"""Tests for ``LLMRequest.cache_key``, ``reasked`` and the SQLite ``ResponseCache``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from rudatagen.llm.cache import ResponseCache
from rudatagen.llm.types import LLMRequest, LLMResponse

MODEL = "Qwen/Qwen2.5-7B-Instruct"
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"paraphrases": {"type": "array", "minItems": 5, "maxItems": 5}},
    "required": ["paraphrases"],
}
MESSAGES = (
    {"role": "system", "content": "Ты редактор."},
    {"role": "user", "content": "Исходный текст: Москва."},
)


def completion(**changes: Any) -> LLMRequest:
    base = LLMRequest(
        key="id-1",
        prompt="Текст: Москва.\nОтвет:",
        schema=SCHEMA,
        max_tokens=700,
        temperature=0.7,
        top_p=0.95,
        seed=0,
    )
    return replace(base, **changes)


def chat(**changes: Any) -> LLMRequest:
    return replace(LLMRequest(key="id-1", messages=MESSAGES, schema=SCHEMA), **changes)


# -- cache keys ----------------------------------------------------------------------------


@pytest.mark.parametrize("make", [completion, chat], ids=["completion", "chat"])
def test_equal_requests_have_equal_keys(make: Any) -> None:
    first, second = make(), make()
    assert first is not second
    assert first.cache_key(MODEL) == second.cache_key(MODEL)
    key = first.cache_key(MODEL)
    assert len(key) == 64
    int(key, 16)


def test_key_ignores_schema_key_order() -> None:
    reordered = dict(reversed(list(SCHEMA.items())))
    assert list(reordered) != list(SCHEMA)
    assert completion(schema=reordered).cache_key(MODEL) == completion().cache_key(MODEL)


def test_key_ignores_the_item_id() -> None:
    # The answer depends on the prompt, not on which item asked for it.
    assert completion(key="id-2").cache_key(MODEL) == completion().cache_key(MODEL)


def test_model_changes_the_key() -> None:
    assert completion().cache_key(MODEL) != completion().cache_key(MODEL + "-AWQ")


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"prompt": "Текст: Казань.\nОтвет:"}, id="prompt"),
        pytest.param({"prompt": "Текст: Москва.\nОтвет: "}, id="prompt-whitespace"),
        pytest.param({"schema": {**SCHEMA, "required": []}}, id="schema"),
        pytest.param({"schema": None}, id="no-schema"),
        pytest.param({"max_tokens": 701}, id="max_tokens"),
        pytest.param({"temperature": 0.8}, id="temperature"),
        pytest.param({"top_p": 0.9}, id="top_p"),
        pytest.param({"seed": 1}, id="seed"),
    ],
)
def test_completion_field_changes_the_key(changes: dict[str, Any]) -> None:
    assert completion(**changes).cache_key(MODEL) != completion().cache_key(MODEL)


@pytest.mark.parametrize(
    "messages",
    [
        pytest.param(
            (MESSAGES[0], {"role": "user", "content": "Исходный текст: Казань."}), id="content"
        ),
        pytest.param(({"role": "user", "content": MESSAGES[0]["content"]}, MESSAGES[1]), id="role"),
        pytest.param(MESSAGES[1:], id="fewer-turns"),
        pytest.param((MESSAGES[1], MESSAGES[0]), id="order"),
    ],
)
def test_messages_change_the_key(messages: tuple[dict[str, str], ...]) -> None:
    assert chat(messages=messages).cache_key(MODEL) != chat().cache_key(MODEL)


def test_chat_and_completion_with_the_same_text_differ() -> None:
    text = "Исходный текст: Москва."
    as_chat = LLMRequest(key="k", messages=({"role": "user", "content": text},))
    as_prompt = LLMRequest(key="k", prompt=text)
    assert as_chat.text() == as_prompt.text()
    assert as_chat.cache_key(MODEL) != as_prompt.cache_key(MODEL)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"prompt": "p", "messages": MESSAGES}],
    ids=["neither", "both"],
)
def test_request_needs_exactly_one_of_prompt_and_messages(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="either messages"):
        LLMRequest(key="k", **kwargs)


# -- re-asks --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("temperature", "expected"),
    [(0.0, 0.5), (0.2, 0.5), (0.5, 0.5), (0.9, 0.9), (1.5, 1.5)],
)
def test_reasked_raises_temperature_to_at_least_half(temperature: float, expected: float) -> None:
    request = completion(temperature=temperature, seed=7)
    again = request.reasked(1)
    assert again.temperature == pytest.approx(expected)
    assert again.seed == 8
    assert again.cache_key(MODEL) != request.cache_key(MODEL)


def test_reasked_keeps_everything_else() -> None:
    request = chat(max_tokens=321, top_p=0.8, seed=3, temperature=0.9)
    again = request.reasked(2)
    assert again == replace(request, seed=5)
    assert request.seed == 3  # the original is untouched


def test_each_reask_has_its_own_key() -> None:
    request = completion()
    keys = {request.cache_key(MODEL)} | {request.reasked(n).cache_key(MODEL) for n in (1, 2, 3)}
    assert len(keys) == 4


# -- the response cache ---------------------------------------------------------------------


@pytest.fixture
def cache_path(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "dir" / "cache.sqlite"


def test_roundtrip(cache_path: Path) -> None:
    cache = ResponseCache(cache_path)
    assert cache_path.parent.is_dir()
    response = LLMResponse(
        text='{"paraphrases": ["Ёжик в тумане."]}',
        finish_reason="stop",
        prompt_tokens=123,
        completion_tokens=45,
    )
    key = completion().cache_key(MODEL)
    cache.put(key, "id-1", MODEL, response)
    assert cache.get(key) == response
    assert len(cache) == 1
    cache.close()


def test_missing_key_is_none(cache_path: Path) -> None:
    cache = ResponseCache(cache_path)
    cache.put("k1", "id-1", MODEL, LLMResponse(text="{}"))
    assert cache.get("k2") is None
    assert cache.get("") is None
    cache.close()


def test_null_finish_reason_roundtrips(cache_path: Path) -> None:
    cache = ResponseCache(cache_path)
    cache.put("k", "id", MODEL, LLMResponse(text="{}", finish_reason=None))
    got = cache.get("k")
    assert got is not None
    assert got.finish_reason is None
    cache.close()


def test_put_replaces(cache_path: Path) -> None:
    cache = ResponseCache(cache_path)
    cache.put("k", "id", MODEL, LLMResponse(text="old", completion_tokens=1))
    cache.put("k", "id", MODEL, LLMResponse(text="new", completion_tokens=2))
    assert cache.get("k") == LLMResponse(text="new", completion_tokens=2)
    assert len(cache) == 1
    cache.close()


def test_persists_across_reopen(cache_path: Path) -> None:
    first = ResponseCache(cache_path)
    for n in range(3):
        first.put(f"k{n}", f"id-{n}", MODEL, LLMResponse(text=f"ответ {n}", prompt_tokens=n))
    first.close()

    second = ResponseCache(cache_path)
    assert len(second) == 3
    assert second.get("k2") == LLMResponse(text="ответ 2", prompt_tokens=2)
    second.put("k3", "id-3", MODEL, LLMResponse(text="ещё"))
    second.close()

    third = ResponseCache(cache_path)
    assert len(third) == 4
    third.close()


def test_two_handles_see_each_others_writes(cache_path: Path) -> None:
    writer = ResponseCache(cache_path)
    reader = ResponseCache(cache_path)
    writer.put("k", "id", MODEL, LLMResponse(text="сразу"))
    got = reader.get("k")
    assert got is not None
    assert got.text == "сразу"
    writer.close()
    reader.close()
