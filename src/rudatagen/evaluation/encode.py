"""Cosine similarities of pairs under a model, with the prefixes of each side's role.

Distinct (prefix, text) inputs are encoded once: a query paired with ten candidates costs one
forward pass, not ten.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rudatagen.encoders import load_sentence_transformer

ROLES = ("query", "document", "symmetric")


@dataclass
class Encoder:
    """A loaded model and the prefix for each role."""

    name: str
    model: Any
    prefixes: dict[str, str]
    batch_size: int = 64

    @classmethod
    def load(
        cls,
        name_or_path: str,
        overrides: dict[str, str | None] | None = None,
        device: str | None = None,
        batch_size: int = 64,
        max_seq_length: int | None = None,
    ) -> Encoder:
        """Prefixes: the model's saved prompts (query/document/symmetric), unless overridden."""
        model = load_sentence_transformer(name_or_path, device, max_seq_length)
        saved = getattr(model, "prompts", None) or {}
        prefixes = {role: saved.get(role, "") for role in ROLES}
        for role, value in (overrides or {}).items():
            if value is not None:
                prefixes[role] = value
        return cls(name_or_path, model, prefixes, batch_size)

    def embed(self, texts: list[str], progress: bool = False) -> np.ndarray:
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=progress,
        )
        return np.asarray(vectors, dtype=np.float32)

    def similarities(
        self, sides: list[tuple[list[str], list[str]]], progress: bool = False
    ) -> list[np.ndarray]:
        """For each ``(left inputs, right inputs)`` (already prefixed), the row-wise cosines.

        All inputs of all sides are encoded together, each distinct string once.
        """
        distinct: dict[str, int] = {}
        for left, right in sides:
            for text in (*left, *right):
                distinct.setdefault(text, len(distinct))
        vectors = self.embed(list(distinct), progress) if distinct else np.zeros((0, 1))
        out = []
        for left, right in sides:
            a = vectors[[distinct[t] for t in left]]
            b = vectors[[distinct[t] for t in right]]
            out.append(np.einsum("ij,ij->i", a, b).astype(np.float64))
        return out

    def prefix(self, role: str, texts: list[str]) -> list[str]:
        prefix = self.prefixes.get(role, "")
        return [prefix + t for t in texts] if prefix else list(texts)
