"""The run directory: records in ``data/*.parquet``, side files, ``manifest.json``.

Every stage reads another's records through :func:`read_run_table` and checks them with
:func:`require_columns` and :func:`require_other_output` (so the errors read the same), and writes
its own through :func:`prepare_output`, :func:`write_records` and
:func:`write_funnel`; every write is atomic. The manifest lives in ``core/manifest.py``; the
resumable, sharded writer of generation runs in ``core/store.py``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from rudatagen.core.funnel import Funnel
from rudatagen.core.manifest import write_json_atomic
from rudatagen.errors import RudatagenError

DATA_DIR = "data"


def read_run_table(run_dir: Path, required: tuple[str, ...] = (), *, hint: str = "") -> pa.Table:
    """All shards of ``run_dir/data`` (schemas unified); each must have the ``required`` columns.

    ``hint`` is appended to the missing-column error (e.g. "; is --task right?").
    """
    data = run_dir / "data"
    shards = sorted(data.glob("*.parquet")) if data.is_dir() else []
    if not shards:
        raise RudatagenError(f"--in {run_dir} is not a run directory (no data/*.parquet)")
    tables = []
    for shard in shards:
        try:
            table = pq.read_table(shard)
        except (pa.ArrowInvalid, OSError) as exc:
            raise RudatagenError(f"unreadable shard {shard}: {str(exc).splitlines()[0]}") from None
        require_columns(table, required, shard, hint=hint)
        tables.append(table)
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise RudatagenError(f"{run_dir}: shards disagree on their columns: {exc}") from None


def require_columns(
    table: pa.Table, required: Sequence[str], where: Path | str, *, hint: str = ""
) -> None:
    """A one-line error naming what ``where`` (a run or a shard) lacks of ``required`` and what
    it has; ``hint`` is appended."""
    missing = [c for c in required if c not in table.column_names]
    if missing:
        raise RudatagenError(
            f"{where} lacks column(s) {', '.join(missing)} "
            f"(has {', '.join(table.column_names)}){hint}"
        )


def require_other_output(out: Path, inputs: Sequence[Path]) -> None:
    """A stage never writes over a run it reads: checked before any work, and again by
    :func:`prepare_output`."""
    for source in inputs:
        if out.resolve() == source.resolve():
            raise RudatagenError("--out must differ from --in (the input run is left untouched)")


def prepare_output(out: Path, inputs: Sequence[Path] = ()) -> None:
    """Make ``out`` (a directory other than every input) and clear its earlier records.

    Stages that rewrite their whole output (filter, pull, WANLI's filtering) call this; the
    generation store appends instead and resumes (``store.RunStore``).
    """
    if out.exists() and not out.is_dir():
        raise RudatagenError(f"--out {out} exists and is not a directory")
    require_other_output(out, [source for source in inputs if source.exists()])
    out.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out / DATA_DIR, ignore_errors=True)
    (out / DATA_DIR).mkdir()


def write_parquet_atomic(path: Path, table: pa.Table) -> None:
    """Write to a temporary name, fsync, rename: a crash leaves the whole file or none of it."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as handle:
        pq.write_table(table, handle, compression="zstd")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def write_records(out: Path, table: pa.Table, shard: int = 0) -> Path:
    """One records shard, ``out/data/shard-NNNNN.parquet``."""
    path = out / DATA_DIR / f"shard-{shard:05d}.parquet"
    write_parquet_atomic(path, table)
    return path


def write_funnel(out: Path, funnel: Funnel, title: str) -> None:
    """``funnel.json`` and ``funnel.md`` from the one funnel model."""
    write_json_atomic(out / "funnel.json", funnel.to_json())
    (out / "funnel.md").write_text(funnel.to_markdown(title), encoding="utf-8")
