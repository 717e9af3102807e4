"""Retries with exponential backoff and equal jitter; ``Retry-After`` is honoured."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TypeVar

from rudatagen.llm.settings import RetrySettings
from rudatagen.llm.types import TransientLLMError

T = TypeVar("T")


def backoff_delay(
    attempt: int, settings: RetrySettings, retry_after: float | None, rng: random.Random
) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based).

    Equal jitter: half the exponential cap ``min(backoff_max_s, backoff_base_s * 2**attempt)``
    plus a uniform draw over the other half, i.e. uniform in ``[cap / 2, cap]``. The draw still
    spreads concurrent requests apart; the floor keeps a rate-limited client from retrying at
    once, which full jitter (uniform in ``[0, cap]``) allows. A server's ``Retry-After`` is a
    floor too, never shortened.
    """
    cap = min(settings.backoff_max_s, settings.backoff_base_s * (2**attempt))
    delay = rng.uniform(cap / 2, cap)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


class RetryingCaller:
    """Calls a coroutine factory until it succeeds, retrying transient failures."""

    def __init__(
        self,
        settings: RetrySettings,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        seed: int | None = None,
    ) -> None:
        self.settings = settings
        self.retries: Counter[str] = Counter()
        self.calls = 0
        self._sleep = sleep
        self._rng = random.Random(seed)

    async def __call__(self, factory: Callable[[], Awaitable[T]]) -> T:
        attempt = 0
        while True:
            self.calls += 1
            try:
                return await factory()
            except TransientLLMError as exc:
                if attempt >= self.settings.max_retries:
                    raise
                self.retries[exc.reason] += 1
                await self._sleep(backoff_delay(attempt, self.settings, exc.retry_after, self._rng))
                attempt += 1
