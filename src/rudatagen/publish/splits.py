"""Seeded, group-wise train/validation/test splits: a group never straddles two splits.

A group is a RuHNP query (with all its candidates) or a WANLI premise (with all its hypotheses).
Sizes are row counts (``test=2000``) or fractions of all rows (``test=0.05``); every split but
``train`` is filled with whole groups, in seeded random order, until it holds at least its size,
and ``train`` takes the rest. A requested split that ends up empty is an error.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from rudatagen.errors import RudatagenError

SPLIT_NAMES = ("train", "validation", "test")
DEFAULT_SIZES: dict[str, float] = {"validation": 0.05, "test": 0.05}


def parse_sizes(specs: Sequence[str], base: dict[str, float] | None = None) -> dict[str, float]:
    """``["test=2000", "validation=0.05"]`` → ``{"test": 2000.0, "validation": 0.05}``.

    A value below 1 is a fraction of all rows, 1 or more a row count; ``0`` drops the split.
    A split not named keeps its size in ``base`` (the recipe's; else :data:`DEFAULT_SIZES`).
    """
    sizes: dict[str, float] = dict(DEFAULT_SIZES if base is None else base)
    for spec in specs:
        name, sep, value = spec.partition("=")
        name = name.strip()
        if not sep or name not in SPLIT_NAMES or name == "train":
            raise RudatagenError(
                f"--split {spec!r}: expected validation=SIZE or test=SIZE "
                "(a count, or a fraction below 1; train takes the rest)"
            )
        try:
            number = float(value)
        except ValueError:
            raise RudatagenError(f"--split {spec!r}: {value!r} is not a number") from None
        if number < 0 or (number >= 1 and number != int(number)):
            raise RudatagenError(f"--split {spec!r}: use a fraction in [0, 1) or a whole count")
        sizes[name] = number
    return sizes


def split_by_group(
    groups: Sequence[str], sizes: dict[str, float], seed: int = 0
) -> dict[str, list[int]]:
    """Row indices per split (``train`` first, then the others in ``SPLIT_NAMES`` order).

    Raises when there are no rows, when the held-out splits would leave ``train`` empty, or when
    a split asked for (size above zero) gets no row.
    """
    total = len(groups)
    if total == 0:
        raise RudatagenError("nothing to split: the input has no rows")
    rows_of: dict[str, list[int]] = {}
    for index, group in enumerate(groups):
        rows_of.setdefault(group, []).append(index)
    order = sorted(rows_of)
    random.Random(seed).shuffle(order)

    targets = {
        name: (round(size * total) if size < 1 else int(size))
        for name, size in sizes.items()
        if size > 0
    }
    if sum(targets.values()) >= total:
        raise RudatagenError(
            f"the held-out splits ask for {sum(targets.values())} of {total} rows: "
            "nothing would be left to train on"
        )
    out: dict[str, list[int]] = {"train": []}
    position = 0
    for name in SPLIT_NAMES[1:]:
        if name not in targets:
            continue
        chosen: list[int] = []
        while len(chosen) < targets[name] and position < len(order):
            chosen.extend(rows_of[order[position]])
            position += 1
        out[name] = sorted(chosen)
    out["train"] = sorted(i for group in order[position:] for i in rows_of[group])
    empty = [name for name, rows in out.items() if not rows]
    if empty:
        raise RudatagenError(
            f"split(s) {', '.join(empty)} would be empty ({total} rows in {len(order)} groups); "
            "use smaller held-out sizes or more data"
        )
    return out
