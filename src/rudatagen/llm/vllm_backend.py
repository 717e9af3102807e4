"""In-process vLLM (``vllm.LLM``) with structured JSON decoding, fed large batches.

Concurrent ``complete`` calls are gathered into one ``LLM.generate`` (or ``LLM.chat``) call of up
to ``llm.vllm.batch_size`` requests, so the engine's continuous batching has work to do. The
engine call runs in a thread; the event loop keeps collecting the next batch meanwhile.
"""

from __future__ import annotations

import asyncio
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

_LINGER_S = 0.02  # how long the first request of a batch waits for company


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
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RudatagenError(
            f"vLLM could not start model '{settings.model}': {first_line}"
        ) from None


class VLLMBackend(LLMBackend):
    name = "vllm"

    def __init__(self, settings: VLLMSettings, engine: Any | None = None) -> None:
        """``engine``: an already started ``vllm.LLM`` (benchmarks reuse one); else one is built."""
        vllm = _import_vllm()
        self._settings = settings
        self._engine = engine  # built on the first batch: a fully cached run never starts it
        self._sampling_params_cls = vllm.SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        self._structured_cls = StructuredOutputsParams
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
        import vllm

        return {
            "vllm": getattr(vllm, "__version__", "?"),
            "batch_size": self.preferred_concurrency,
            "engine_calls": len(self.batches),
            "largest_batch": max(self.batches, default=0),
        }

    async def complete(self, request: LLMRequest) -> LLMResponse:
        loop = asyncio.get_running_loop()
        if self._loop_task is None or self._loop_task.done():
            self._wakeup = asyncio.Event()
            self._loop_task = loop.create_task(self._batch_loop())
        future: asyncio.Future[LLMResponse] = loop.create_future()
        self._pending.append((request, future))
        assert self._wakeup is not None
        self._wakeup.set()
        return await future

    async def _batch_loop(self) -> None:
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
                if self._engine is None:
                    try:
                        self._engine = await asyncio.to_thread(build_engine, self._settings)
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

    def _run_batch(self, requests: list[LLMRequest]) -> list[LLMResponse | BaseException]:
        """One engine call for the batch; if it fails, each request alone to find the bad one."""
        try:
            return list(self._generate(requests))
        except (ValueError, RuntimeError) as exc:
            if len(requests) == 1:
                return [RequestRejectedError(f"vLLM: {str(exc).splitlines()[0][:200]}")]
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
        responses = []
        for output in outputs:
            completion = output.outputs[0]
            responses.append(
                LLMResponse(
                    text=completion.text,
                    finish_reason=completion.finish_reason,
                    prompt_tokens=len(output.prompt_token_ids or ()),
                    completion_tokens=len(completion.token_ids or ()),
                )
            )
        return responses

    async def aclose(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
