"""Load sentence-transformers encoders: bi-encoders and cross-encoders, for every stage.

The model-based filters, calibration, cartography and seed selection, encoder and cross-encoder
training and evaluation all load their models here. sentence-transformers (and torch) are
imported only when a model is loaded, so the rest of rudatagen works without them. Every failure
becomes a one-line ``RudatagenError`` that names the model: a missing folder, an unknown Hub name
while offline, a folder that holds no model.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from rudatagen.errors import MissingDependencyError, RudatagenError


def _sentence_transformers(purpose: str) -> Any:
    try:
        import sentence_transformers
    except ImportError as exc:
        raise MissingDependencyError("sentence-transformers", "train", purpose) from exc
    return sentence_transformers


def resolve_device(device: str | None) -> str:
    """``device`` as given, or ``"cuda"`` when torch sees a GPU, else ``"cpu"``."""
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


def _load_error(kind: str, name_or_path: str, exc: BaseException) -> RudatagenError:
    """One line: what could not be loaded, and the most likely reason."""
    offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
    looks_like_path = name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1
    if Path(name_or_path).expanduser().exists():
        why = _first_line(exc)
    elif looks_like_path:
        why = "no such folder"
    elif offline:
        why = "not a local folder and not in the Hugging Face cache (HF_HUB_OFFLINE is set)"
    else:
        why = _first_line(exc)
    return RudatagenError(f"cannot load {kind} model '{name_or_path}': {why}")


def load_sentence_transformer(
    name_or_path: str, device: str | None = None, max_seq_length: int | None = None
) -> Any:
    """A ``SentenceTransformer`` (a local folder or a Hub name), in eval mode on ``device``.

    ``max_seq_length`` overrides the model's own limit when given (inputs are truncated to it).
    """
    st = _sentence_transformers("The bi-encoder filter")
    try:
        model = st.SentenceTransformer(str(name_or_path), device=resolve_device(device))
    except Exception as exc:  # noqa: BLE001 - any loading failure becomes one line naming the model
        raise _load_error("sentence-transformers", str(name_or_path), exc) from None
    if max_seq_length is not None:
        model.max_seq_length = max_seq_length
    model.eval()
    return model


def load_cross_encoder(
    name_or_path: str,
    device: str | None = None,
    max_length: int | None = None,
    num_labels: int | None = None,
) -> Any:
    """A sentence-transformers ``CrossEncoder`` (a local folder or a Hub name) on ``device``.

    ``num_labels`` is only for building a new classification head on a plain encoder (training);
    a trained cross-encoder keeps the labels it was saved with when it is None.
    """
    st = _sentence_transformers("The cross-encoder filter")
    try:
        model = st.CrossEncoder(
            str(name_or_path),
            device=resolve_device(device),
            max_length=max_length,
            num_labels=num_labels,
        )
    except Exception as exc:  # noqa: BLE001 - any loading failure becomes one line naming the model
        raise _load_error("cross-encoder", str(name_or_path), exc) from None
    model.eval()
    return model
