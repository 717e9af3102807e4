"""Tests for exponential backoff with jitter and ``RetryingCaller`` (no real sleeping)."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable

import pytest

from rudatagen.llm.retry import RetryingCaller, backoff_delay
from rudatagen.llm.settings import RetrySettings
from rudatagen.llm.types import RequestRejectedError, TransientLLMError

DRAWS = 300


def draws(attempt: int, settings: RetrySettings, retry_after: float | None = None) -> list[float]:
    rng = random.Random(attempt)
    return [backoff_delay(attempt, settings, retry_after, rng) for _ in range(DRAWS)]


# -- backoff_delay --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "maximum"),
    [(1.0, 60.0), (0.5, 10.0), (2.0, 5.0), (0.1, 0.1)],
)
@pytest.mark.parametrize("attempt", [0, 1, 2, 3, 5, 8, 12, 30])
def test_delay_within_half_cap_and_cap(base: float, maximum: float, attempt: int) -> None:
    settings = RetrySettings(backoff_base_s=base, backoff_max_s=maximum)
    cap = min(maximum, base * 2**attempt)
    values = draws(attempt, settings)
    assert all(cap / 2 <= v <= cap for v in values)
    # Jitter: the draws are spread over the range, not one fixed value.
    assert max(values) - min(values) > cap / 4


def test_delay_grows_exponentially_until_the_cap() -> None:
    settings = RetrySettings(backoff_base_s=1.0, backoff_max_s=60.0)
    by_attempt = [draws(attempt, settings) for attempt in range(9)]
    for attempt in range(5):  # caps 1, 2, 4, 8, 16, 32: each range starts where the last ends
        assert max(by_attempt[attempt]) <= min(by_attempt[attempt + 1])
        mean, next_mean = (sum(d) / DRAWS for d in by_attempt[attempt : attempt + 2])
        assert next_mean == pytest.approx(2 * mean, rel=0.15)
    for attempt in range(6, 9):  # 2**6 > 60: held at the cap
        assert all(30.0 <= v <= 60.0 for v in by_attempt[attempt])


def test_first_delay_is_about_base() -> None:
    settings = RetrySettings(backoff_base_s=4.0, backoff_max_s=100.0)
    assert all(2.0 <= v <= 4.0 for v in draws(0, settings))


@pytest.mark.parametrize("retry_after", [7.5, 100.0, 1000.0])
def test_retry_after_is_a_floor(retry_after: float) -> None:
    settings = RetrySettings(backoff_base_s=1.0, backoff_max_s=60.0)
    # Attempt 0 draws at most 1 s: a longer Retry-After wins, even above backoff_max_s.
    assert all(v == retry_after for v in draws(0, settings, retry_after))


def test_short_retry_after_does_not_shorten_the_backoff() -> None:
    settings = RetrySettings(backoff_base_s=1.0, backoff_max_s=60.0)
    values = draws(4, settings, retry_after=0.5)
    assert all(8.0 <= v <= 16.0 for v in values)
    assert values == draws(4, settings, retry_after=None)


def test_delays_are_reproducible_with_a_seed() -> None:
    settings = RetrySettings()
    assert draws(3, settings) == draws(3, settings)
    first = [backoff_delay(3, settings, None, random.Random(1)) for _ in range(3)]
    second = [backoff_delay(3, settings, None, random.Random(2)) for _ in range(3)]
    assert first != second


# -- RetryingCaller -------------------------------------------------------------------------


class Recorder:
    """An injected ``sleep`` that records delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


class Scripted:
    """A coroutine factory that raises the scripted errors in turn, then returns ``value``."""

    def __init__(self, errors: list[Exception], value: str = "ok") -> None:
        self.errors = list(errors)
        self.value = value
        self.calls = 0

    def __call__(self) -> Awaitable[str]:
        self.calls += 1
        return self._run()

    async def _run(self) -> str:
        if self.errors:
            raise self.errors.pop(0)
        return self.value


def caller(max_retries: int = 3, **settings: float) -> tuple[RetryingCaller, Recorder]:
    sleep = Recorder()
    retry = RetrySettings(max_retries=max_retries, **settings)
    return RetryingCaller(retry, sleep=sleep, seed=0), sleep


