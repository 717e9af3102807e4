"""The LLM backends, registered in one place: name → (settings model, ``"module:Class"``).

``BACKENDS`` builds both the ``llm:`` section's discriminated union (:data:`AnyLLMSettings`, on
``backend``) and the backend itself (:func:`make_backend`). A backend's module is imported only
when a recipe chooses it, so a missing optional package (vllm, llama-cpp-python) matters only
then. Adding a backend: its module, its settings model (``llm/settings.py``) and one line here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import Field, ValidationError, WrapValidator
from pydantic_core import InitErrorDetails, PydanticCustomError

from rudatagen.llm.settings import LlamaCppSettings, LLMSettings, OpenAISettings, VLLMSettings

if TYPE_CHECKING:
    from pydantic import ValidatorFunctionWrapHandler

    from rudatagen.llm.types import LLMBackend


@dataclass(frozen=True)
class BackendEntry:
    """A backend's settings model and where its class lives (imported on first use)."""

    settings: type[LLMSettings]
    target: str  # "package.module:Class"; the class is built with its settings


BACKENDS: dict[str, BackendEntry] = {
    "openai": BackendEntry(OpenAISettings, "rudatagen.llm.openai_backend:OpenAIBackend"),
    "llamacpp": BackendEntry(LlamaCppSettings, "rudatagen.llm.llamacpp_backend:LlamaCppBackend"),
    "vllm": BackendEntry(VLLMSettings, "rudatagen.llm.vllm_backend:VLLMBackend"),
}
DEFAULT_BACKEND = "llamacpp"
"""What answers when a recipe names no backend: the embedded demo model."""


def default_llm_settings() -> LLMSettings:
    """The ``llm:`` section of a recipe that has none."""
    return BACKENDS[DEFAULT_BACKEND].settings()


def _owners(key: str) -> list[str]:
    return [name for name, entry in BACKENDS.items() if key in entry.settings.model_fields]


def _validate_variant(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """Pick the variant ``backend`` names (default: :data:`DEFAULT_BACKEND`) and validate.

    Errors read as if ``llm`` were one model: ``llm.temperature``, not pydantic's
    ``llm.llamacpp.temperature``. A key that belongs to another backend is named as such
    (``llm.base_url: a key of backend 'openai' only (llm.backend is 'llamacpp')``).
    """
    if not isinstance(value, dict):
        return handler(value)
    name = value.get("backend", DEFAULT_BACKEND)
    if not isinstance(name, str) or name not in BACKENDS:
        known = ", ".join(BACKENDS)
        raise _errors([_error(("backend",), name, f"'{name}' is not a backend (one of {known})")])
    own = BACKENDS[name].settings.model_fields
    problems: list[InitErrorDetails] = []
    data = {"backend": name}
    for key, item in value.items():
        owners = [] if key in own else _owners(key)
        if owners:
            where = " or ".join(f"'{o}'" for o in owners)
            message = f"a key of backend {where} only (llm.backend is '{name}')"
            problems.append(_error((key,), item, message))
        else:  # its own keys, and unknown ones (pydantic names those)
            data[key] = item
    try:
        result = handler(data)
    except ValidationError as exc:
        for err in exc.errors():  # the same error, its type and message kept, without the tag
            loc = err["loc"][1:] if err["loc"][:1] == (name,) else err["loc"]
            kind = PydanticCustomError(err["type"], err["msg"])
            problems.append(InitErrorDetails(type=kind, loc=loc, input=err["input"]))
    if problems:
        raise _errors(problems)
    return result


def _error(loc: tuple[str, ...], value: Any, message: str) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError("llm_backend", message), loc=loc, input=value)


def _errors(problems: list[InitErrorDetails]) -> ValidationError:
    return ValidationError.from_exception_data("llm", problems)


if TYPE_CHECKING:
    AnyLLMSettings = LLMSettings
else:
    AnyLLMSettings = Annotated[
        Union[tuple(entry.settings for entry in BACKENDS.values())],  # noqa: UP007
        Field(discriminator="backend"),
        WrapValidator(_validate_variant),
    ]
"""The ``llm:`` section's type: the settings model of the backend it names."""


def make_backend(settings: LLMSettings) -> LLMBackend:
    """The backend ``settings.backend`` names, built from its settings (its module loaded now)."""
    module_name, _, class_name = BACKENDS[settings.backend].target.partition(":")
    backend_cls = getattr(importlib.import_module(module_name), class_name)
    backend: LLMBackend = backend_cls(settings)
    return backend
