"""Dataset kinds: the one registry, and how a run's kind is known.

Every stage writes its records' kind into its manifest, so nothing downstream guesses it. Only a
foreign table without a manifest (a Parquet file, a Hub dataset) is detected from its columns,
once, at the entry point (:func:`kind_of_table`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from rudatagen.core.manifest import read_manifest
from rudatagen.errors import RudatagenError
from rudatagen.kinds.base import AnnotationSpec, Kind
from rudatagen.kinds.retrieval import Retrieval
from rudatagen.kinds.ruhnp import RuHNP
from rudatagen.kinds.wanli import Wanli

# One line per kind; the order is the detection order for foreign tables.
KINDS: dict[str, Kind] = {kind.name: kind for kind in (RuHNP(), Wanli(), Retrieval())}

__all__ = [
    "KINDS",
    "AnnotationSpec",
    "Kind",
    "get_kind",
    "kind_of_run",
    "kind_of_table",
    "spelled_choices",
]


def spelled_choices(names: Sequence[str]) -> str:
    """``"`ruhnp`, `wanli` or `train`"``: choices for a setting's description, from the registry."""
    quoted = [f"`{name}`" for name in names]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def get_kind(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise RudatagenError(
            f"unknown dataset kind {name!r}; choose one of {', '.join(KINDS)}"
        ) from None


def kind_of_table(columns: Iterable[str], source: str) -> Kind:
    """Detect the kind of a table that has no manifest, from its columns."""
    present = set(columns)
    for kind in KINDS.values():
        if kind.matches(present):
            return kind
    wanted = "; ".join(f"{k.name}: {', '.join(k.reference_columns)}" for k in KINDS.values())
    raise RudatagenError(
        f"{source}: cannot tell the dataset kind from the columns "
        f"({', '.join(sorted(present)) or 'none'}); expected {wanted}"
    )


def kind_of_run(
    run_dir: Path, columns: Iterable[str] | None = None, explicit: str | None = None
) -> Kind:
    """The kind of a run directory: ``explicit`` (a flag), else its manifest, else its columns.

    A flag that contradicts the manifest is an error: the records are what the manifest says.
    """
    manifest = read_manifest(run_dir)
    recorded = manifest.kind if manifest is not None else None
    if explicit is not None and recorded is not None and explicit != recorded:
        raise RudatagenError(
            f"{run_dir} holds {recorded} records (its manifest says so), not {explicit}"
        )
    name = explicit or recorded
    if name:
        return get_kind(name)
    return kind_of_table(_shard_columns(run_dir) if columns is None else columns, str(run_dir))


def _shard_columns(run_dir: Path) -> list[str]:
    shards = sorted((run_dir / "data").glob("*.parquet"))
    if not shards:
        raise RudatagenError(f"--in {run_dir} is not a run directory (no data/*.parquet)")
    try:
        return list(pq.read_schema(shards[0]).names)
    except (pa.ArrowInvalid, OSError) as exc:
        raise RudatagenError(f"unreadable shard {shards[0]}: {str(exc).splitlines()[0]}") from None
