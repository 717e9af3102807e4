"""Fine-tune a sentence-transformers ``CrossEncoder``: the one training run behind
``train-cross-encoder`` (``training/cross_encoder.py``) and cartography (``nli/cartography.py``).

What both share is built here from a :class:`FitSettings`: a new classification head on the base
encoder (initialised after ``set_seed``), the loss (no label names: one logit and
``BinaryCrossEntropyLoss`` on 0/1; label names: one logit per name, ``CrossEntropyLoss`` on
class ids and the names saved as ``id2label``), the ``sentence1``/``sentence2``/``label``
dataset, ``CrossEncoderTrainingArguments`` that log and save nothing (the trainer's own
output folder is a temporary one, removed afterwards) and the ``CrossEncoderTrainer``. Callers
add callbacks (cartography records logits and saves a checkpoint after every epoch) and save the
model with :func:`save_cross_encoder`.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rudatagen.encoders import load_cross_encoder
from rudatagen.errors import MissingDependencyError

CallbackFactory = Callable[[Any], Sequence[Any]]  # the model → TrainerCallbacks


@dataclass(frozen=True)
class FitSettings:
    """How to train: the base encoder and the trainer's settings."""

    base_model: str
    epochs: float
    batch_size: int
    learning_rate: float
    warmup_ratio: float  # share of the steps spent warming up
    max_length: int | None
    seed: int
    device: str | None = None  # None: a GPU when torch sees one


def fit_cross_encoder(
    pairs: Sequence[tuple[str, str]],
    targets: Sequence[int],
    settings: FitSettings,
    *,
    labels: Sequence[str] | None = None,
    callbacks: CallbackFactory | None = None,
    show_progress: bool = False,
    purpose: str = "Training",
) -> tuple[Any, float]:
    """Train a new cross-encoder on ``pairs`` with class ids ``targets``; the model and the
    seconds spent in the trainer (model loading excluded).

    ``labels`` names the classes (one logit each); None trains one logit on 0/1 targets.
    ``callbacks`` receives the model and returns ``TrainerCallback``s for the trainer.
    ``purpose`` names the caller in the error when sentence-transformers is missing.
    """
    try:
        from datasets import Dataset
        from sentence_transformers.cross_encoder import (
            CrossEncoderTrainer,
            CrossEncoderTrainingArguments,
        )
        from sentence_transformers.cross_encoder.losses import (
            BinaryCrossEntropyLoss,
            CrossEntropyLoss,
        )
        from transformers import set_seed
    except ImportError as exc:
        raise MissingDependencyError("sentence-transformers", "train", purpose) from exc

    set_seed(settings.seed)  # the new head's initial weights
    num_labels = len(labels) if labels is not None else 1
    model = load_cross_encoder(
        settings.base_model, settings.device, settings.max_length, num_labels=num_labels
    )
    if labels is not None:
        model.config.id2label = dict(enumerate(labels))
        model.config.label2id = {name: i for i, name in enumerate(labels)}
        loss = CrossEntropyLoss(model)
    else:
        loss = BinaryCrossEntropyLoss(model)
    dataset = Dataset.from_dict(
        {
            "sentence1": [str(first) for first, _ in pairs],
            "sentence2": [str(second) for _, second in pairs],
            "label": [int(t) for t in targets]
            if labels is not None
            else [float(t) for t in targets],
        }
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="rudatagen-ce-") as scratch:
        args = CrossEncoderTrainingArguments(
            output_dir=scratch,
            num_train_epochs=settings.epochs,
            per_device_train_batch_size=settings.batch_size,
            learning_rate=settings.learning_rate,
            warmup_steps=settings.warmup_ratio,  # a float below 1 is a share of the steps
            seed=settings.seed,
            save_strategy="no",
            logging_strategy="no",
            report_to="none",
            disable_tqdm=not show_progress,
            dataloader_pin_memory=model.device.type == "cuda",
            use_cpu=model.device.type == "cpu",
        )
        trainer = CrossEncoderTrainer(
            model=model,
            args=args,
            train_dataset=dataset,
            loss=loss,
            callbacks=list(callbacks(model)) if callbacks is not None else None,
        )
        trainer.train()
    return model, time.perf_counter() - started


def save_cross_encoder(model: Any, out: Path) -> Path:
    """Save ``model`` into ``out`` (created) so that ``CrossEncoder(out)`` loads it."""
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    return out
