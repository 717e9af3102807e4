"""What pairs a trained model saw, so that calibration can tell when it is scored on them.

A model scored on its own training pairs looks better than it is: a threshold calibrated there is
optimistic. ``train-cross-encoder`` and ``train`` therefore keep, next to the model, the set of
pairs they trained on, and ``calibrate`` compares its pairs with that set.

The record is a set of pair hashes, not a hash of the input file, because the same pairs reach
calibration in other ways: another file format or path, a subset, another column order, a
shuffled copy, or (for ``train``) a generated dataset whose triplets hold the calibration pairs.
A pair is hashed in the form the lexical filter compares texts (``loose_text``: normalised,
casefolded, ё → е, punctuation and spacing folded), with its two texts sorted, so "the same
pair" survives typography and swapped sides; labels are left out (seeing a pair is what counts).
Each hash is 64 bits of BLAKE2b (a collision among a million pairs has odds of about 1 in 10⁷);
the set is stored sorted as ``seen_pairs.npy`` (8 bytes a pair) and described in
``training.json`` under ``seen_pairs``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rudatagen.core.manifest import read_json

SEEN_PAIRS_FILE = "seen_pairs.npy"
RECORD_FILE = "training.json"
FORM = "loose_text of both texts, sorted; 64-bit BLAKE2b"


def pair_hash(first: str, second: str) -> int:
    """The hash of one pair in its comparison form (see the module docstring)."""
    from rudatagen.filters.russian import loose_text

    a, b = sorted((loose_text(first), loose_text(second)))
    digest = hashlib.blake2b(f"{a}\x00{b}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def pair_hashes(firsts: Iterable[str], seconds: Iterable[str]) -> np.ndarray:
    """The distinct hashes of the pairs, sorted (uint64)."""
    distinct = dict.fromkeys(zip(firsts, seconds, strict=True))  # triplets repeat their pairs
    values = [pair_hash(a, b) for a, b in distinct]
    return np.unique(np.asarray(values, dtype=np.uint64))


def write_seen_pairs(model_dir: Path, hashes: np.ndarray) -> dict[str, Any]:
    """Save the hash set next to the model; returns the ``seen_pairs`` entry of training.json."""
    hashes = np.unique(np.asarray(hashes, dtype=np.uint64))
    np.save(model_dir / SEEN_PAIRS_FILE, hashes, allow_pickle=False)
    return {
        "file": SEEN_PAIRS_FILE,
        "pairs": len(hashes),
        "form": FORM,
        "digest": hashlib.sha256(hashes.tobytes()).hexdigest()[:16],
    }


def triplet_pairs(columns: dict[str, Sequence[Any]]) -> tuple[list[str], list[str]]:
    """The text pairs a training table holds: (anchor, positive) and (anchor, negative…) of
    triplets and n-tuples (``negative_1..n``); (sentence1, sentence2) of scored pairs."""
    if "anchor" in columns:
        others = [name for name in columns if name != "anchor"]
        firsts = [str(a) for name in others for a in columns["anchor"]]
        seconds = [str(b) for name in others for b in columns[name]]
        return firsts, seconds
    return [str(a) for a in columns["sentence1"]], [str(b) for b in columns["sentence2"]]


@dataclass
class TrainingOverlap:
    """How many calibration pairs the scorer model was trained on (``known`` False: the model
    has a training record without a pair set, e.g. trained before it was kept)."""

    record: str
    known: bool
    inputs: list[str]
    trained_pairs: int | None = None
    calibration_pairs: int = 0
    overlap: int | None = None

    @property
    def share(self) -> float | None:
        if self.overlap is None or not self.calibration_pairs:
            return None
        return self.overlap / self.calibration_pairs

    def as_dict(self) -> dict[str, Any]:
        share = self.share
        return {
            "record": self.record,
            "known": self.known,
            "inputs": self.inputs,
            "trained_pairs": self.trained_pairs,
            "calibration_pairs": self.calibration_pairs,
            "overlap": self.overlap,
            "share": round(share, 4) if share is not None else None,
        }

    def warning(self) -> str | None:
        """The line a user must see, or None when the model saw none of the pairs."""
        if not self.known:
            return (
                f"warning: {self.record} does not say which pairs the model was trained on; "
                "if it saw these pairs, the precision here is optimistic"
            )
        if not self.overlap:
            return None
        return (
            f"warning: the scorer model was trained on {self.overlap} of the "
            f"{self.calibration_pairs} calibration pairs ({self.share:.1%}; record {self.record}): "
            "precision and recall here are optimistic; calibrate on pairs it did not see"
        )


def _input_paths(record: dict[str, Any]) -> list[str]:
    inputs = record.get("inputs") or []
    return [str(i.get("path", i)) if isinstance(i, dict) else str(i) for i in inputs]


def training_overlap(
    model: str | None, firsts: Sequence[str], seconds: Sequence[str]
) -> TrainingOverlap | None:
    """Compare the pairs with the training record of ``model`` (a local folder); None when the
    model is not a local folder with a ``training.json`` (a Hub model: nothing is known)."""
    if not model:
        return None
    folder = Path(model).expanduser()
    record_path = folder / RECORD_FILE
    if not record_path.is_file():
        return None
    record = read_json(record_path) or {}  # not an object: nothing known of its pairs
    seen = record.get("seen_pairs")
    inputs = _input_paths(record)
    hashes_path = folder / str((seen or {}).get("file", SEEN_PAIRS_FILE))
    if not seen or not hashes_path.is_file():
        return TrainingOverlap(str(record_path), False, inputs, calibration_pairs=len(firsts))
    trained = np.load(hashes_path, allow_pickle=False)
    mine = np.asarray([pair_hash(a, b) for a, b in zip(firsts, seconds, strict=True)], np.uint64)
    overlap = int(np.isin(mine, trained).sum())
    return TrainingOverlap(str(record_path), True, inputs, len(trained), len(mine), overlap)
