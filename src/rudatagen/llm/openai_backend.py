"""Any OpenAI-compatible endpoint: vLLM's server, llama.cpp's server, OpenAI itself.

Servers disagree on how structured output is requested, so the recipe names a *dialect*:

* ``openai`` - chat: ``response_format={"type": "json_schema", ...}``; completions: none exists.
* ``vllm`` - chat: the same ``json_schema`` form; completions: ``structured_outputs.json``.
* ``llamacpp`` - chat: ``response_format={"type": "json_object", "schema": ...}``;
  completions: a GBNF ``grammar`` built from the schema (llama-cpp-python's converter).
* ``none`` - no constraint; answers are still parsed and validated.

Before a run, :meth:`OpenAIBackend.preflight` asks ``GET {base_url}/models`` once (vLLM,
llama.cpp's server and OpenAI all serve it), so a wrong URL, key or model name fails in seconds
rather than after minutes of retried connection errors.

``llm.base_url`` may list several servers of the same model: :class:`~rudatagen.llm.fleet.Fleet`
sends each request to the least busy one and moves requests off a server that stops answering.
"""

from __future__ import annotations

import difflib
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from rudatagen.errors import MissingDependencyError, RudatagenError
from rudatagen.llm.fleet import Fleet, Server, ServerUnreachableError, public_url
from rudatagen.llm.settings import OpenAISettings
from rudatagen.llm.types import (
    FatalLLMError,
    LLMBackend,
    LLMRequest,
    LLMResponse,
    RequestRejectedError,
    TransientLLMError,
)

PLACEHOLDER_KEY = "EMPTY"
PREFLIGHT_TIMEOUT_S = 5.0
REFUSED = "connection refused"
LISTED_MODELS = 10  # at most this many served models are named in an error


def resolve_api_key(api_key_env: str | None) -> str:
    """Read the key from the environment variable the recipe names (never from the recipe)."""
    if api_key_env is None:
        return PLACEHOLDER_KEY
    value = os.environ.get(api_key_env)
    if not value:
        raise RudatagenError(
            f"llm.api_key_env names ${api_key_env}, but it is not set in the environment"
        )
    return value


@lru_cache(maxsize=16)
def _gbnf_for(schema_json: str) -> str:
    try:
        from llama_cpp.llama_grammar import json_schema_to_gbnf
    except ImportError as exc:
        raise MissingDependencyError(
            "llama-cpp-python", "llamacpp", "The llamacpp dialect with completion prompts"
        ) from exc
    return json_schema_to_gbnf(schema_json)


def structured_output_args(dialect: str, request: LLMRequest) -> dict[str, Any]:
    """The request fields that constrain the answer to ``request.schema`` in this dialect."""
    schema = request.schema
    if schema is None or dialect == "none":
        return {}
    if request.is_chat:
        if dialect in ("openai", "vllm"):
            return {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "answer", "schema": schema, "strict": True},
                }
            }
        return {"response_format": {"type": "json_object", "schema": schema}}
    if dialect == "vllm":
        return {"extra_body": {"structured_outputs": {"json": schema}}}
    if dialect == "llamacpp":
        return {"extra_body": {"grammar": _gbnf_for(json.dumps(schema, sort_keys=True))}}
    return {}


def _retry_after(exc: Any) -> float | None:
    response = getattr(exc, "response", None)
    raw = response.headers.get("retry-after") if response is not None else None
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        return None


@dataclass(frozen=True)
class ServerCheck:
    """What ``GET {url}/models`` found: ``ok``, ``warn`` (could not tell; go on), ``down``
    (nothing answers: may come back) or ``bad`` (wrong URL, key or model: will not)."""

    status: Literal["ok", "warn", "down", "bad"]
    message: str = ""


