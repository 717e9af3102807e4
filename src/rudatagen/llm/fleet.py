"""Several servers of one model as one backend: least-busy routing, taking out, taking back.

The OpenAI-compatible backend accepts a list of base URLs (a fleet of vLLM servers). Each request
goes to the server in rotation with the fewest requests in flight; ties go round robin, so a
fleet of idle servers is filled evenly.

A server stops being trusted when it cannot be reached at all (taken out at once) or after
``max_failures`` timeouts, 5xx, resets or unparseable replies in a row. A server taken out waits
a cool-down (``cooldown_s``, doubled after every failed try up to ``cooldown_max_s``); then one
request is let through as a probe: an answer brings it back, a failure doubles its cool-down.

A request whose server fails goes to another server at once, within the same call, so a dead
server costs no retry and no backoff; only when every server in rotation has failed it is the
caller's retry (with its backoff) that tries again. When a server is taken out, the requests it
still holds are cancelled and sent elsewhere too, instead of waiting for their own timeouts on a
server that has stopped answering. Each request is answered once: the answer of the server that
finished it is the only one returned. A 429 moves the request to another server but says nothing
about the server's health.

With a single server all of this reduces to the behaviour of one client: every request goes to
it, even while it is "out", and a failure goes straight to the caller's retry.

Routing lives here, not in ``asyncio`` load balancers or ``httpx`` transports, because the
decision needs what only the backend knows: which failures are the server's fault (a 400 is the
request's, a 429 is load) and when a request may be moved.
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit, urlunsplit

from rudatagen.llm.settings import FleetSettings
from rudatagen.llm.types import TransientLLMError

C = TypeVar("C")
R = TypeVar("R")

HEALTH_REASONS = ("timeout", "connection", "bad_response")
"""Failure reasons that count against a server's health (besides HTTP 5xx)."""


class ServerUnreachableError(TransientLLMError):
    """No connection could be made (nothing listening, host unknown): taken out at once."""


def public_url(url: str) -> str:
    """``url`` without a ``user:password@`` part, for manifests and messages."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


def counts_against_health(exc: TransientLLMError) -> bool:
    """A timeout, reset, broken reply or 5xx is the server's fault; a 429, 408 or 409 is not."""
    return exc.reason in HEALTH_REASONS or exc.reason.startswith("http_5")


@dataclass(eq=False)
class Server(Generic[C]):
    """One server of the fleet: its client, its load and its record."""

    url: str
    client: C
    in_flight: int = 0
    requests: int = 0
    answered: int = 0
    failed: int = 0
    moved: int = 0
    taken_out: int = 0
    failures_in_a_row: int = 0
    out_until: float | None = None  # monotonic time of its next try; None: in rotation
    cooldown_s: float = 0.0  # the last cool-down; 0 after an answer
    probing: bool = False
    calls: set[asyncio.Task[Any]] = field(default_factory=set)

    @property
    def excluded(self) -> bool:
        """Left out for the whole run (the check before it found it misconfigured)."""
        return self.out_until == math.inf

    def report(self) -> dict[str, Any]:
        """Its line in the manifest: requests sent, answered, failed, moved elsewhere."""
        return {
            "url": public_url(self.url),
            "requests": self.requests,
            "answered": self.answered,
            "failed": self.failed,
            "moved": self.moved,
            "taken_out": self.taken_out,
            "in_rotation": self.out_until is None,
        }


