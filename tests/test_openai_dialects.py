"""Each server dialect asks for structured output its own way (vLLM, OpenAI, llama.cpp)."""

from __future__ import annotations

import pytest

from rudatagen.errors import RudatagenError
from rudatagen.llm.openai_backend import resolve_api_key, structured_output_args
from rudatagen.llm.types import LLMRequest

SCHEMA = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}
CHAT = LLMRequest(key="k", messages=({"role": "user", "content": "x"},), schema=SCHEMA)
COMPLETION = LLMRequest(key="k", prompt="Текст: x\nОтвет:", schema=SCHEMA)


@pytest.mark.parametrize("dialect", ["openai", "vllm"])
def test_chat_uses_json_schema_for_openai_and_vllm(dialect: str) -> None:
    args = structured_output_args(dialect, CHAT)
    assert args["response_format"]["type"] == "json_schema"
    assert args["response_format"]["json_schema"]["schema"] == SCHEMA


def test_llamacpp_chat_uses_json_object_with_schema() -> None:
    assert structured_output_args("llamacpp", CHAT) == {
        "response_format": {"type": "json_object", "schema": SCHEMA}
    }


def test_vllm_completion_uses_structured_outputs() -> None:
    assert structured_output_args("vllm", COMPLETION) == {
        "extra_body": {"structured_outputs": {"json": SCHEMA}}
    }


def test_llamacpp_completion_sends_a_gbnf_grammar() -> None:
    pytest.importorskip("llama_cpp")
    grammar = structured_output_args("llamacpp", COMPLETION)["extra_body"]["grammar"]
    assert "root" in grammar and '\\"a\\"' in grammar


@pytest.mark.parametrize("dialect", ["openai", "none"])
def test_no_constraint_where_the_server_has_none(dialect: str) -> None:
    assert structured_output_args(dialect, COMPLETION) == {}


def test_no_schema_no_constraint() -> None:
    plain = LLMRequest(key="k", prompt="x")
    assert structured_output_args("vllm", plain) == {}


def test_api_key_comes_from_the_named_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUDATAGEN_UNIT_KEY", "sk-unit")
    assert resolve_api_key("RUDATAGEN_UNIT_KEY") == "sk-unit"
    assert resolve_api_key(None) == "EMPTY"
    monkeypatch.delenv("RUDATAGEN_UNIT_KEY")
    with pytest.raises(RudatagenError, match=r"\$RUDATAGEN_UNIT_KEY"):
        resolve_api_key("RUDATAGEN_UNIT_KEY")