class OpenAIBackend(LLMBackend):
    name = "openai"

    def __init__(self, settings: OpenAISettings) -> None:
        try:
            import httpx
            import openai
        except ImportError as exc:  # pragma: no cover - core dependency
            raise MissingDependencyError("openai", "openai", "The openai backend") from exc
        self._openai = openai
        self._settings = settings
        self._dialect = settings.dialect
        self._api_key = resolve_api_key(settings.api_key_env)
        urls = settings.base_urls
        clients = [
            openai.AsyncOpenAI(
                base_url=url,
                api_key=self._api_key,
                max_retries=0,  # retries are ours: counted, jittered, Retry-After honoured
                timeout=httpx.Timeout(settings.timeout_s, connect=min(10.0, settings.timeout_s)),
                http_client=openai.DefaultAsyncHttpxClient(
                    limits=httpx.Limits(
                        max_connections=settings.max_concurrency,
                        max_keepalive_connections=settings.max_concurrency,
                    )
                ),
            )
            for url in urls
        ]
        self.fleet = Fleet(urls, clients, settings.fleet)  # public: live per-server counts

    @property
    def model(self) -> str:
        return self._settings.model

    def details(self) -> dict[str, Any]:
        """The manifest's record: the URLs (without credentials) and each server's counts."""
        urls = [public_url(url) for url in self._settings.base_urls]
        return {
            "base_url": urls[0] if isinstance(self._settings.base_url, str) else urls,
            "dialect": self._dialect,
            "api_key_env": self._settings.api_key_env,
            "servers": self.fleet.report(),
        }

    def preflight(self) -> None:
        """One ``GET {base_url}/models`` per server (5 s, no retries) before the run starts.

        One server: nothing listening, a refused key (401/403) or a model the server does not
        list raise :class:`FatalLLMError` naming the URL. A server that cannot list its models
        (404 or another status, not JSON, no answer in time once connected) is no reason to stop:
        one warning on stderr, and the run goes on (where its requests are retried as usual).

        Several servers are checked at once: one that is down is taken out of rotation (tried
        again after its cool-down), one with a refused key or without the model is left out of
        the run, each with a warning; only when no server is left does the run stop, with one
        line naming each server's problem.
        """
        servers = self.fleet.servers
        if len(servers) == 1:
            check = self._check_models(servers[0].url)
            if check.status in ("down", "bad"):
                raise FatalLLMError(check.message)
            if check.status == "warn":
                print(f"warning: {check.message}", file=sys.stderr, flush=True)
            return
        with ThreadPoolExecutor(max_workers=min(len(servers), 16)) as pool:
            checks = list(pool.map(self._check_models, [s.url for s in servers]))
        if all(c.status in ("down", "bad") for c in checks):
            problems = " | ".join(c.message for c in checks)
            raise FatalLLMError(
                f"none of the {len(servers)} servers in llm.base_url can be used: {problems}"
            )
        for server, check in zip(servers, checks, strict=True):
            if check.status == "warn":
                print(f"warning: {check.message}", file=sys.stderr, flush=True)
            elif check.status == "bad":
                self.fleet.exclude(server, check.message)
            elif check.status == "down":
                self.fleet.take_out(server, check.message)

    def _check_models(self, where: str) -> ServerCheck:
        """Ask one server for its models: what stops the run, what is only a warning."""
        import httpx

        url = where.rstrip("/") + "/models"
        where = public_url(where)
        shown = public_url(url)
        headers = {"Authorization": f"Bearer {self._api_key}", "Accept": "application/json"}
        cannot_check = f"cannot check that it serves '{self.model}'; going on"
        try:
            with httpx.Client(timeout=PREFLIGHT_TIMEOUT_S) as http:
                response = http.get(url, headers=headers)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL):
            return ServerCheck(
                "bad",
                f"llm.base_url '{where}' is not an http(s) URL (e.g. http://localhost:8000/v1)",
            )
        except httpx.ConnectTimeout:
            return ServerCheck(
                "down",
                f"cannot reach {where} (no connection within {PREFLIGHT_TIMEOUT_S:g}s); "
                "is the server running?",
            )
        except httpx.ConnectError as exc:
            reason = _connect_reason(exc)
            hint = "is the server running?" if reason == REFUSED else "check llm.base_url"
            return ServerCheck("down", f"cannot reach {where} ({reason}); {hint}")
        except httpx.RemoteProtocolError as exc:
            return ServerCheck(
                "bad",
                f"{where} does not answer HTTP ({_short(exc) or type(exc).__name__}); "
                "is llm.base_url the server's address and port?",
            )
        except httpx.HTTPError as exc:  # connected, then a read timeout or a reset
            return ServerCheck(
                "warn", f"{shown} gave no answer ({type(exc).__name__}); {cannot_check}"
            )
        status = response.status_code
        if status in (401, 403):
            return ServerCheck(
                "bad", f"{where} refused the API key (HTTP {status}); {self._key_hint()}"
            )
        if status != 200:
            return ServerCheck("warn", f"{shown} answered HTTP {status}; {cannot_check}")
        try:
            payload = response.json()
        except ValueError:
            return ServerCheck(
                "warn", f"{shown} answered with something other than JSON; {cannot_check}"
            )
        data = payload.get("data") if isinstance(payload, dict) else None
        served: list[str] = []
        if isinstance(data, list):
            served = [m["id"] for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)]
        if not served:
            return ServerCheck("warn", f"{shown} lists no models; {cannot_check}")
        # Gemini's OpenAI-compatible endpoint lists "models/NAME" and accepts "NAME".
        if self.model in served or f"models/{self.model}" in served:
            return ServerCheck("ok")
        return ServerCheck(
            "bad",
            f"{where} does not serve model '{self.model}' (it serves: "
            f"{_listing(self.model, served)}); check llm.model",
        )

    def _key_hint(self) -> str:
        env = self._settings.api_key_env
        if env is None:
            return "the recipe names no key: set llm.api_key_env to the variable that holds it"
        return f"check ${env}"

    async def complete(self, request: LLMRequest) -> LLMResponse:
        """The answer of the least busy server (of one, usually); see :class:`Fleet`."""
        return await self.fleet.call(lambda server: self._ask(server, request))

    async def _ask(self, server: Server[Any], request: LLMRequest) -> LLMResponse:
        client = server.client
        common: dict[str, Any] = {
            "model": self.model,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "seed": request.seed,
            **structured_output_args(self._dialect, request),
        }
        try:
            if request.is_chat:
                chat = await client.chat.completions.create(
                    messages=list(request.messages or ()), **common
                )
                choice = chat.choices[0]
                text, finish, usage = choice.message.content or "", choice.finish_reason, chat.usage
            else:
                completion = await client.completions.create(prompt=request.prompt or "", **common)
                choice_c = completion.choices[0]
                text, finish, usage = choice_c.text or "", choice_c.finish_reason, completion.usage
        except Exception as exc:
            raise self._classify(exc, public_url(server.url)) from exc
        return LLMResponse(
            text=text,
            finish_reason=finish,
            prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
            completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
        )

    def _classify(self, exc: Exception, where: str) -> Exception:
        """Map client errors onto retry / fail-the-item / stop-the-run."""
        oa = self._openai
        if isinstance(exc, oa.RateLimitError):
            return TransientLLMError("http_429", "rate limited", _retry_after(exc))
        if isinstance(exc, oa.APITimeoutError):
            return TransientLLMError("timeout", f"no answer within {self._settings.timeout_s:g}s")
        if isinstance(exc, oa.APIConnectionError):
            cause = exc.__cause__ or exc
            if isinstance(cause, _connect_errors()):  # not even connected: that server is down
                return ServerUnreachableError("connection", _connect_reason(cause))
            return TransientLLMError("connection", type(cause).__name__)
        if isinstance(exc, (oa.AuthenticationError, oa.PermissionDeniedError)):
            return FatalLLMError(
                f"{where} refused the API key (HTTP {exc.status_code}); {self._key_hint()}"
            )
        if isinstance(exc, oa.NotFoundError):
            return FatalLLMError(
                f"{where} answered 404 for model '{self.model}': check llm.model and llm.base_url"
            )
        if isinstance(exc, oa.APIStatusError):
            status = exc.status_code
            if status >= 500 or status in (408, 409):
                return TransientLLMError(f"http_{status}", _short(exc), _retry_after(exc))
            return RequestRejectedError(f"HTTP {status}: {_short(exc)}")
        if isinstance(exc, (oa.APIResponseValidationError, ValueError)):
            return TransientLLMError("bad_response", "the server's reply is not valid JSON")
        return exc

    async def aclose(self) -> None:
        for server in self.fleet.servers:
            await server.client.close()


