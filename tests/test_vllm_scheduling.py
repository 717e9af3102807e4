"""Which vLLM feeds the engine continuously: ``LLM.enqueue`` came in vLLM 0.17 and
``LLM.enqueue_chat`` in 0.22 (read from the PyPI wheels); an older ``LLM`` runs in groups, with a
warning that names the missing method and the release to upgrade to. The classes below have the
methods of ``vllm.LLM`` at each of those releases (vLLM itself lives in its own venv, see
``tests/test_vllm.py``)."""

from __future__ import annotations

import pytest

from rudatagen.llm.vllm_backend import continuous_unsupported


class LLM016:  # vLLM 0.16: generate and chat only
    def generate(self) -> None: ...

    def chat(self) -> None: ...


class LLM017(LLM016):  # 0.17 to 0.21: enqueue, not enqueue_chat
    def enqueue(self) -> None: ...


class LLM022(LLM017):  # 0.22 on
    def enqueue_chat(self) -> None: ...


@pytest.mark.parametrize(
    ("llm", "style", "missing"),
    [
        (LLM016, "completion", "enqueue (added in vLLM 0.17)"),
        (LLM016, "chat", "enqueue_chat (added in vLLM 0.22)"),
        (LLM017, "completion", None),
        (LLM017, "chat", "enqueue_chat (added in vLLM 0.22)"),
        (LLM022, "completion", None),
        (LLM022, "chat", None),
    ],
)
def test_continuous_needs_the_queue_method_of_the_prompt_style(
    llm: type, style: str, missing: str | None
) -> None:
    warning = continuous_unsupported(llm, style, "0.x")
    if missing is None:
        assert warning is None
        return
    assert warning is not None and warning.startswith(f"warning: vLLM 0.x has no LLM.{missing}: ")
    assert f"{style} requests go to the engine in groups" in warning
    assert "upgrade to vllm>=0." in warning
