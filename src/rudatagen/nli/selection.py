"""From a cartography directory to prompt groups: fingerprint check, ambiguous seeds, neighbours."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from rudatagen.encoders import load_cross_encoder
from rudatagen.errors import RudatagenError
from rudatagen.nli import datamap
from rudatagen.nli.cartography import METRICS_FILE, checkpoint_dirs, read_cartography_manifest
from rudatagen.nli.neighbours import cls_embeddings, nearest_neighbours
from rudatagen.nli.seeds import Seed, check_size, fingerprint, read_seeds
from rudatagen.nli.settings import WanliSettings
from rudatagen.nli.wanli import SeedPrompt


@dataclass
class SelectionReport:
    seed_path: str
    seeds: int
    ambiguous: dict[str, int] = field(default_factory=dict)
    skipped_too_few_neighbours: dict[str, int] = field(default_factory=dict)
    over_limit: int = 0
    groups: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "seed_data": self.seed_path,
            "seeds": self.seeds,
            "ambiguous": self.ambiguous,
            "skipped_too_few_neighbours": self.skipped_too_few_neighbours,
            "over_limit": self.over_limit,
            "prompts": self.groups,
        }

    def summary(self) -> str:
        amb = ", ".join(f"{k} {v}" for k, v in self.ambiguous.items())
        line = f"{self.seeds} seeds, ambiguous: {amb}; {self.groups} prompts"
        skipped = sum(self.skipped_too_few_neighbours.values())
        if skipped:
            line += f"; {skipped} skipped (too few neighbours)"
        if self.over_limit:
            line += f"; {self.over_limit} over the limit"
        return line


def load_checked_seeds(
    wanli: WanliSettings, cartography: Path, seed_path: Path | None
) -> tuple[list[Seed], Path, dict[str, Any]]:
    """The recipe's seed set, checked against the fingerprint the cartography run recorded."""
    manifest = read_cartography_manifest(cartography)
    path = seed_path or wanli.seeds.path or Path(manifest["seed_data"])
    seeds = read_seeds(path, wanli.seeds)
    ours = fingerprint(seeds, wanli.seeds.labels)
    if ours != manifest.get("seed_fingerprint"):
        raise RudatagenError(
            f"{cartography} was made from a different seed set (fingerprint "
            f"{manifest.get('seed_fingerprint')}, but {path} with this recipe's mapping gives "
            f"{ours}): run `rudatagen cartography` on this seed set first"
        )
    return seeds, path, manifest


def _interleave(indices: list[int], labels: list[str], variabilities: np.ndarray) -> list[int]:
    """Most ambiguous first, taking labels in turn, so a limit keeps the labels balanced."""
    queues: dict[str, list[int]] = {}
    for i in sorted(indices, key=lambda i: -variabilities[i]):
        queues.setdefault(labels[i], []).append(i)
    order = []
    while any(queues.values()):
        for label in sorted(queues):
            if queues[label]:
                order.append(queues[label].pop(0))
    return order


def select_groups(
    wanli: WanliSettings, cartography: Path, seeds: list[Seed], seed_path: Path
) -> tuple[list[SeedPrompt], SelectionReport]:
    """Ambiguous seeds (per-label variability quantile) and their same-label neighbours."""
    selection = wanli.selection
    labels = wanli.seeds.labels
    check_size(seeds, labels, selection.quantile, selection.k)
    metrics = pq.read_table(cartography / METRICS_FILE, columns=["guid", "variability"])
    by_guid = dict(
        zip(
            metrics.column("guid").to_pylist(),
            metrics.column("variability").to_pylist(),
            strict=True,
        )
    )
    variabilities = np.array([by_guid[s.guid] for s in seeds])
    seed_labels = [s.label for s in seeds]
    mask = datamap.ambiguous_mask(variabilities, np.asarray(seed_labels), selection.quantile)
    ambiguous = [i for i in range(len(seeds)) if mask[i]]
    report = SelectionReport(str(seed_path), len(seeds))
    counts = Counter(seeds[i].label for i in ambiguous)
    report.ambiguous = {label: counts[label] for label in labels}

    checkpoints = checkpoint_dirs(cartography)
    if not checkpoints:
        raise RudatagenError(f"no checkpoints under {cartography}/checkpoints")
    carto = wanli.cartography
    model = load_cross_encoder(str(checkpoints[-1]), carto.device, carto.max_length)
    pairs = [(seeds[i].premise, seeds[i].hypothesis) for i in ambiguous]
    embeddings = cls_embeddings(model, pairs, selection.embed_batch_size)
    found = nearest_neighbours(embeddings, [seeds[i].label for i in ambiguous], selection.k)
    report.skipped_too_few_neighbours = dict(found.skipped_too_few)

    order = _interleave([ambiguous[g.seed] for g in found.groups], seed_labels, variabilities)
    by_seed = {ambiguous[g.seed]: g for g in found.groups}
    if selection.max_seeds is not None and len(order) > selection.max_seeds:
        report.over_limit = len(order) - selection.max_seeds
        order = order[: selection.max_seeds]
    groups = [
        SeedPrompt(seeds[i], [seeds[ambiguous[n]] for n in by_seed[i].neighbours]) for i in order
    ]
    report.groups = len(groups)
    return groups, report
