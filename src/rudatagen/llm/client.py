"""Drive a backend over many requests: cache, bounded concurrency, retries, validation, re-asks.

Outcomes are yielded as they complete, so the caller can write results while work goes on.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

from rudatagen.llm.cache import ResponseCache
from rudatagen.llm.retry import RetryingCaller
from rudatagen.llm.settings import RetrySettings
from rudatagen.llm.structured import InvalidAnswer, parse_answer
from rudatagen.llm.types import (
    LLMBackend,
    LLMRequest,
    LLMResponse,
    RequestRejectedError,
    TransientLLMError,
    Usage,
)


@dataclass
class Outcome:
    """The final result for one request: a validated answer or the reason it failed."""

    request: LLMRequest
    answer: dict[str, Any] | None
    error: str | None
    attempts: int
    usage: Usage
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.answer is not None


@dataclass
class ClientStats:
    """Counts for the manifest and the summary."""

    llm_calls: int = 0
    cache_hits: int = 0
    retries: Counter[str] = field(default_factory=Counter)
    invalid_answers: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    usage: Usage = field(default_factory=Usage)

    def as_dict(self) -> dict[str, Any]:
        return {
            "llm_calls": self.llm_calls,
            "cache_hits": self.cache_hits,
            "retries": dict(self.retries),
            "invalid_answers": dict(self.invalid_answers),
            "failures": dict(self.failures),
            "prompt_tokens": self.usage.prompt_tokens,
            "completion_tokens": self.usage.completion_tokens,
        }


class StructuredClient:
    """Asks a backend for JSON answers that validate against each request's schema."""

    def __init__(
        self,
        backend: LLMBackend,
        *,
        retry: RetrySettings,
        max_reasks: int,
        concurrency: int,
        cache: ResponseCache | None = None,
    ) -> None:
        self.backend = backend
        self.cache = cache
        self.max_reasks = max_reasks
        self.concurrency = max(concurrency, backend.preferred_concurrency or 0)
        self.stats = ClientStats()
        self._caller = RetryingCaller(retry)

    async def run(self, requests: Iterable[LLMRequest]) -> AsyncIterator[Outcome]:
        """Yield one :class:`Outcome` per request, in completion order.

        A :class:`~rudatagen.llm.types.FatalLLMError` from the backend stops everything and
        propagates once the workers are cancelled.
        """
        pending = iter(requests)  # shared by the workers; consumed lazily, one at a time
        results: asyncio.Queue[Outcome | BaseException | None] = asyncio.Queue()

        async def worker() -> None:
            try:
                for request in pending:
                    results.put_nowait(await self.ask(request))
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer
                results.put_nowait(exc)
                return
            results.put_nowait(None)

        workers = [asyncio.create_task(worker()) for _ in range(self.concurrency)]
        running = len(workers)
        try:
            while running:
                item = await results.get()
                if item is None:
                    running -= 1
                elif isinstance(item, BaseException):
                    raise item
                else:
                    yield item
        finally:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            self.stats.retries = self._caller.retries

    async def ask(self, request: LLMRequest) -> Outcome:
        """One request to its final outcome: from the cache, or asked (and re-asked) anew."""
        model = self.backend.model
        key = request.cache_key(model)
        usage = Usage()
        if self.cache is not None:
            cached = self.cache.get(key)
            if cached is not None:
                try:
                    answer = parse_answer(cached.text, request.schema, cached.finish_reason)
                except InvalidAnswer:
                    pass  # the schema changed since: ask again
                else:
                    self.stats.cache_hits += 1
                    usage.add(cached)
                    return Outcome(request, answer, None, 0, usage, cached=True)

        last_error = "no attempt"
        for attempt in range(self.max_reasks + 1):
            attempt_request = request if attempt == 0 else request.reasked(attempt)
            try:
                response = await self._call(attempt_request)
            except TransientLLMError as exc:
                return self._failed(
                    request, "transport", f"gave up after retries: {exc}", attempt + 1, usage
                )
            except RequestRejectedError as exc:
                return self._failed(request, "rejected", exc.reason, attempt + 1, usage)
            usage.add(response)
            self.stats.usage.add(response)
            try:
                answer = parse_answer(response.text, request.schema, response.finish_reason)
            except InvalidAnswer as exc:
                self.stats.invalid_answers[exc.reason] += 1
                last_error = str(exc)
                continue
            if self.cache is not None:
                self.cache.put(key, request.key, model, response)
            return Outcome(request, answer, None, attempt + 1, usage)
        detail = f"{self.max_reasks + 1} answers, none valid; last: {last_error}"
        return self._failed(request, "invalid_answer", detail, self.max_reasks + 1, usage)

    async def _call(self, request: LLMRequest) -> LLMResponse:
        async def once() -> LLMResponse:
            self.stats.llm_calls += 1
            return await self.backend.complete(request)

        return await self._caller(once)

    def _failed(
        self, request: LLMRequest, category: str, detail: str, attempts: int, usage: Usage
    ) -> Outcome:
        self.stats.failures[category] += 1
        return Outcome(request, None, f"{category}: {detail}", attempts, usage)
