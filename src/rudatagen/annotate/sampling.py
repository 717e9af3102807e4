"""Seeded, prefix-stable sampling: the sample of 500 contains the sample of 100 (same seed).

Each strategy puts all items in one order and the sample is its first ``n`` items:

- ``random``: by a seeded hash of the item key;
- ``stratified``: by intended label, one label after the other in turn (round robin over the
  labels in sorted order), each label's items in seeded-hash order, so the strata stay balanced
  until a label runs out;
- ``uncertain``: by distance to the filter thresholds (nearest first), ties by the seeded hash.
  It needs scores: a run without ``candidates.parquet`` (RuHNP) or ``max_variability`` (WANLI)
  is refused with a one-line error.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from itertools import zip_longest
from typing import Literal

from rudatagen.annotate.items import Item, RunItems
from rudatagen.errors import RudatagenError
from rudatagen.kinds import get_kind

Strategy = Literal["random", "stratified", "uncertain"]
STRATEGIES = ("random", "stratified", "uncertain")


def seeded_hash(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}\x00{key}".encode()).hexdigest()


def order(run: RunItems, strategy: str, seed: int) -> list[Item]:
    """All items in the strategy's order (sample = a prefix)."""
    by_hash = sorted(run.items, key=lambda item: seeded_hash(seed, item.key))
    if strategy == "random":
        return by_hash
    if strategy == "stratified":
        strata: dict[str, list[Item]] = defaultdict(list)
        for item in by_hash:
            strata[item.intended].append(item)
        merged = zip_longest(*(strata[label] for label in sorted(strata)))
        return [item for group in merged for item in group if item is not None]
    if strategy == "uncertain":
        if not run.has_scores:
            what = get_kind(run.task).annotation.scores_from
            raise RudatagenError(
                f"--strategy uncertain needs filter scores ({what}); this run has none: "
                f"use --strategy random or stratified"
            )
        inf = float("inf")
        return sorted(by_hash, key=lambda i: inf if i.distance is None else i.distance)
    raise RudatagenError(f"unknown --strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")


def sample(run: RunItems, strategy: str, seed: int, size: int | None) -> list[Item]:
    if size is not None and size < 1:
        raise RudatagenError(f"--sample must be at least 1, got {size}")
    ordered = order(run, strategy, seed)
    return ordered if size is None else ordered[:size]
