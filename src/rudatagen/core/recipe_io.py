"""Reading recipes, generic over the settings model: YAML file → dict → ``--set`` → validated.

``load_model(Recipe, path, overrides)`` is the one way a recipe is read. Every problem is one
line: a missing file, bad YAML (with its line), a malformed or impossible ``--set``, and every
key pydantic rejects (``invalid recipe PATH: unknown key 'x.y'; a.b: Input should be ...``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from rudatagen.errors import RudatagenError

ModelT = TypeVar("ModelT", bound=BaseModel)
Upgrade = Callable[[dict[str, Any], str], dict[str, Any]]
"""Rewrites the raw data of an older layout (given the data and its origin) before ``--set``."""


def read_recipe_file(path: Path) -> dict[str, Any]:
    """The file's top-level mapping (empty for an empty file)."""
    if not path.is_file():
        raise RudatagenError(f"recipe not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise RudatagenError(f"recipe {path} is not valid YAML{where}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RudatagenError(
            f"recipe {path} must be a mapping of sections, got {type(data).__name__}"
        )
    return data


def parse_override(item: str) -> tuple[list[str], Any]:
    """Parse ``dotted.key=value``; the value is read as YAML (numbers, booleans, lists, null)."""
    if "=" not in item:
        raise RudatagenError(f"--set expects dotted.key=value, got '{item}'")
    key, raw = item.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise RudatagenError(f"--set expects dotted.key=value, got '{item}'")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return parts, value


def _list_index(items: list[Any], part: str, name: str, item: str) -> int:
    """The position ``part`` names in the list ``name``; anything else is a one-line error."""
    if not part.isdigit():
        raise RudatagenError(
            f"--set {item}: '{name}' is not a section but a list; give an index ({name}.0...)"
        )
    index = int(part)
    if index >= len(items):
        raise RudatagenError(
            f"--set {item}: index {index} is out of range for '{name}' ({len(items)} item(s))"
        )
    return index


def _child(node: dict[str, Any] | list[Any], part: str, name: str, item: str) -> Any:
    """Step from ``node`` (reached through key ``name``) into ``part``; null becomes ``{}``."""
    if isinstance(node, list):
        index = _list_index(node, part, name, item)
        if node[index] is None:
            node[index] = {}
        child = node[index]
    else:
        if node.get(part) is None:
            node[part] = {}
        child = node[part]
    if not isinstance(child, dict | list):
        raise RudatagenError(f"--set {item}: '{part}' is not a section")
    return child


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``--set`` overrides to raw recipe data (before validation).

    A list item is named by its index (``datasets.0.limit=500``); an index out of range, or a
    key into a value that is neither a section nor a list, is an error naming the key.
    """
    for item in overrides:
        parts, value = parse_override(item)
        node: dict[str, Any] | list[Any] = data
        name = "(top level)"
        for part in parts[:-1]:
            node, name = _child(node, part, name, item), part
        last = parts[-1]
        if isinstance(node, list):
            node[_list_index(node, last, name, item)] = value
        else:
            node[last] = value
    return data


def format_validation_error(error: ValidationError, origin: str) -> str:
    """Turn pydantic's multi-line report into one line that names each bad key."""
    problems = []
    for err in error.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            problems.append(f"unknown key '{where}'")
        else:
            problems.append(f"{where}: {err['msg']}")
    return f"invalid recipe {origin}: " + "; ".join(problems)


def validate(model_cls: type[ModelT], data: dict[str, Any], origin: str) -> ModelT:
    """``model_cls.model_validate(data)``, its errors as one :class:`RudatagenError` line."""
    try:
        return model_cls.model_validate(data)
    except ValidationError as exc:
        raise RudatagenError(format_validation_error(exc, origin)) from None


def load_model(
    model_cls: type[ModelT],
    path: Path | None = None,
    overrides: list[str] | None = None,
    *,
    upgrade: Upgrade | None = None,
) -> ModelT:
    """Read ``path`` (none: the model's defaults), upgrade, apply ``--set`` overrides, validate."""
    data = read_recipe_file(path) if path is not None else {}
    origin = str(path) if path is not None else "(defaults)"
    if upgrade is not None:
        data = upgrade(data, origin)
    return validate(model_cls, apply_overrides(data, overrides or []), origin)
