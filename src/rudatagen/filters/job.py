"""``filter`` as a stage: a generation (or filter) run directory in, a filtered one out.

``OUT/`` gets ``data/shard-00000.parquet`` (records with their surviving candidates),
``candidates.parquet`` (every candidate with its scores, kept or not), ``rejects.parquet`` (the
rejected ones with filter and reason; candidates of records dropped for too few survivors are
there too, as ``min_survivors``), ``funnel.json`` / ``funnel.md``, ``histograms/*.png`` and
``manifest.json``. The stage's settings are the recipe's ``filters:`` section; the candidates
a record expects come from the generation run's recipe in the input's lineage.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rudatagen.core.funnel import Funnel
from rudatagen.core.manifest import (
    Manifest,
    generation_of,
    input_ref,
    lineage,
    read_manifest,
    write_manifest,
)
from rudatagen.core.rundir import (
    prepare_output,
    read_run_table,
    write_funnel,
    write_parquet_atomic,
    write_records,
)
from rudatagen.core.stage import Stage, StageResult
from rudatagen.errors import RudatagenError
from rudatagen.filters.histograms import write_histograms
from rudatagen.filters.pipeline import run_stages
from rudatagen.filters.registry import build_filters, serves
from rudatagen.filters.settings import FilterSettings
from rudatagen.kinds import Kind, kind_of_run
from rudatagen.kinds.candidates import CandidateTable

MIN_SURVIVORS = "min_survivors"


def read_run_records(run_dir: Path, settings: FilterSettings) -> tuple[pa.Table, Kind]:
    """The records of a run whose kind some filter of ``settings`` works on, and that kind."""
    table = read_run_table(run_dir)
    kind = kind_of_run(run_dir, table.column_names)
    if not any(serves(name, kind.name) for name in settings.sections()):
        raise RudatagenError(
            f"{run_dir} holds {kind.name} records; no filter of the `filters:` section works on "
            f"them (WANLI candidates are filtered inside `generate wanli`)"
        )
    missing = [c for c in kind.record_columns if c not in table.column_names]
    if missing:
        raise RudatagenError(
            f"{run_dir} lacks column(s) {', '.join(missing)} (has {', '.join(table.column_names)})"
        )
    return table, kind


def expected_counts(run_dir: Path) -> tuple[int, int] | None:
    """Paraphrases and non-paraphrases per record as the generation run asked for them.

    Read from the ``ruhnp`` section of the recipe of the generation run in ``run_dir``'s
    lineage; None when there is none (a foreign table).
    """
    generation = generation_of(manifest for _, manifest in lineage(run_dir))
    ruhnp = ((generation.recipe if generation else None) or {}).get("ruhnp") or {}
    if "n_paraphrases" not in ruhnp or "n_non_paraphrases" not in ruhnp:
        return None
    return int(ruhnp["n_paraphrases"]), int(ruhnp["n_non_paraphrases"])


class FilterStage(Stage[FilterSettings]):
    """Score every candidate with each enabled filter; keep, reject with a reason, report."""

    name = "filter"

    def run(self, inputs: Sequence[Path], out: Path, *, progress: bool = True) -> StageResult:
        """Filter the one run in ``inputs`` into ``out`` (replacing an earlier output there)."""
        (in_dir,) = inputs
        started = time.perf_counter()
        if out.resolve() == in_dir.resolve():
            raise RudatagenError("--out must differ from --in (the input run is left untouched)")
        settings = self.settings
        records_table, kind = read_run_records(in_dir, settings)
        records = records_table.to_pylist()
        filters = build_filters(settings.sections(), kind.name)  # models load on first use
        table = kind.candidates(records)

        funnel = run_stages(table, filters)
        kept, dropped = kind.reassemble(table, records, settings.minimums())
        _drop_with_records(table, {d["id"] for d in dropped}, settings, funnel)
        funnel.counts_out = table.label_counts(table.alive)
        funnel.records = {"in": len(records), "out": len(kept), "dropped": len(dropped)}
        funnel.records |= _shortfalls(records, expected_counts(in_dir))

        prepare_output(out, [in_dir])
        shutil.rmtree(out / "histograms", ignore_errors=True)
        write_records(out, pa.Table.from_pylist(kept, schema=records_table.schema))
        candidates = table.to_arrow()
        write_parquet_atomic(out / "candidates.parquet", candidates)
        rejected = candidates.filter(pc.invert(candidates.column("kept")))
        write_parquet_atomic(out / "rejects.parquet", rejected)
        write_funnel(out, funnel, "Filter funnel")
        histograms = write_histograms(table, out / "histograms")
        seconds = time.perf_counter() - started
        manifest = Manifest(
            stage=self.name,
            kind=kind.name,
            inputs=[input_ref(in_dir, read_manifest(in_dir))],
            recipe={"filters": settings.model_dump(mode="json")},
            counts={
                **funnel.records,
                "candidates_in": funnel.counts_in,
                "candidates_out": funnel.counts_out,
            },
            wall_s=round(seconds, 3),
            filters=[
                {"name": f.name, "version": f.version, "settings": f.thresholds()} for f in filters
            ],
            histograms=[p.name for p in histograms],
        )
        write_manifest(out, manifest)
        summary = (
            f"records {len(records)} → {len(kept)}; candidates "
            + ", ".join(
                f"{label} {n} → {funnel.counts_out[label]}" for label, n in funnel.counts_in.items()
            )
            + f"; {seconds:.1f}s"
        )
        return StageResult(out, manifest, summary, funnel)


def _drop_with_records(
    table: CandidateTable, dropped: set[str], settings: FilterSettings, funnel: Funnel
) -> None:
    """Reject the live candidates of dropped records as ``min_survivors`` (a funnel step)."""
    before = table.label_counts(table.alive)
    in_dropped = np.fromiter((rid in dropped for rid in table.record_id), bool, len(table))
    rows = np.flatnonzero(table.alive & in_dropped)
    why = "its record has too few surviving candidates"
    table.reject(rows, MIN_SURVIVORS, [why] * len(rows))
    funnel.add(
        MIN_SURVIVORS,
        before,
        table.label_counts(table.alive),
        rules={why: len(rows)} if len(rows) else {},
        note=f"records with fewer than {settings.min_pos} paraphrases or "
        f"{settings.min_neg} non-paraphrases left are dropped",
    )


def _shortfalls(records: list[dict[str, Any]], expected: tuple[int, int] | None) -> dict[str, int]:
    """Records that came with fewer candidates than the generation asked for, or none at all."""
    empty = sum(1 for r in records if not (r["pos"] or r["neg"]))
    if expected is None:
        return {"with_no_candidates": empty}
    n_pos, n_neg = expected
    short = sum(1 for r in records if len(r["pos"] or ()) < n_pos or len(r["neg"] or ()) < n_neg)
    return {"with_fewer_candidates_than_expected": short, "with_no_candidates": empty}
