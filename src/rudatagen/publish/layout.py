"""The Hub dataset folder: ``data/{split}-0000K-of-0000N.parquet`` plus ``README.md``.

The card's YAML ``configs`` block maps every split to ``data/{split}-*``, which is what makes
``datasets.load_dataset(folder)`` (and the Hub viewer) find the splits.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq


def shard_name(split: str, index: int, count: int) -> str:
    return f"{split}-{index:05d}-of-{count:05d}.parquet"


def write_splits(
    out: Path, schema: pa.Schema, splits: dict[str, list[dict[str, Any]]], shard_rows: int = 100_000
) -> tuple[dict[str, list[str]], dict[str, int]]:
    """Write every split's rows as Parquet shards under ``out/data``.

    Returns the relative paths per split and the in-memory (Arrow) bytes per split, which the
    card's ``dataset_info`` states as ``num_bytes``.

    An earlier ``data/`` folder in ``out`` is replaced, so a re-publish leaves no stale shard.
    """
    data = out / "data"
    if data.exists():
        shutil.rmtree(data)
    data.mkdir(parents=True)
    written: dict[str, list[str]] = {}
    num_bytes: dict[str, int] = {}
    for split, rows in splits.items():
        count = max(1, math.ceil(len(rows) / shard_rows))
        written[split] = []
        num_bytes[split] = 0
        for index in range(count):
            chunk = rows[index * shard_rows : (index + 1) * shard_rows]
            table = pa.Table.from_pylist(chunk, schema=schema)
            name = shard_name(split, index, count)
            pq.write_table(table, data / name)
            num_bytes[split] += table.nbytes
            written[split].append(f"data/{name}")
    return written, num_bytes


def size_category(rows: int) -> str:
    """The Hub's ``size_categories`` tag for a number of rows."""
    bounds = [
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
        (10_000_000, "1M<n<10M"),
    ]
    for bound, name in bounds:
        if rows < bound:
            return name
    return "10M<n<100M"
