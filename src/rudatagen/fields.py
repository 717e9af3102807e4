"""Recipe keys that mean the same wherever they appear, each defined once.

A settings model writes ``device: str | None = fields.device()`` instead of repeating the bounds
and the description, so every section's key checks the same values and the README's recipe
tables (``rudatagen recipe doc``) describe it in the same words. ``section`` is the field of a
nested section; the scales (``fuzz``, ``share``, ``cosine``) are the bounds of a score's range.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from pydantic import Field


def section(factory: Callable[[], object], description: str | None = None) -> Any:
    """A nested section, built from its defaults when the recipe leaves it out.

    Described by ``description`` or else by the first paragraph of the settings model's
    docstring (what ``recipe doc`` shows above the section's own table).
    """
    if description is None:
        paragraph = inspect.cleandoc(factory.__doc__ or "").split("\n\n")[0]
        description = " ".join(paragraph.split())
    return Field(default_factory=factory, description=description)


def enabled(default: bool) -> Any:
    """A filter stage's on/off switch."""
    return Field(default, description="Run this stage.")


def device() -> Any:
    """Where a model runs; null lets torch pick a GPU when there is one."""
    return Field(None, description="`cpu`, `cuda`, ... (null: a GPU if any).")


def learning_rate(default: float) -> Any:
    return Field(default, gt=0, description="Peak learning rate.")


def warmup_ratio(default: float = 0.1) -> Any:
    return Field(default, ge=0, lt=1, description="Share of steps spent warming up.")


def training_seed(default: int = 42) -> Any:
    return Field(default, description="Seed of model init and data order.")


def fuzz(default: float, description: str) -> Any:
    """A rapidfuzz similarity, on its 0–100 scale."""
    return Field(default, ge=0, le=100, description=description)


def share(default: float, description: str) -> Any:
    """A share, overlap or probability, on 0–1."""
    return Field(default, ge=0, le=1, description=description)


def cosine(default: float, description: str) -> Any:
    """A cosine similarity, on −1–1."""
    return Field(default, ge=-1, le=1, description=description)


def worked_examples(default: int, task: str, available: int) -> Any:
    """How many worked examples of ``prompts/<task>/examples.yaml`` a generator's prompt shows."""
    return Field(
        default,
        ge=0,
        le=available,
        description=f"Worked examples in the prompt (from `prompts/{task}/examples.yaml`, "
        f"{available} available).",
    )


def max_chars(item: str) -> Any:
    """A ``maxLength`` on each ``item`` of a generator's answer schema."""
    return Field(
        None,
        ge=10,
        description=f"A `maxLength` per {item} in the schema (grammar-enforced on "
        "llama.cpp/vLLM; stops a looping small model); leave null for the OpenAI API.",
    )


def prompt_dir(task: str) -> Any:
    """A generator's own prompt directory in place of the shipped one."""
    return Field(
        None, description=f"A prompt directory of your own; null: the shipped `prompts/{task}/`."
    )