@lru_cache(maxsize=1)
def _connect_errors() -> tuple[type[BaseException], ...]:
    """``ConnectError`` of httpx and of httpx2 (which openai 3.x is built on), whichever exist."""
    import importlib

    found: list[type[BaseException]] = []
    for name in ("httpx", "httpx2"):
        try:
            found.append(importlib.import_module(name).ConnectError)
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def _short(exc: Exception) -> str:
    message = getattr(exc, "message", None) or str(exc)
    return " ".join(message.split())[:200]


def _connect_reason(exc: Exception) -> str:
    """Why a connection failed, in a few words ("connection refused", "host not found", ...)."""
    import socket
    import ssl

    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, ConnectionRefusedError):
            return REFUSED
        if isinstance(cause, socket.gaierror):
            return "host not found"
        if isinstance(cause, ssl.SSLError):
            return f"TLS failed: {cause.reason or cause}"
        cause = cause.__cause__ or cause.__context__
    text = _short(exc)
    if "refused" in text.lower():  # the OSError itself is not always chained
        return REFUSED
    return text or type(exc).__name__


def _listing(model: str, served: list[str]) -> str:
    """Up to LISTED_MODELS served names, the ones closest to ``model`` first."""
    close = difflib.get_close_matches(model, served, n=3, cutoff=0.6)
    names = close + [name for name in served if name not in close]
    shown = ", ".join(names[:LISTED_MODELS])
    more = len(names) - LISTED_MODELS
    return f"{shown}, and {more} more" if more > 0 else shown
