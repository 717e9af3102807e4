"""The ``llm:`` section: what every backend shares, and one settings model per backend.

:class:`LLMSettings` holds the keys every backend reads (model, prompt style, sampling,
concurrency, re-asks, retries, prices). Each backend's model subclasses it, narrows ``backend`` to
its own name and adds its own keys, so ``llm.base_url`` exists only for ``backend: openai`` and
``llm.llamacpp.*`` only for ``backend: llamacpp``. ``llm.registry`` joins the variants into the
discriminated union that ``Recipe.llm`` holds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from rudatagen import fields
from rudatagen.llm.types import LLMRequest, Message
from rudatagen.strict import StrictModel

EMBEDDED_MODEL_NAME = "gemma-3-270m-q4_k_m (embedded demo)"
BACKEND_DOC = (
    "`openai` (any OpenAI-compatible server), `vllm` or `llamacpp` (in process); each backend "
    "takes its own keys (below)."
)


class RetrySettings(StrictModel):
    """Transport retries: 429 (honouring `Retry-After`), 5xx, resets, timeouts."""

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


class LLMSettings(StrictModel):
    """Which model answers, through which backend, with which sampling settings."""

    backend: str = Field(description=BACKEND_DOC)
    model: str = Field(
        EMBEDDED_MODEL_NAME,
        description="The model name sent to the server, the vLLM model id/folder, or a label "
        "for llama.cpp.",
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
    max_reasks: int = Field(
        2,
        ge=0,
        description="How often an invalid answer (not JSON, schema-invalid, truncated) is "
        "asked again.",
    )
    retry: RetrySettings = fields.section(RetrySettings)
    price: PriceSettings = fields.section(PriceSettings, "Turns token counts into a cost line.")

    @property
    def is_embedded(self) -> bool:
        """True for the embedded demo model (llama.cpp without a GGUF of one's own)."""
        return False

    def request(
        self,
        key: str,
        schema: dict[str, Any] | None,
        *,
        chat: Callable[[], tuple[Message, ...]],
        completion: Callable[[], str],
    ) -> LLMRequest:
        """One structured request in this recipe's prompt style, with its sampling settings
        (``chat`` or ``completion`` builds the prompt: only the one the style needs runs)."""
        common: dict[str, Any] = {
            "key": key,
            "schema": schema,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "seed": self.seed,
        }
        if self.prompt_style == "chat":
            return LLMRequest(messages=chat(), **common)
        return LLMRequest(prompt=completion(), **common)


class FleetSettings(StrictModel):
    """Several servers in `llm.base_url`: when one is taken out of rotation and tried again."""

    max_failures: int = Field(
        3,
        ge=1,
        description="Failures in a row (timeouts, 5xx, resets, unparseable replies) that take a "
        "server out; one it cannot connect to at all is taken out at once.",
    )
    cooldown_s: float = Field(
        10.0, gt=0, description="Seconds out of rotation before a server is tried again."
    )
    cooldown_max_s: float = Field(
        300.0,
        gt=0,
        description="The longest cool-down: each failed try doubles it up to this.",
    )


class OpenAISettings(LLMSettings):
    """Any OpenAI-compatible server: vLLM's, llama.cpp's, OpenAI itself."""

    backend: Literal["openai"] = Field("openai", description=BACKEND_DOC)
    base_url: str | list[str] | None = Field(
        None,
        description="The server's `/v1` URL (required; e.g. http://localhost:8000/v1), or a "
        "list of them: a fleet of servers of the same model, each request to the least busy.",
    )
    api_key_env: str | None = Field(
        None,
        description="The **name** of the environment variable holding the API key; the key "
        "itself never appears in recipes, logs, manifests.",
    )
    dialect: Literal["openai", "vllm", "llamacpp", "none"] = Field(
        "openai", description="How to ask the server for structured output (see *Backends*)."
    )
    timeout_s: float = Field(300.0, gt=0, description="Per request, in seconds.")
    fleet: FleetSettings = fields.section(FleetSettings)

    @model_validator(mode="after")
    def _needs_url(self) -> OpenAISettings:
        urls = self.base_urls
        if not urls or not all(url.strip() for url in urls):
            raise ValueError("backend 'openai' needs llm.base_url (e.g. http://localhost:8000/v1)")
        seen: set[str] = set()
        for url in urls:
            if url.rstrip("/") in seen:
                raise ValueError(f"llm.base_url lists {url} twice")
            seen.add(url.rstrip("/"))
        return self

    @property
    def base_urls(self) -> list[str]:
        """``base_url`` as a list: one string is a fleet of one."""
        if self.base_url is None:
            return []
        return [self.base_url] if isinstance(self.base_url, str) else list(self.base_url)


class LlamaCppModel(StrictModel):
    """In-process llama-cpp-python. ``model_path: null`` means the embedded Gemma 3 270M."""

    model_path: Path | None = Field(
        None, description="A GGUF file; null: the embedded Gemma 3 270M."
    )
    n_ctx: int = Field(4096, ge=256, description="Context window in tokens.")
    n_threads: int = Field(1, ge=1, description="CPU threads for generation.")
    n_threads_batch: int = Field(2, ge=1, description="CPU threads for prompt processing.")
    n_gpu_layers: int = Field(0, description="Layers offloaded to a GPU (-1: all).")
    chat_format: str = Field("gemma", description="llama.cpp's chat template name.")


class LlamaCppSettings(LLMSettings):
    """A GGUF model inside the process (llama-cpp-python); the embedded demo by default."""

    backend: Literal["llamacpp"] = Field("llamacpp", description=BACKEND_DOC)
    llamacpp: LlamaCppModel = fields.section(
        LlamaCppModel, "The in-process llama.cpp backend (llama-cpp-python)."
    )

    @property
    def is_embedded(self) -> bool:
        return self.llamacpp.model_path is None


class VLLMEngine(StrictModel):
    """In-process vLLM engine (``vllm.LLM``), fed continuously."""

    scheduling: Literal["continuous", "grouped"] = Field(
        "continuous",
        description=(
            "`continuous`: each request enters the running engine as it arrives and returns as "
            "soon as its answer is done; `grouped`: requests are gathered into "
            "`LLM.generate`/`LLM.chat` calls of up to `batch_size`, each waiting for its longest "
            "answer (the earlier way, kept for comparison)."
        ),
    )
    batch_size: int = Field(
        512,
        ge=1,
        description=(
            "Requests kept in the engine at once (`continuous`; above the engine's "
            "`max_num_seqs` one is always waiting to take a finished answer's place) or per "
            "`LLM.generate` call (`grouped`)."
        ),
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


class VLLMSettings(LLMSettings):
    """The vLLM engine inside the process; `llm.model` is a Hub id or a local folder."""

    backend: Literal["vllm"] = Field("vllm", description=BACKEND_DOC)
    vllm: VLLMEngine = fields.section(
        VLLMEngine, "The in-process vLLM engine; requests enter it as they arrive."
    )
