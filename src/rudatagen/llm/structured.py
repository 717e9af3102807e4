"""Parse an LLM answer as JSON and validate it against the request's JSON schema."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


class InvalidAnswer(Exception):
    """An answer that cannot be used; ``reason`` is a short category for counting."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@lru_cache(maxsize=64)
def _validator(schema_json: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads(schema_json))


def extract_json_text(text: str) -> str:
    """The JSON object inside an answer: code fences and prose around the braces are dropped."""
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    if fenced:
        stripped = fenced.group(1)
    start, end = stripped.find("{"), stripped.rfind("}")
    if start == -1 or end < start:
        return stripped
    return stripped[start : end + 1]


def parse_answer(
    text: str, schema: dict[str, Any] | None, finish_reason: str | None = None
) -> dict[str, Any]:
    """Return the answer as a dict or raise :class:`InvalidAnswer`.

    A ``length`` finish means the model ran out of tokens: the answer counts as truncated even
    when what came back happens to parse. Raw newlines inside JSON strings (which grammar-
    constrained llama.cpp output allows) are accepted.
    """
    if finish_reason == "length":
        raise InvalidAnswer("truncated", "the model hit max_tokens")
    if not text.strip():
        raise InvalidAnswer("empty", "the answer is empty")
    try:
        value = json.loads(extract_json_text(text), strict=False)
    except json.JSONDecodeError as exc:
        raise InvalidAnswer("not_json", str(exc)) from None
    if not isinstance(value, dict):
        raise InvalidAnswer("not_json", f"expected an object, got {type(value).__name__}")
    if schema is not None:
        error = next(iter(_validator(json.dumps(schema, sort_keys=True)).iter_errors(value)), None)
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            raise InvalidAnswer("schema", f"{where}: {error.message}"[:300])
    return value
