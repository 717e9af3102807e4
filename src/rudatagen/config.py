"""Recipes: YAML files validated by pydantic models with ``extra="forbid"``.

A recipe holds every setting of a run. With no recipe file the defaults below apply, and they
describe the *embedded* demo set-up (Gemma 3 270M through llama.cpp, no server needed);
``recipes/ruhnp.yaml`` holds the production set-up (an instruct model behind vLLM's server).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from rudatagen.errors import RudatagenError
from rudatagen.filters.settings import FilterSettings
from rudatagen.nli.settings import WanliSettings
from rudatagen.strict import StrictModel

EMBEDDED_MODEL_NAME = "gemma-3-270m-q4_k_m (embedded demo)"


class SourceSettings(StrictModel):
    """Where source texts come from and which of them are kept."""

    path: Path | None = None
    format: Literal["auto", "txt", "tsv", "csv", "jsonl", "parquet", "hf"] = "auto"
    column: str = "text"
    split: str = "train"
    split_sentences: bool = False
    min_chars: int = Field(20, ge=1)
    max_chars: int = Field(1000, ge=1)
    min_cyrillic: float = Field(0.5, ge=0.0, le=1.0)
    limit: int | None = Field(None, ge=1)
    seed: int = 0

    @model_validator(mode="after")
    def _bounds(self) -> SourceSettings:
        if self.min_chars > self.max_chars:
            raise ValueError(f"min_chars ({self.min_chars}) is above max_chars ({self.max_chars})")
        return self


class RetrySettings(StrictModel):
    """Transport retries: 429 (honouring Retry-After), 5xx, connection errors, timeouts."""

    max_retries: int = Field(6, ge=0)
    backoff_base_s: float = Field(1.0, gt=0)
    backoff_max_s: float = Field(60.0, gt=0)


class PriceSettings(StrictModel):
    """Prices per million tokens; zero means no cost is reported."""

    input_per_million: float = Field(0.0, ge=0)
    output_per_million: float = Field(0.0, ge=0)
    currency: str = "USD"


class LlamaCppSettings(StrictModel):
    """In-process llama-cpp-python. ``model_path: null`` means the embedded Gemma 3 270M."""

    model_path: Path | None = None
    n_ctx: int = Field(4096, ge=256)
    n_threads: int = Field(1, ge=1)
    n_threads_batch: int = Field(2, ge=1)
    n_gpu_layers: int = 0
    chat_format: str = "gemma"


class VLLMSettings(StrictModel):
    """In-process vLLM engine (``vllm.LLM``); requests are handed over in large batches."""

    batch_size: int = Field(256, ge=1)
    max_model_len: int | None = None
    dtype: str = "auto"
    enforce_eager: bool = False
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    tensor_parallel_size: int = Field(1, ge=1)
    engine_args: dict[str, Any] = Field(default_factory=dict)


class LLMSettings(StrictModel):
    """Which model answers, through which backend, with which sampling settings."""

    backend: Literal["openai", "vllm", "llamacpp"] = "llamacpp"
    model: str = EMBEDDED_MODEL_NAME
    base_url: str | None = None
    api_key_env: str | None = None
    dialect: Literal["openai", "vllm", "llamacpp", "none"] = "openai"
    prompt_style: Literal["chat", "completion"] = "completion"
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    max_tokens: int = Field(1024, ge=1)
    seed: int = 0
    max_concurrency: int = Field(8, ge=1)
    timeout_s: float = Field(300.0, gt=0)
    max_reasks: int = Field(2, ge=0)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    price: PriceSettings = Field(default_factory=PriceSettings)
    llamacpp: LlamaCppSettings = Field(default_factory=LlamaCppSettings)
    vllm: VLLMSettings = Field(default_factory=VLLMSettings)

    @property
    def is_embedded(self) -> bool:
        return self.backend == "llamacpp" and self.llamacpp.model_path is None

    @model_validator(mode="after")
    def _openai_needs_url(self) -> LLMSettings:
        if self.backend == "openai" and not self.base_url:
            raise ValueError("backend 'openai' needs llm.base_url (e.g. http://localhost:8000/v1)")
        return self


class RuHNPSettings(StrictModel):
    """RuHNP: paraphrases and hard non-paraphrases for every source text."""

    n_paraphrases: int = Field(5, ge=1, le=20)
    n_non_paraphrases: int = Field(5, ge=1, le=20)
    n_examples: int = Field(2, ge=0, le=10)
    max_candidate_chars: int | None = Field(None, ge=10)
    prompts: Path | None = None


class OutputSettings(StrictModel):
    """How results are written: rows per Parquet shard, and the longest wait between shards."""

    shard_size: int = Field(200, ge=1)
    flush_seconds: float = Field(60.0, gt=0)


class CacheSettings(StrictModel):
    """The SQLite response cache. ``path: null`` keeps it inside the run directory."""

    enabled: bool = True
    path: Path | None = None


class Recipe(StrictModel):
    """A whole run's settings."""

    task: Literal["ruhnp", "wanli"] = "ruhnp"
    name: str | None = None
    source: SourceSettings = Field(default_factory=SourceSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    ruhnp: RuHNPSettings = Field(default_factory=RuHNPSettings)
    output: OutputSettings = Field(default_factory=OutputSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    filters: FilterSettings = Field(default_factory=FilterSettings)
    wanli: WanliSettings = Field(default_factory=WanliSettings)

    def public_dict(self) -> dict[str, Any]:
        """The resolved recipe as written to manifests (secrets never live in a recipe)."""
        return self.model_dump(mode="json")

    def generation_fingerprint(self, prompt_digest: str = "") -> str:
        """A hash of what changes answers (model, sampling, counts, prompt files).

        A resumed run must match it. Source settings are left out on purpose: resuming with a
        larger ``--limit`` extends a run, and a connection setting (URL, concurrency) may change.
        """
        relevant = {
            "prompt_digest": prompt_digest,
            "task": self.task,
            "model": self.llm.model,
            "prompt_style": self.llm.prompt_style,
            "temperature": self.llm.temperature,
            "top_p": self.llm.top_p,
            "seed": self.llm.seed,
            "max_tokens": self.llm.max_tokens,
            "ruhnp": self.ruhnp.model_dump(mode="json", exclude={"prompts"}),
        }
        blob = json.dumps(relevant, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


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


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``--set`` overrides to raw recipe data (before validation)."""
    for item in overrides:
        parts, value = parse_override(item)
        node = data
        for part in parts[:-1]:
            child = node.get(part)
            if child is None:
                child = {}
                node[part] = child
            if not isinstance(child, dict):
                raise RudatagenError(f"--set {item}: '{part}' is not a section")
            node = child
        node[parts[-1]] = value
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


def read_recipe_file(path: Path) -> dict[str, Any]:
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


def load_recipe(path: Path | None = None, overrides: list[str] | None = None) -> Recipe:
    """Read a recipe (or the embedded defaults), apply overrides, validate."""
    data = read_recipe_file(path) if path is not None else {}
    data = apply_overrides(data, overrides or [])
    origin = str(path) if path is not None else "(defaults)"
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as exc:
        raise RudatagenError(format_validation_error(exc, origin)) from None
    return recipe
