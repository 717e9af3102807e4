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
import sys
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


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as exc:
        raise MissingDependencyError("vllm", "vllm", "The vllm backend") from exc
    return vllm


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
        shut down); else one is built on the first request and shut down by :meth:`aclose`."""
        vllm = _import_vllm()
        self._settings = settings
        self._engine = engine  # built on the first request: a fully cached run never starts it
        self._owns_engine = engine is None
        self._sampling_params_cls = vllm.SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        self._structured_cls = StructuredOutputsParams
        self.scheduling = settings.vllm.scheduling
        if self.scheduling == "continuous" and not hasattr(vllm.LLM, "enqueue"):
            print(
                f"warning: vLLM {getattr(vllm, '__version__', '?')} has no LLM.enqueue: requests "
                "go to the engine in groups (llm.vllm.scheduling=grouped); upgrade vLLM to feed "
                "it continuously",
                file=sys.stderr,
                flush=True,
            )
            self.scheduling = "grouped"
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
        import vllm

        common = {
            "vllm": getattr(vllm, "__version__", "?"),
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

    def _started_engine(self) -> Any:
        if self._engine is None:
            self._engine = build_engine(self._settings)
        return self._engine

    async def complete(self, request: LLMRequest) -> LLMResponse:
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
