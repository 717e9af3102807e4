"""Requests, responses and errors shared by every backend."""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from typing import Any

from rudatagen.errors import RudatagenError

Message = dict[str, str]


@dataclass(frozen=True)
class LLMRequest:
    """One structured-generation request: a chat (``messages``) or a completion (``prompt``)."""

    key: str
    messages: tuple[Message, ...] | None = None
    prompt: str | None = None
    schema: dict[str, Any] | None = None
    max_tokens: int = 1024
    temperature: float = 0.7
    top_p: float = 0.95
    seed: int = 0

    def __post_init__(self) -> None:
        if (self.messages is None) == (self.prompt is None):
            raise ValueError("an LLMRequest has either messages (chat) or a prompt (completion)")

    @property
    def is_chat(self) -> bool:
        return self.messages is not None

    def text(self) -> str:
        """The prompt as plain text (for logs and token estimates)."""
        if self.messages is not None:
            return "\n".join(m["content"] for m in self.messages)
        return self.prompt or ""

    def reasked(self, attempt: int) -> LLMRequest:
        """The same request for a re-ask: another seed, and some randomness if there was none."""
        return replace(self, seed=self.seed + attempt, temperature=max(self.temperature, 0.5))

    def cache_key(self, model: str) -> str:
        """Hash of everything that determines the answer: model, prompt, parameters, schema."""
        blob = json.dumps(
            {
                "model": model,
                "messages": list(self.messages) if self.messages is not None else None,
                "prompt": self.prompt,
                "schema": self.schema,
                "max_tokens": self.max_tokens,
                "temperature": self.temperature,
                "top_p": self.top_p,
                "seed": self.seed,
            },
            sort_keys=True,
            ensure_ascii=False,
        )
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class LLMResponse:
    text: str
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, response: LLMResponse) -> None:
        self.prompt_tokens += response.prompt_tokens
        self.completion_tokens += response.completion_tokens


class TransientLLMError(Exception):
    """Worth retrying after a pause: 429, 5xx, a dropped connection, a timeout."""

    def __init__(self, reason: str, detail: str = "", retry_after: float | None = None) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.retry_after = retry_after


class RequestRejectedError(Exception):
    """The server refused this one request (e.g. HTTP 400: prompt too long): the item fails."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FatalLLMError(RudatagenError):
    """Nothing will work until the user acts (bad API key, unknown model): the run stops."""


@dataclass
class BackendInfo:
    """What the manifest records about a backend (never a secret)."""

    backend: str
    model: str
    details: dict[str, Any] = field(default_factory=dict)


class LLMBackend(ABC):
    """The one interface every backend implements.

    ``complete`` answers one request. Backends that batch (vLLM) collect concurrent calls into
    engine batches; callers simply run many ``complete`` calls concurrently.
    """

    name: str = "base"

    @property
    @abstractmethod
    def model(self) -> str: ...

    @property
    def preferred_concurrency(self) -> int | None:
        """Concurrency this backend needs to work well (e.g. a batch size); None: the recipe's."""
        return None

    @abstractmethod
    async def complete(self, request: LLMRequest) -> LLMResponse: ...

    def preflight(self) -> None:  # noqa: B027 - optional hook
        """Check, once before a run, what a first request would otherwise find out slowly.

        Quick (seconds) and without retries; raises :class:`FatalLLMError` (one line) when the
        run cannot work and may print a warning when it cannot tell. A server backend asks the
        server; the in-process backends have nothing to reach (their constructors already checked
        the package and the model path), so the default does nothing.
        """

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections or engines."""

    def info(self) -> BackendInfo:
        """What the manifest records: the backend, the model and :meth:`details`."""
        return BackendInfo(backend=self.name, model=self.model, details=self.details())

    def details(self) -> dict[str, Any]:
        """The backend's own facts for the manifest (never a secret); none by default."""
        return {}
