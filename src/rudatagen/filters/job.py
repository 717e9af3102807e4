"""One ``filter`` invocation: a generation run directory in, a filtered one out, with reports.

``OUT/`` gets ``data/shard-00000.parquet`` (records with their surviving ``pos``/``neg``),
``candidates.parquet`` (every candidate with its scores, kept or not), ``rejects.parquet`` (the
rejected ones with filter and reason; records dropped for too few survivors are there too),
``funnel.json`` / ``funnel.md``, ``histograms/*.png`` and ``manifest.json``.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rudatagen.config import Recipe
from rudatagen.core.manifest import (
    Manifest,
    input_ref,
    read_manifest,
    write_json_atomic,
    write_manifest,
)
from rudatagen.core.rundir import read_run_table
from rudatagen.errors import RudatagenError
from rudatagen.filters.candidates import LABEL_NAMES, NON_PARAPHRASE, PARAPHRASE, CandidateTable
from rudatagen.filters.pipeline import reassemble, run_stages
from rudatagen.filters.registry import build_filters
from rudatagen.filters.reports import funnel_dict, funnel_markdown, write_histograms
from rudatagen.kinds import kind_of_run


@dataclass
class FilterJobResult:
    funnel: dict[str, Any]
    records_in: int
    records_out: int
    out: Path
    seconds: float

    def summary(self) -> str:
        c_in, c_out = self.funnel["candidates_in"], self.funnel["candidates_out"]
        return (
            f"records {self.records_in} → {self.records_out}; candidates "
            + ", ".join(f"{label} {c_in[label]} → {c_out[label]}" for label in c_in)
            + f"; {self.seconds:.1f}s"
        )


def read_run_records(run_dir: Path) -> tuple[pa.Table, Manifest | None]:
    """The records of a generation (or earlier filter) run, and its manifest if any."""
    table = read_run_table(run_dir)
    kind = kind_of_run(run_dir, table.column_names)
    if kind.name != "ruhnp":
        raise RudatagenError(
            f"{run_dir} holds {kind.name} records; `rudatagen filter` filters RuHNP runs "
            "(WANLI candidates are filtered inside `generate wanli`)"
        )
    missing = [c for c in kind.record_columns if c not in table.column_names]
    if missing:
        raise RudatagenError(
            f"{run_dir} lacks column(s) {', '.join(missing)} (has {', '.join(table.column_names)})"
        )
    return table, read_manifest(run_dir)


def _expected_counts(recipe: Recipe, manifest: Manifest | None) -> tuple[int, int]:
    ruhnp = ((manifest.recipe if manifest else None) or {}).get("ruhnp") or {}
    return (
        int(ruhnp.get("n_paraphrases", recipe.ruhnp.n_paraphrases)),
        int(ruhnp.get("n_non_paraphrases", recipe.ruhnp.n_non_paraphrases)),
    )


def run_filter_job(recipe: Recipe, in_dir: Path, out_dir: Path) -> FilterJobResult:
    """Filter ``in_dir`` into ``out_dir`` (replacing an earlier filter output there)."""
    started = time.perf_counter()
    if out_dir.resolve() == in_dir.resolve():
        raise RudatagenError("--out must differ from --in (the input run is left untouched)")
    records_table, in_manifest = read_run_records(in_dir)
    records = records_table.to_pylist()
    filters = build_filters(recipe.filters)  # settings are validated; models load on first use
    table = CandidateTable.from_records(records)
    n_pos, n_neg = _expected_counts(recipe, in_manifest)
    short = sum(1 for r in records if len(r["pos"] or ()) < n_pos or len(r["neg"] or ()) < n_neg)
    empty = sum(1 for r in records if not (r["pos"] or r["neg"]))

    candidates_in = _counts(table, np.ones(len(table), dtype=bool))
    stages = run_stages(table, filters)
    settings = recipe.filters
    rebuilt = reassemble(table, records, settings.min_pos, settings.min_neg)
    dropped_ids = {d["id"] for d in rebuilt.dropped}
    in_dropped = np.fromiter((rid in dropped_ids for rid in table.record_id), bool, len(table))
    dropped_alive = table.alive & in_dropped
    dropped_with_records = _counts(table, dropped_alive)
    for row in np.flatnonzero(dropped_alive).tolist():
        table.alive[row] = False
        table.rejected_by[row] = "min_survivors"
        table.reason[row] = "its record has too few surviving candidates"
    funnel = funnel_dict(
        stages,
        candidates_in=candidates_in,
        dropped_with_records=dropped_with_records,
        candidates_out=_counts(table, table.alive),
        records={
            "in": len(records),
            "out": len(rebuilt.records),
            "dropped": len(rebuilt.dropped),
            "with_fewer_candidates_than_expected": short,
            "with_no_candidates": empty,
        },
    )

    _prepare_out(out_dir)
    _write_records(out_dir, rebuilt.records, records_table.schema)
    candidates = _candidate_table(table)
    pq.write_table(candidates, out_dir / "candidates.parquet", compression="zstd")
    rejected = candidates.filter(pc.invert(candidates.column("kept")))
    pq.write_table(rejected, out_dir / "rejects.parquet", compression="zstd")
    write_json_atomic(out_dir / "funnel.json", funnel)
    (out_dir / "funnel.md").write_text(funnel_markdown(funnel), encoding="utf-8")
    histograms = write_histograms(table, out_dir / "histograms")
    seconds = time.perf_counter() - started
    manifest = Manifest(
        stage="filter",
        kind="ruhnp",
        inputs=[input_ref(in_dir, in_manifest)],
        recipe=recipe.public_dict(),
        counts=funnel["records"]
        | {"candidates_in": candidates_in, "candidates_out": funnel["candidates_out"]},
        wall_s=round(seconds, 3),
        filters=[
            {"name": f.name, "version": f.version, "settings": f.thresholds()} for f in filters
        ],
        histograms=[p.name for p in histograms],
    )
    write_manifest(out_dir, manifest)
    return FilterJobResult(funnel, len(records), len(rebuilt.records), out_dir, seconds)


def _counts(table: CandidateTable, mask: np.ndarray) -> dict[str, int]:
    return {
        LABEL_NAMES[value]: int(np.count_nonzero(mask & (table.label == value)))
        for value in (PARAPHRASE, NON_PARAPHRASE)
    }


def _prepare_out(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise RudatagenError(f"--out {out_dir} exists and is not a directory")
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out_dir / "data", ignore_errors=True)
    shutil.rmtree(out_dir / "histograms", ignore_errors=True)
    (out_dir / "data").mkdir()


def _write_records(out_dir: Path, kept: list[dict[str, Any]], schema: pa.Schema) -> None:
    table = pa.Table.from_pylist(kept, schema=schema)
    pq.write_table(table, out_dir / "data" / "shard-00000.parquet", compression="zstd")


def _candidate_table(table: CandidateTable) -> pa.Table:
    columns: dict[str, Any] = {
        "record_id": table.record_id,
        "label": [LABEL_NAMES[int(v)] for v in table.label],
        "position": table.position,
        "query": table.query,
        "text": table.text,
        "kept": table.alive,
        "filter": table.rejected_by,
        "reason": table.reason,
    }
    for column, values in sorted(table.scores.items()):
        columns[column] = values
    return pa.table(columns)
