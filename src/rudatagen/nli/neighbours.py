"""Nearest neighbours of ambiguous seeds, by the classifier's own [CLS] embedding.

Each seed pair is embedded with the final cartography checkpoint: the [CLS] vector of the last
hidden layer of the underlying transformers model, L2-normalised. Neighbours are found by cosine
similarity among the ambiguous examples *of the same label*; a prompt holds the ``k`` nearest,
least similar first, and the seed last. Seeds whose label group has fewer than ``k`` other
examples are skipped and counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class SeedGroup:
    """One prompt's examples: ``neighbours`` (ids, least similar first) then the seed."""

    seed: int
    neighbours: list[int]
    similarities: list[float]


@dataclass
class NeighbourReport:
    groups: list[SeedGroup] = field(default_factory=list)
    skipped_too_few: dict[str, int] = field(default_factory=dict)


def cls_embeddings(model: Any, pairs: list[tuple[str, str]], batch_size: int = 64) -> np.ndarray:
    """L2-normalised [CLS] vectors of the last hidden layer for (premise, hypothesis) pairs."""
    import torch

    inner = model.model
    accepted = {"input_ids", "attention_mask", "token_type_ids"}
    vectors = []
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(pairs), batch_size):
            batch = [list(p) for p in pairs[start : start + batch_size]]
            features = model.preprocess(batch)
            inputs = {k: v.to(model.device) for k, v in features.items() if k in accepted}
            hidden = inner(**inputs, output_hidden_states=True).hidden_states[-1][:, 0]
            vectors.append(torch.nn.functional.normalize(hidden.float(), dim=-1).cpu().numpy())
    if not vectors:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(vectors)


def nearest_neighbours(embeddings: np.ndarray, labels: list[str], k: int) -> NeighbourReport:
    """For every row, the ``k`` most cosine-similar rows with the same label (never itself)."""
    report = NeighbourReport()
    label_array = np.asarray(labels)
    for label in sorted(set(labels)):
        members = np.flatnonzero(label_array == label)
        if len(members) < k + 1:
            report.skipped_too_few[label] = len(members)
            continue
        vectors = embeddings[members]
        similarity = vectors @ vectors.T
        np.fill_diagonal(similarity, -np.inf)
        for row, seed in enumerate(members):
            top = np.argsort(-similarity[row], kind="stable")[:k]
            ordered = top[::-1]  # least similar first, so the nearest sits next to the seed
            report.groups.append(
                SeedGroup(
                    seed=int(seed),
                    neighbours=[int(members[i]) for i in ordered],
                    similarities=[float(similarity[row, i]) for i in ordered],
                )
            )
    report.groups.sort(key=lambda g: g.seed)
    return report
