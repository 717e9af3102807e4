"""In-process llama-cpp-python with a JSON-schema grammar: the embedded default backend."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

from rudatagen.errors import MissingDependencyError, RudatagenError
from rudatagen.llm.embedded import embedded_gguf_path
from rudatagen.llm.settings import LlamaCppSettings
from rudatagen.llm.types import (
    FatalLLMError,
    LLMBackend,
    LLMRequest,
    LLMResponse,
)


class LlamaCppBackend(LLMBackend):
    """llama.cpp answers one request at a time; calls run in a worker thread under a lock."""

    name = "llamacpp"

    def __init__(self, settings: LlamaCppSettings) -> None:
        try:
            import llama_cpp
        except ImportError as exc:
            raise MissingDependencyError(
                "llama-cpp-python", "llamacpp", "The llamacpp backend"
            ) from exc
        self._llama_cpp = llama_cpp
        self._settings = settings
        cfg = settings.llamacpp
        self._path: Path = cfg.model_path if cfg.model_path is not None else embedded_gguf_path()
        if not self._path.is_file():
            raise RudatagenError(f"llm.llamacpp.model_path does not exist: {self._path}")
        self._llm: Any = None  # loaded on the first request: a fully cached run never loads it
        self._lock = threading.Lock()
        self._grammars: dict[str, Any] = {}

    def _load(self) -> Any:
        if self._llm is None:
            cfg = self._settings.llamacpp
            try:
                self._llm = self._llama_cpp.Llama(
                    model_path=str(self._path),
                    n_ctx=cfg.n_ctx,
                    n_threads=cfg.n_threads,
                    n_threads_batch=cfg.n_threads_batch,
                    n_gpu_layers=cfg.n_gpu_layers,
                    chat_format=cfg.chat_format,
                    verbose=False,
                )
            except (ValueError, RuntimeError) as exc:
                raise FatalLLMError(f"llama.cpp could not load {self._path}: {exc}") from None
        return self._llm

    @property
    def model(self) -> str:
        return self._settings.model

    def details(self) -> dict[str, Any]:
        cfg = self._settings.llamacpp
        return {"model_file": self._path.name, "n_ctx": cfg.n_ctx, "chat_format": cfg.chat_format}

    def _grammar(self, schema: dict[str, Any] | None) -> Any:
        if schema is None:
            return None
        key = json.dumps(schema, sort_keys=True)
        if key not in self._grammars:
            self._grammars[key] = self._llama_cpp.LlamaGrammar.from_json_schema(key, verbose=False)
        return self._grammars[key]

    async def complete(self, request: LLMRequest) -> LLMResponse:
        return await asyncio.to_thread(self._complete_blocking, request)

    def _complete_blocking(self, request: LLMRequest) -> LLMResponse:
        params: dict[str, Any] = {
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "seed": request.seed,
        }
        with self._lock:
            llm = self._load()
            params["grammar"] = self._grammar(request.schema)
            if request.is_chat:
                out = llm.create_chat_completion(messages=list(request.messages or ()), **params)
                choice = out["choices"][0]
                text = choice["message"].get("content") or ""
            else:
                out = llm.create_completion(prompt=request.prompt or "", **params)
                choice = out["choices"][0]
                text = choice.get("text") or ""
        usage = out.get("usage") or {}
        return LLMResponse(
            text=text,
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
        )
