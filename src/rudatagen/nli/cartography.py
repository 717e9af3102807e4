"""Dataset cartography: train a cross-encoder on the seed set and record training dynamics.

Layout of ``OUT/`` (files compatible with allenai/cartography)::

    training_dynamics/dynamics_epoch_{e}.jsonl  {"guid", "logits_epoch_{e}": [...], "gold": int}
    checkpoints/epoch-{e}/                      the classifier after epoch e (a CrossEncoder)
    metrics.parquet                             per example: confidence, variability, ...
    data_map.png                                variability vs confidence, coloured by correctness
    manifest.json                               seed fingerprint, labels, settings, timings

Epochs are numbered from 0, as in allenai/cartography. ``training.cross_encoder_fit`` (the trainer
shared with ``train-cross-encoder``) does the training; a ``TrainerCallback`` predicts over the
whole training set in eval mode at the end of every epoch and saves the checkpoint.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from rudatagen.core.manifest import Manifest, now_iso, read_manifest, write_manifest
from rudatagen.errors import RudatagenError
from rudatagen.nli import datamap
from rudatagen.nli.seeds import Seed, check_size, fingerprint, label_counts
from rudatagen.nli.settings import WanliSettings
from rudatagen.training.cross_encoder_fit import FitSettings, fit_cross_encoder, save_cross_encoder

DYNAMICS_DIR = "training_dynamics"
CHECKPOINTS_DIR = "checkpoints"
METRICS_FILE = "metrics.parquet"
DATA_MAP_FILE = "data_map.png"

EpochHook = Callable[[int, float, float], None]


@dataclass
class CartographyResult:
    out: Path
    examples: int
    epochs: int
    ambiguous: dict[str, int]
    wall_s: float
    train_s: float

    def summary(self) -> str:
        amb = ", ".join(f"{k} {v}" for k, v in self.ambiguous.items())
        return (
            f"{self.examples} examples, {self.epochs} epochs in {self.wall_s:.1f}s "
            f"(training {self.train_s:.1f}s); ambiguous: {amb}"
        )


def dynamics_path(out: Path, epoch: int) -> Path:
    return out / DYNAMICS_DIR / f"dynamics_epoch_{epoch}.jsonl"


def checkpoint_dirs(out: Path) -> list[Path]:
    """Saved checkpoints in epoch order."""
    found = [p for p in (out / CHECKPOINTS_DIR).glob("epoch-*") if p.is_dir()]
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


def read_dynamics(out: Path, guids: list[str]) -> np.ndarray:
    """Logits as (epochs, examples, classes), rows in ``guids`` order."""
    files = sorted(
        (out / DYNAMICS_DIR).glob("dynamics_epoch_*.jsonl"),
        key=lambda p: int(p.stem.rsplit("_", 1)[1]),
    )
    if not files:
        raise RudatagenError(f"no training dynamics under {out / DYNAMICS_DIR}")
    epochs = []
    for path in files:
        epoch = int(path.stem.rsplit("_", 1)[1])
        by_guid = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            by_guid[str(entry["guid"])] = entry[f"logits_epoch_{epoch}"]
        try:
            epochs.append([by_guid[g] for g in guids])
        except KeyError as exc:
            raise RudatagenError(f"{path} has no line for guid {exc.args[0]}") from None
    return np.asarray(epochs, dtype=np.float64)


def _prepare(out: Path, fresh: bool) -> None:
    if out.exists() and not out.is_dir():
        raise RudatagenError(f"--out {out} is a file, not a directory")
    if out.is_dir() and any(out.iterdir()):
        if not fresh:
            raise RudatagenError(f"{out} is not empty: pass --fresh to train again into it")
        for name in (DYNAMICS_DIR, CHECKPOINTS_DIR):
            shutil.rmtree(out / name, ignore_errors=True)
        for name in (METRICS_FILE, DATA_MAP_FILE, "manifest.json"):
            (out / name).unlink(missing_ok=True)
    (out / DYNAMICS_DIR).mkdir(parents=True, exist_ok=True)
    (out / CHECKPOINTS_DIR).mkdir(parents=True, exist_ok=True)


def _recorder(
    model: Any, seeds: list[Seed], out: Path, batch_size: int, on_epoch: EpochHook | None
) -> Any:
    import torch
    from transformers import TrainerCallback

    pairs = [[s.premise, s.hypothesis] for s in seeds]
    gold = np.array([s.label_id for s in seeds])

    class DynamicsRecorder(TrainerCallback):  # type: ignore[misc]
        """At each epoch end: logits over the training set (eval mode), then the checkpoint."""

        def __init__(self) -> None:
            self.epoch = 0
            self.started = time.perf_counter()

        def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            epoch = self.epoch
            self.epoch += 1
            logits = model.predict(
                pairs,
                batch_size=batch_size,
                activation_fn=torch.nn.Identity(),
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            model.train()
            with dynamics_path(out, epoch).open("w", encoding="utf-8") as handle:
                for seed, row in zip(seeds, logits, strict=True):
                    entry = {
                        "guid": seed.guid,
                        f"logits_epoch_{epoch}": [float(x) for x in row],
                        "gold": seed.label_id,
                    }
                    handle.write(json.dumps(entry) + "\n")
            save_cross_encoder(model, out / CHECKPOINTS_DIR / f"epoch-{epoch}")
            if on_epoch is not None:
                accuracy = float((np.asarray(logits).argmax(axis=1) == gold).mean())
                on_epoch(epoch, accuracy, time.perf_counter() - self.started)

    return DynamicsRecorder()


def train_with_dynamics(
    seeds: list[Seed],
    labels: list[str],
    settings: WanliSettings,
    out: Path,
    *,
    show_progress: bool = True,
    on_epoch: EpochHook | None = None,
) -> float:
    """Train the classifier for ``epochs`` epochs, writing dynamics and checkpoints; seconds.

    The training is ``training.cross_encoder_fit.fit_cross_encoder`` (one logit per label) with the
    dynamics recorder as its callback.
    """
    carto = settings.cartography
    fit = FitSettings(
        base_model=carto.model,
        epochs=carto.epochs,
        batch_size=carto.batch_size,
        learning_rate=carto.learning_rate,
        warmup_ratio=carto.warmup_ratio,
        max_length=carto.max_length,
        seed=carto.seed,
        device=carto.device,
    )
    _, seconds = fit_cross_encoder(
        [(s.premise, s.hypothesis) for s in seeds],
        [s.label_id for s in seeds],
        fit,
        labels=labels,
        callbacks=lambda model: [_recorder(model, seeds, out, carto.predict_batch_size, on_epoch)],
        show_progress=show_progress,
        purpose="Cartography",
    )
    return seconds


def metrics_table(seeds: list[Seed], logits: np.ndarray, quantile: float) -> pa.Table:
    """Per-example cartography metrics from (epochs, examples, classes) logits."""
    probs = datamap.softmax(logits)
    gold = np.array([s.label_id for s in seeds])
    gold_probs = datamap.gold_probabilities(probs, gold)
    variabilities = datamap.variability(gold_probs)
    ambiguous = datamap.ambiguous_mask(variabilities, gold, quantile)
    return pa.table(
        {
            "guid": [s.guid for s in seeds],
            "label": [s.label for s in seeds],
            "premise": [s.premise for s in seeds],
            "hypothesis": [s.hypothesis for s in seeds],
            "confidence": datamap.confidence(gold_probs),
            "variability": variabilities,
            "correctness": datamap.correctness(probs, gold),
            "ambiguous": ambiguous,
        }
    )


def run_cartography(
    seeds: list[Seed],
    settings: WanliSettings,
    out: Path,
    *,
    seed_path: Path,
    recipe: dict[str, Any],
    fresh: bool = False,
    show_progress: bool = True,
    on_epoch: EpochHook | None = None,
) -> CartographyResult:
    """Train, then write metrics, the data map and the manifest into ``out``."""
    labels = settings.seeds.labels
    check_size(seeds, labels, settings.selection.quantile, settings.selection.k)
    _prepare(out, fresh)
    started = time.perf_counter()
    created = now_iso()
    train_s = train_with_dynamics(
        seeds, labels, settings, out, show_progress=show_progress, on_epoch=on_epoch
    )
    logits = read_dynamics(out, [s.guid for s in seeds])
    table = metrics_table(seeds, logits, settings.selection.quantile)
    pq.write_table(table, out / METRICS_FILE)
    datamap.write_data_map(
        out / DATA_MAP_FILE,
        table.column("variability").to_numpy(),
        table.column("confidence").to_numpy(),
        table.column("correctness").to_numpy(),
        title=f"Data map: {len(seeds)} seed examples, {logits.shape[0]} epochs",
    )
    ambiguous_labels = [
        label
        for label, flag in zip(
            table.column("label").to_pylist(), table.column("ambiguous").to_pylist(), strict=True
        )
        if flag
    ]
    ambiguous = {label: ambiguous_labels.count(label) for label in labels}
    wall_s = time.perf_counter() - started
    manifest = Manifest(
        stage="cartography",
        created=created,
        updated=now_iso(),
        recipe=recipe,
        counts={"examples": len(seeds), "ambiguous": ambiguous},
        wall_s=round(wall_s, 3),
        seed_fingerprint=fingerprint(seeds, labels),
        seed_data=str(seed_path.resolve()),
        labels=labels,
        label_counts=label_counts(seeds),
        examples=len(seeds),
        epochs=int(logits.shape[0]),
        checkpoints=[p.name for p in checkpoint_dirs(out)],
        ambiguous=ambiguous,
        settings=settings.model_dump(mode="json"),
        train_s=round(train_s, 3),
    )
    write_manifest(out, manifest)
    return CartographyResult(out, len(seeds), int(logits.shape[0]), ambiguous, wall_s, train_s)


def read_cartography_manifest(directory: Path) -> dict[str, Any]:
    manifest = read_manifest(directory)
    if manifest is None:
        raise RudatagenError(f"not a cartography directory (no manifest.json): {directory}")
    if manifest.stage != "cartography":
        raise RudatagenError(
            f"{directory} is not a cartography directory (stage {manifest.stage!r})"
        )
    return manifest.to_json()
