"""Recipes: the composed settings model of a run, one section per stage.

A recipe holds every setting of a run. With no recipe file the defaults below apply, and they
describe the *embedded* demo set-up (Gemma 3 270M through llama.cpp, no server needed);
``recipes/ruhnp.yaml`` holds the production set-up (an instruct model behind vLLM's server).
Sections live next to their stage (``filters.settings``, ``nli.settings``, ``training.recipe``);
reading, ``--set`` and one-line errors are ``rudatagen.core.recipe_io``'s.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from rudatagen.annotate.settings import AnnotateSettings
from rudatagen.core.recipe_io import load_model
from rudatagen.evaluation.settings import EvaluateSettings
from rudatagen.filters.settings import FilterSettings
from rudatagen.nli.settings import WanliSettings
from rudatagen.publish.settings import PublishSettings
from rudatagen.strict import StrictModel
from rudatagen.training.cross_encoder_settings import CrossEncoderTrainingSettings
from rudatagen.training.recipe import TrainSettings

EMBEDDED_MODEL_NAME = "gemma-3-270m-q4_k_m (embedded demo)"


class SourceSettings(StrictModel):
    """Where source texts come from and which of them are kept."""

    path: Path | None = Field(None, description="The source file or folder (or `--source`).")
    format: Literal["auto", "txt", "tsv", "csv", "jsonl", "parquet", "hf"] = Field(
        "auto",
        description="`hf` is a `save_to_disk` folder; `auto` goes by the file extension.",
    )
    column: str = Field("text", description="The text column of tsv/csv/jsonl/parquet/hf sources.")
    split: str = Field("train", description="The split of a saved `DatasetDict`.")
    split_sentences: bool = Field(False, description="Split each text into sentences with razdel.")
    min_chars: int = Field(20, ge=1, description="Shortest text kept, after normalisation.")
    max_chars: int = Field(1000, ge=1, description="Longest text kept, after normalisation.")
    min_cyrillic: float = Field(
        0.5, ge=0.0, le=1.0, description="Minimum share of Cyrillic among the letters."
    )
    limit: int | None = Field(
        None, ge=1, description="Sample at most this many texts (file order kept)."
    )
    seed: int = Field(0, description="Seed of the `limit` sample.")

    @model_validator(mode="after")
    def _bounds(self) -> SourceSettings:
        if self.min_chars > self.max_chars:
            raise ValueError(f"min_chars ({self.min_chars}) is above max_chars ({self.max_chars})")
        return self


class RetrySettings(StrictModel):
    """Transport retries: 429 (honouring Retry-After), 5xx, connection errors, timeouts."""

    max_retries: int = Field(
        6,
        ge=0,
        description="Transport retries per call (429, 5xx, resets, timeouts, unparseable replies).",
    )
    backoff_base_s: float = Field(
        1.0,
        gt=0,
        description="Exponential backoff with equal jitter: retry n waits between cap/2 and "
        "cap, cap = min(backoff_max_s, backoff_base_s × 2^n).",
    )
    backoff_max_s: float = Field(
        60.0, gt=0, description="The largest cap of a wait; `Retry-After` is a floor."
    )


class PriceSettings(StrictModel):
    """Prices per million tokens; zero means no cost is reported."""

    input_per_million: float = Field(0.0, ge=0, description="Price of a million prompt tokens.")
    output_per_million: float = Field(
        0.0, ge=0, description="Price of a million completion tokens."
    )
    currency: str = Field("USD", description="Currency of the cost line.")


class LlamaCppSettings(StrictModel):
    """In-process llama-cpp-python. ``model_path: null`` means the embedded Gemma 3 270M."""

    model_path: Path | None = Field(
        None, description="A GGUF file; null: the embedded Gemma 3 270M."
    )
    n_ctx: int = Field(4096, ge=256, description="Context window in tokens.")
    n_threads: int = Field(1, ge=1, description="CPU threads for generation.")
    n_threads_batch: int = Field(2, ge=1, description="CPU threads for prompt processing.")
    n_gpu_layers: int = Field(0, description="Layers offloaded to a GPU (-1: all).")
    chat_format: str = Field("gemma", description="llama.cpp's chat template name.")


class VLLMSettings(StrictModel):
    """In-process vLLM engine (``vllm.LLM``); requests are handed over in large batches."""

    batch_size: int = Field(
        256, ge=1, description="Requests handed to the engine per `LLM.generate`/`LLM.chat` call."
    )
    max_model_len: int | None = Field(None, description="`vllm.LLM(max_model_len=...)`.")
    dtype: str = Field("auto", description="`vllm.LLM(dtype=...)`.")
    enforce_eager: bool = Field(False, description="`vllm.LLM(enforce_eager=...)`.")
    gpu_memory_utilization: float = Field(
        0.9, gt=0, le=1, description="`vllm.LLM(gpu_memory_utilization=...)`."
    )
    tensor_parallel_size: int = Field(1, ge=1, description="`vllm.LLM(tensor_parallel_size=...)`.")
    engine_args: dict[str, Any] = Field(
        default_factory=dict, description="Any other `vllm.LLM` keyword argument."
    )


class LLMSettings(StrictModel):
    """Which model answers, through which backend, with which sampling settings."""

    backend: Literal["openai", "vllm", "llamacpp"] = Field(
        "llamacpp",
        description="`openai` (any OpenAI-compatible server), `vllm` or `llamacpp` (in process).",
    )
    model: str = Field(
        EMBEDDED_MODEL_NAME,
        description="The model name sent to the server, the vLLM model id/folder, or a label "
        "for llama.cpp.",
    )
    base_url: str | None = Field(
        None, description="The server's `/v1` URL (`openai` backend; required there)."
    )
    api_key_env: str | None = Field(
        None,
        description="The **name** of the environment variable holding the API key; the key "
        "itself never appears in recipes, logs, manifests.",
    )
    dialect: Literal["openai", "vllm", "llamacpp", "none"] = Field(
        "openai", description="How to ask a server for structured output (see *Backends*)."
    )
    prompt_style: Literal["chat", "completion"] = Field(
        "completion",
        description="`chat` for instruct models, `completion` (few-shot) for base models.",
    )
    temperature: float = Field(0.7, ge=0.0, le=2.0, description="Sampling temperature.")
    top_p: float = Field(0.95, gt=0.0, le=1.0, description="Nucleus sampling.")
    max_tokens: int = Field(
        1024,
        ge=1,
        description="Per answer; an answer cut by it counts as truncated and is re-asked.",
    )
    seed: int = Field(0, description="Sampling seed; every request carries it.")
    max_concurrency: int = Field(8, ge=1, description="Requests in flight at once.")
    timeout_s: float = Field(300.0, gt=0, description="Per request, in seconds.")
    max_reasks: int = Field(
        2,
        ge=0,
        description="How often an invalid answer (not JSON, schema-invalid, truncated) is "
        "asked again.",
    )
    retry: RetrySettings = Field(
        default_factory=RetrySettings,
        description="Transport retries: 429 (honouring `Retry-After`), 5xx, resets, timeouts.",
    )
    price: PriceSettings = Field(
        default_factory=PriceSettings, description="Turns token counts into a cost line."
    )
    llamacpp: LlamaCppSettings = Field(
        default_factory=LlamaCppSettings,
        description="The in-process llama.cpp backend (llama-cpp-python).",
    )
    vllm: VLLMSettings = Field(
        default_factory=VLLMSettings,
        description="The in-process vLLM engine; requests are handed over in large batches.",
    )

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

    n_paraphrases: int = Field(
        5, ge=1, le=20, description="Paraphrases per text (the schema demands exactly this many)."
    )
    n_non_paraphrases: int = Field(
        5, ge=1, le=20, description="Hard non-paraphrases per text (exactly)."
    )
    n_examples: int = Field(
        2,
        ge=0,
        le=10,
        description="Worked examples in the prompt (from `prompts/ruhnp/examples.yaml`, "
        "10 available).",
    )
    max_candidate_chars: int | None = Field(
        None,
        ge=10,
        description="A `maxLength` per candidate in the schema (grammar-enforced on "
        "llama.cpp/vLLM; stops a looping small model); leave null for the OpenAI API.",
    )
    prompts: Path | None = Field(
        None, description="A prompt directory of your own; null: the shipped `prompts/ruhnp/`."
    )


class OutputSettings(StrictModel):
    """How results are written: rows per Parquet shard, and the longest wait between shards."""

    shard_size: int = Field(200, ge=1, description="Rows per Parquet shard.")
    flush_seconds: float = Field(
        60.0, gt=0, description="Longest wait before buffered rows are written."
    )


class CacheSettings(StrictModel):
    """The SQLite response cache. ``path: null`` keeps it inside the run directory."""

    enabled: bool = Field(True, description="Cache answers by (model, messages, settings).")
    path: Path | None = Field(
        None,
        description="null: `OUT/cache.sqlite`; point several runs at one file to share answers.",
    )


TRAINING_KEYS = ("model", "prefixes", "datasets", "training", "model_card")
"""Keys of the ``train:`` section that old training recipes kept at the top level."""


class Recipe(StrictModel):
    """A whole run's settings."""

    task: Literal["ruhnp", "wanli", "train"] = Field(
        "ruhnp", description="What the recipe is for: `ruhnp`, `wanli` or `train`."
    )
    name: str | None = Field(None, description="The run's name (manifests, cards).")
    source: SourceSettings = Field(
        default_factory=SourceSettings, description="Which texts, and which are kept."
    )
    llm: LLMSettings = Field(default_factory=LLMSettings, description="Who answers.")
    ruhnp: RuHNPSettings = Field(default_factory=RuHNPSettings, description="The RuHNP generator.")
    output: OutputSettings = Field(
        default_factory=OutputSettings, description="How generated rows are written."
    )
    cache: CacheSettings = Field(
        default_factory=CacheSettings, description="The SQLite response cache."
    )
    filters: FilterSettings = Field(
        default_factory=FilterSettings, description="The filter stages (`rudatagen filter`)."
    )
    wanli: WanliSettings = Field(
        default_factory=WanliSettings,
        description="WANLI-style NLI generation (`rudatagen cartography`, `generate wanli`).",
    )
    train: TrainSettings | None = Field(
        None, description="Encoder training (`rudatagen train`); needed by `task: train`."
    )
    annotate: AnnotateSettings = Field(
        default_factory=AnnotateSettings, description="Human review (`rudatagen annotate`)."
    )
    evaluate: EvaluateSettings = Field(
        default_factory=EvaluateSettings,
        description="Evaluation sets and encoding (`rudatagen evaluate` and `shift`).",
    )
    cross_encoder_training: CrossEncoderTrainingSettings = Field(
        default_factory=CrossEncoderTrainingSettings,
        description="`rudatagen train-cross-encoder` (its flags override these).",
    )
    publish: PublishSettings = Field(
        default_factory=PublishSettings,
        description="Splits and the card (`rudatagen publish`; its flags override these).",
    )

    @model_validator(mode="after")
    def _train_needs_section(self) -> Recipe:
        if self.task == "train" and self.train is None:
            raise ValueError("task 'train' needs a 'train:' section")
        return self

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


def nest_training_keys(data: dict[str, Any], origin: str) -> dict[str, Any]:
    """Move an old training recipe's top-level keys under ``train:``, with one warning line.

    Old layout: ``task: train`` with ``datasets:`` (``model:``, ...) at the top level. Its
    ``name`` names the training run, so it moves too unless ``train:`` has one already.
    """
    moved = [key for key in TRAINING_KEYS if key in data]
    if data.get("task") != "train" or not moved:
        return data
    print(
        f"warning: {origin}: training keys at the top level are deprecated; "
        "nest them under 'train:'",
        file=sys.stderr,
    )
    section = data.get("train")
    section = dict(section) if isinstance(section, dict) else {}
    for key in moved:
        section[key] = data.pop(key)
    if "name" in data and "name" not in section:
        section["name"] = data.pop("name")
    return {**data, "train": section}


def load_recipe(path: Path | None = None, overrides: list[str] | None = None) -> Recipe:
    """Read a recipe (or the embedded defaults), apply overrides, validate."""
    return load_model(Recipe, path, overrides, upgrade=nest_training_keys)
