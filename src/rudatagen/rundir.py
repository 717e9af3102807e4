"""Reading a run directory's records: ``data/*.parquet`` of any stage, as one table.

Generation, filter, WANLI and review outputs all keep their records there; every stage that
reads another's output goes through :func:`read_run_table`, so the errors read the same.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from rudatagen.errors import RudatagenError


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
        missing = [c for c in required if c not in table.column_names]
        if missing:
            raise RudatagenError(
                f"{shard} lacks column(s) {', '.join(missing)} "
                f"(has {', '.join(table.column_names)}){hint}"
            )
        tables.append(table)
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise RudatagenError(f"{run_dir}: shards disagree on their columns: {exc}") from None
