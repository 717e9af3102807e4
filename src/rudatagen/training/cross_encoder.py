"""Train a cross-encoder for the ``cross_encoder`` filter with sentence-transformers' trainer.

``kind="paraphrase"``: one logit trained with ``BinaryCrossEntropyLoss`` on 1/0 labels; use it with
``kind: paraphrase``. ``kind="nli"``: three logits trained with ``CrossEntropyLoss`` on
``NLI_LABELS`` (names or their indices), saved with that ``id2label``; use it with ``kind: nli``.
A seeded ``eval_fraction`` of the pairs is held out and scored with
``CrossEncoderClassificationEvaluator``; ``training.json`` next to the model keeps the data size,
the settings, those metrics, the inputs and the set of pairs trained on (``seen_pairs``, see
``training.seen_pairs``: calibration warns when it is scored on them).
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from rudatagen.errors import RudatagenError
from rudatagen.training.cross_encoder_fit import FitSettings, fit_cross_encoder, save_cross_encoder
from rudatagen.training.seen_pairs import pair_hashes, write_seen_pairs

NLI_LABELS = ("entailment", "neutral", "contradiction")
Pair = tuple[str, str, int | str]


@dataclass
class TrainingReport:
    """What ``training.json`` holds."""

    out_dir: str
    base_model: str
    kind: str
    train_pairs: int
    eval_pairs: int
    label_counts: dict[str, int]
    settings: dict[str, Any]
    metrics: dict[str, float]
    seconds: float
    inputs: list[str] = field(default_factory=list)
    seen_pairs: dict[str, Any] = field(default_factory=dict)


def _label_ids(pairs: Sequence[Pair], kind: str) -> list[int]:
    """Labels as class ids: 0/1 for paraphrase, indices into ``NLI_LABELS`` for NLI."""
    names = ("0", "1") if kind == "paraphrase" else NLI_LABELS
    ids = []
    for _, _, label in pairs:
        key = str(int(label)) if isinstance(label, (bool, int, float)) else str(label).lower()
        if key in names:
            ids.append(names.index(key))
        elif kind == "nli" and key.isdigit() and int(key) < len(names):
            ids.append(int(key))
        else:
            raise RudatagenError(
                f"label {label!r} is not one of {', '.join(names)} (kind {kind} training)"
            )
    return ids


def _held_out_metrics(
    model: Any, pairs: Sequence[Pair], labels: list[int], rows: list[int], batch_size: int
) -> dict[str, float]:
    """``CrossEncoderClassificationEvaluator`` on the held-out rows: accuracy, F1 and average
    precision for one logit; macro/micro/weighted F1 for NLI (micro F1 is the accuracy)."""
    from sentence_transformers.cross_encoder.evaluation import CrossEncoderClassificationEvaluator

    evaluator = CrossEncoderClassificationEvaluator(
        sentence_pairs=[[str(pairs[i][0]), str(pairs[i][1])] for i in rows],
        labels=[labels[i] for i in rows],
        name="held_out",
        batch_size=batch_size,
        write_csv=False,
    )
    return {key: float(value) for key, value in evaluator(model).items()}


def train_cross_encoder(
    pairs: Sequence[Pair],
    base_model: str,
    out_dir: str | Path,
    kind: Literal["paraphrase", "nli"] = "paraphrase",
    epochs: float = 1.0,
    batch_size: int = 16,
    learning_rate: float = 5e-5,
    max_length: int | None = 128,
    seed: int = 42,
    eval_fraction: float = 0.1,
    device: str | None = None,
    inputs: Sequence[str] = (),
) -> TrainingReport:
    """Fine-tune ``base_model`` (any encoder; a new head is added) on ``(text_1, text_2, label)``.

    The model is saved to ``out_dir`` so that ``CrossEncoder(out_dir)`` loads it; the training
    itself is ``training.cross_encoder_fit.fit_cross_encoder``. ``inputs`` (the files the pairs
    came from) are recorded in ``training.json``, with the pairs trained on (not the held-out ones).
    """
    if not 0 <= eval_fraction < 1:
        raise RudatagenError(f"eval_fraction must be in [0, 1), got {eval_fraction}")
    labels = _label_ids(pairs, kind)
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    n_eval = round(len(order) * eval_fraction)
    eval_rows, train_rows = order[:n_eval], order[n_eval:]
    if not train_rows:
        raise RudatagenError(f"no pairs left to train on ({len(pairs)} pairs given)")

    started = time.perf_counter()
    fit = FitSettings(
        base_model=base_model,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        warmup_ratio=0.1,
        max_length=max_length,
        seed=seed,
        device=device,
    )
    model, _ = fit_cross_encoder(
        [(str(pairs[i][0]), str(pairs[i][1])) for i in train_rows],
        [labels[i] for i in train_rows],
        fit,
        labels=NLI_LABELS if kind == "nli" else None,
    )
    metrics = _held_out_metrics(model, pairs, labels, eval_rows, batch_size) if eval_rows else {}
    out = save_cross_encoder(model, Path(out_dir))
    names = ("non_paraphrase", "paraphrase") if kind == "paraphrase" else NLI_LABELS
    report = TrainingReport(
        out_dir=str(out),
        base_model=str(base_model),
        kind=kind,
        train_pairs=len(train_rows),
        eval_pairs=len(eval_rows),
        label_counts={names[k]: v for k, v in sorted(Counter(labels).items())},
        settings={
            "epochs": epochs,
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "max_length": max_length,
            "seed": seed,
            "eval_fraction": eval_fraction,
        },
        metrics=metrics,
        seconds=round(time.perf_counter() - started, 2),
        inputs=[str(source) for source in inputs],
        seen_pairs=write_seen_pairs(
            out,
            pair_hashes(
                (str(pairs[i][0]) for i in train_rows), (str(pairs[i][1]) for i in train_rows)
            ),
        ),
    )
    (out / "training.json").write_text(json.dumps(asdict(report), indent=2) + "\n")
    return report