def run(call: RetryingCaller, factory: Callable[[], Awaitable[str]]) -> str:
    return asyncio.run(call(factory))


def test_success_needs_no_retry() -> None:
    call, sleep = caller()
    factory = Scripted([])
    assert run(call, factory) == "ok"
    assert factory.calls == call.calls == 1
    assert sleep.delays == []
    assert call.retries == Counter()


def test_transient_errors_are_retried_and_counted() -> None:
    call, sleep = caller(max_retries=5, backoff_base_s=1.0, backoff_max_s=60.0)
    factory = Scripted(
        [
            TransientLLMError("http_429", "rate limited"),
            TransientLLMError("timeout"),
            TransientLLMError("http_429"),
        ],
        value="готово",
    )
    assert run(call, factory) == "готово"
    assert factory.calls == call.calls == 4
    assert call.retries == Counter({"http_429": 2, "timeout": 1})
    assert len(sleep.delays) == 3
    for attempt, delay in enumerate(sleep.delays):
        cap = min(60.0, 2**attempt)
        assert cap / 2 <= delay <= cap


@pytest.mark.parametrize("max_retries", [0, 1, 3])
def test_gives_up_after_max_retries(max_retries: int) -> None:
    call, sleep = caller(max_retries=max_retries)
    errors = [TransientLLMError("http_503", f"try {n}") for n in range(max_retries + 5)]
    factory = Scripted(errors)
    with pytest.raises(TransientLLMError) as info:
        run(call, factory)
    assert factory.calls == call.calls == max_retries + 1
    assert len(sleep.delays) == max_retries
    assert call.retries == (Counter({"http_503": max_retries}) if max_retries else Counter())
    # The error re-raised is the last one, not an earlier one or a wrapper.
    assert str(info.value) == f"http_503: try {max_retries}"


def test_retry_after_reaches_sleep() -> None:
    call, sleep = caller(backoff_base_s=1.0, backoff_max_s=60.0)
    factory = Scripted([TransientLLMError("http_429", retry_after=42.0)])
    assert run(call, factory) == "ok"
    assert sleep.delays == [42.0]


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(ValueError("bad"), id="value-error"),
        pytest.param(RequestRejectedError("http_400"), id="rejected"),
        pytest.param(RuntimeError("boom"), id="runtime-error"),
    ],
)
def test_other_errors_are_not_retried(error: Exception) -> None:
    call, sleep = caller(max_retries=5)
    factory = Scripted([error])
    with pytest.raises(type(error)) as info:
        run(call, factory)
    assert info.value is error
    assert factory.calls == call.calls == 1
    assert sleep.delays == []
    assert call.retries == Counter()


def test_non_transient_after_transient_stops() -> None:
    call, sleep = caller(max_retries=5)
    factory = Scripted([TransientLLMError("connection"), RequestRejectedError("http_400")])
    with pytest.raises(RequestRejectedError):
        run(call, factory)
    assert factory.calls == 2
    assert len(sleep.delays) == 1
    assert call.retries == Counter({"connection": 1})


def test_counts_accumulate_over_calls() -> None:
    call, _ = caller(max_retries=2)
    assert run(call, Scripted([TransientLLMError("timeout")])) == "ok"
    assert run(call, Scripted([TransientLLMError("timeout"), TransientLLMError("http_500")])) == (
        "ok"
    )
    assert call.calls == 5
    assert call.retries == Counter({"timeout": 2, "http_500": 1})


def test_each_retry_starts_its_own_budget() -> None:
    # The attempt counter is per call: a second call gets max_retries again.
    call, sleep = caller(max_retries=1)
    assert run(call, Scripted([TransientLLMError("timeout")])) == "ok"
    assert run(call, Scripted([TransientLLMError("timeout")])) == "ok"
    assert len(sleep.delays) == 2
    assert all(0.5 <= d <= 1.0 for d in sleep.delays)  # both are attempt 0


def test_same_seed_same_delays() -> None:
    delays = []
    for _ in range(2):
        call, sleep = caller(max_retries=4)
        run(call, Scripted([TransientLLMError("timeout")] * 4))
        delays.append(sleep.delays)
    assert delays[0] == delays[1]
    assert len(delays[0]) == 4
