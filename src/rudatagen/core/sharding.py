"""``--shard i/N``: which part of the work one process of N does (Slurm arrays, plain machines).

A shard is decided by a stable hash of a key (a source's id; a record's group: RuHNP's query,
a retrieval row's passage): the same key lands in the same shard on every machine and in every
re-run, whatever the order of the input, and the N shards partition the keys exactly (each key
in one shard, none in two). ``hashlib.blake2b`` and not Python's ``hash``, which is salted per
process. Grouping by the kind's group column keeps every row of one passage or query in one
shard, which is what the global steps inside a shard (and the group-wise splits later) need.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from rudatagen.errors import RudatagenError

_SPEC = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (0-based) of ``count``."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise RudatagenError(
                f"--shard {self.index}/{self.count}: the index must be 0 … count-1 "
                f"(e.g. --shard 0/{max(self.count, 2)})"
            )

    @classmethod
    def parse(cls, spec: str | None) -> Shard | None:
        """``"i/N"`` → a shard; None → None. Bad text is a one-line error."""
        if spec is None:
            return None
        match = _SPEC.match(spec)
        if match is None:
            raise RudatagenError(f"--shard {spec!r}: expected INDEX/COUNT, e.g. 0/4")
        return cls(int(match.group(1)), int(match.group(2)))

    def keeps(self, key: Any) -> bool:
        """Whether ``key`` belongs to this shard."""
        return shard_of(key, self.count) == self.index

    def select(self, table: pa.Table, column: str) -> pa.Table:
        """The rows of ``table`` whose ``column`` belongs to this shard (order kept)."""
        if column not in table.column_names:
            raise RudatagenError(f"cannot shard by {column!r}: the records have no such column")
        mask = [self.keeps(value) for value in table.column(column).to_pylist()]
        return table.filter(pa.array(mask, type=pa.bool_()))

    def to_json(self) -> dict[str, int]:
        return {"index": self.index, "count": self.count}

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_of(key: Any, count: int) -> int:
    """The shard of ``key`` among ``count``: a stable 64-bit hash of its text, modulo."""
    digest = hashlib.blake2b(str(key).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count
