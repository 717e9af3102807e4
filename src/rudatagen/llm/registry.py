"""Pick the backend a recipe names. Heavy imports happen only for the chosen one."""

from __future__ import annotations

from rudatagen.config import LLMSettings
from rudatagen.llm.types import LLMBackend


def make_backend(settings: LLMSettings) -> LLMBackend:
    if settings.backend == "openai":
        from rudatagen.llm.openai_backend import OpenAIBackend

        return OpenAIBackend(settings)
    if settings.backend == "llamacpp":
        from rudatagen.llm.llamacpp_backend import LlamaCppBackend

        return LlamaCppBackend(settings)
    from rudatagen.llm.vllm_backend import VLLMBackend

    return VLLMBackend(settings)