class Fleet(Generic[C]):
    """Sends each call to the least busy healthy server and moves it when that server fails.

    ``clients`` are one client per URL, in the order given (the order breaks the first tie).
    """

    def __init__(
        self,
        urls: Sequence[str],
        clients: Sequence[C],
        settings: FleetSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.servers = [Server(url, client) for url, client in zip(urls, clients, strict=True)]
        self.settings = settings
        self._clock = clock
        self._next = 0  # round-robin position among tied servers

    def __len__(self) -> int:
        return len(self.servers)

    async def call(self, ask: Callable[[Server[C]], Awaitable[R]]) -> R:
        """``ask(server)`` on one server after another until one answers.

        Raises the last :class:`TransientLLMError` once every server that could take the request
        has failed it; any other error (a rejected request, a refused key) at once.
        """
        tried: set[Server[C]] = set()
        last: TransientLLMError | None = None
        while True:
            picked = self._pick(tried)
            if picked is None:
                assert last is not None  # nothing was tried only if the fleet is empty
                raise last
            server, probe = picked
            tried.add(server)
            server.in_flight += 1
            server.requests += 1
            task = asyncio.ensure_future(ask(server))
            server.calls.add(task)
            try:
                # asyncio.wait leaves the task alone when this call is cancelled, and returns
                # when it ends in any way: a cancelled task then means "moved" (see take_out)
                await asyncio.wait({task})
            except asyncio.CancelledError:
                task.cancel()
                raise
            finally:
                server.in_flight -= 1
                server.calls.discard(task)
                if probe:
                    server.probing = False
            if task.cancelled():
                server.moved += 1
                continue
            exc = task.exception()
            if exc is None:
                self._answered(server)
                return task.result()
            server.failed += 1
            if not isinstance(exc, TransientLLMError):
                raise exc
            self._failed(server, exc, probe)
            last = exc

    def report(self) -> list[dict[str, Any]]:
        return [server.report() for server in self.servers]

    def exclude(self, server: Server[C], why: str) -> None:
        """Leave ``server`` out of the whole run (found misconfigured before it)."""
        server.out_until = math.inf
        _warn(f"{why}; it is left out of this run")

    def take_out(self, server: Server[C], why: str) -> None:
        """Out of rotation for a cool-down (doubling after each failed try); in-flight requests
        move to another server when one is in rotation."""
        settings = self.settings
        doubled = server.cooldown_s * 2 if server.cooldown_s else settings.cooldown_s
        server.cooldown_s = min(settings.cooldown_max_s, doubled)
        server.out_until = self._clock() + server.cooldown_s
        server.failures_in_a_row = 0
        server.taken_out += 1
        if len(self.servers) == 1:
            return  # nowhere else to go: the caller's retries pace the next tries
        _warn(
            f"{public_url(server.url)} taken out of rotation ({why}); "
            f"tried again in {server.cooldown_s:g}s"
        )
        now = self._clock()
        if any(s is not server and self._in_rotation(s, now) for s in self.servers):
            for task in list(server.calls):
                task.cancel()

    def _answered(self, server: Server[C]) -> None:
        server.answered += 1
        server.failures_in_a_row = 0
        if server.out_until is not None and not server.excluded:
            if len(self.servers) > 1:
                _warn(f"{public_url(server.url)} answers again; back in rotation")
            server.out_until = None
        server.cooldown_s = 0.0
        server.probing = False

    def _failed(self, server: Server[C], exc: TransientLLMError, probe: bool) -> None:
        """Count a failure against ``server``; a failed probe doubles the cool-down, while a
        request that was sent before the server went out only counts."""
        if server.excluded or (server.out_until is not None and not probe):
            return
        if isinstance(exc, ServerUnreachableError):
            self.take_out(server, str(exc))
        elif counts_against_health(exc):
            server.failures_in_a_row += 1
            if probe or server.failures_in_a_row >= self.settings.max_failures:
                self.take_out(server, f"{server.failures_in_a_row} failure(s) in a row: {exc}")

    def _in_rotation(self, server: Server[C], now: float) -> bool:
        """In rotation, or due for its probe (one request at a time while it is tried)."""
        if server.out_until is None:
            return True
        return now >= server.out_until and not server.probing

    def _pick(self, tried: set[Server[C]]) -> tuple[Server[C], bool] | None:
        """The least busy server in rotation not yet tried for this request (ties: round
        robin), and whether the request is that server's probe.

        When none is in rotation and nothing was tried yet, the one due soonest takes it anyway:
        a request is never refused, and the caller's retries pace the tries.
        """
        now = self._clock()
        candidates = [s for s in self.servers if s not in tried and self._in_rotation(s, now)]
        if not candidates:
            if tried:
                return None
            fallback = [s for s in self.servers if not s.excluded] or self.servers
            return min(fallback, key=lambda s: (s.out_until or 0.0, s.in_flight)), False
        least = min(s.in_flight for s in candidates)
        n = len(self.servers)
        chosen = min(
            (s for s in candidates if s.in_flight == least),
            key=lambda s: (self.servers.index(s) - self._next) % n,
        )
        self._next = (self.servers.index(chosen) + 1) % n
        probe = chosen.out_until is not None
        chosen.probing = probe
        return chosen, probe


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)
