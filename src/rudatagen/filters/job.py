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
    require_columns,
    require_other_output,
    write_funnel,
    write_parquet_atomic,
    write_records,
)
from rudatagen.core.sharding import Shard
from rudatagen.core.stage import Stage, StageResult
from rudatagen.errors import RudatagenError
from rudatagen.executor.settings import ExecutorSettings
from rudatagen.filters.base import Filter, FilterContext
from rudatagen.filters.histograms import write_histograms
from rudatagen.filters.pipeline import run_stages
from rudatagen.filters.registry import build_filters, filter_class, serves
from rudatagen.filters.settings import FilterSettings
from rudatagen.kinds import Kind, kind_of_run
from rudatagen.kinds.candidates import CandidateTable

MIN_SURVIVORS = "min_survivors"
# Filters that compare a candidate with every other one (not with its own record): in a shard
# they would miss the duplicates in other shards, so ``--shard`` defers them to merge-shards,
# which runs them once over the merged survivors.
DATASET_WIDE_FILTERS = frozenset({"dedup", "semantic_dedup"})


def read_run_records(run_dir: Path, settings: FilterSettings) -> tuple[pa.Table, Kind]:
    """The records of a run whose kind some filter of ``settings`` is written for (not only the
    filters of every kind, such as decontamination), and that kind."""
    table = read_run_table(run_dir)
    kind = kind_of_run(run_dir, table.column_names)
    if not any(filter_class(n).kinds and serves(n, kind.name) for n in settings.sections()):
        raise RudatagenError(
            f"{run_dir} holds {kind.name} records; no filter of the `filters:` section works on "
            f"them (WANLI candidates are filtered inside `generate wanli`)"
        )
    require_columns(table, kind.record_columns, run_dir)
    return table, kind


def expected_counts(run_dir: Path, kind: Kind) -> dict[str, int] | None:
    """Candidates per record and label as the generation run asked for them.

    Read from the ``ruhnp`` section of the recipe of the generation run in ``run_dir``'s
    lineage, for RuHNP candidates; None when there is none (a foreign table) or the counts do
    not name ``kind``'s labels (a retrieval row has its one candidate).
    """
    generation = generation_of(manifest for _, manifest in lineage(run_dir))
    ruhnp = ((generation.recipe if generation else None) or {}).get("ruhnp") or {}
    if "n_paraphrases" not in ruhnp or "n_non_paraphrases" not in ruhnp:
        return None
    expected = {
        "paraphrase": int(ruhnp["n_paraphrases"]),
        "non_paraphrase": int(ruhnp["n_non_paraphrases"]),
    }
    return expected if set(expected) == set(kind.candidate_labels) else None


def survivor_minimums(
    kind: Kind, settings: FilterSettings, table: CandidateTable
) -> dict[str, int]:
    """Surviving candidates a record needs per label: the settings' (RuHNP's ``min_pos`` and
    ``min_neg``), and one of every other label the candidates carry (a retrieval row is its one
    ``answers`` pair: when that goes, the row goes)."""
    named = settings.minimums()
    carried = {label for label, n in table.label_counts().items() if n}
    return {
        label: named.get(label, 1)
        for label in kind.candidate_labels
        if label in named or label in carried
    }


def copy_record_scores(table: CandidateTable, records: pa.Table, filters: list[Filter]) -> None:
    """Give every candidate its record's value of each column some filter reads
    (:attr:`Filter.record_scores`): NaN where the record has none, or the run lacks the column."""
    wanted = dict.fromkeys(column for f in filters for column in f.record_scores)
    if not wanted:
        return
    ids = records.column("id").to_pylist()
    for column in wanted:
        values = (
            records.column(column).to_pylist()
            if column in records.column_names
            else [None] * len(ids)
        )
        by_id = {rid: np.nan if v is None else float(v) for rid, v in zip(ids, values, strict=True)}
        scores = np.array([by_id.get(rid, np.nan) for rid in table.record_id], dtype=np.float32)
        table.set_scores(column, np.arange(len(table)), scores)


def record_texts(
    records: list[dict[str, Any]], filters: list[Filter]
) -> dict[str, dict[str, list[str]]]:
    """Per record id, the texts of each column some filter reads besides its candidates
    (:attr:`Filter.record_texts`); a column a record lacks or leaves empty gives none."""
    wanted = dict.fromkeys(column for f in filters for column in f.record_texts)
    texts: dict[str, dict[str, list[str]]] = {}
    for record in records if wanted else []:
        for column in wanted:
            value = record.get(column)
            values = value if isinstance(value, list) else [value]
            found = [text for text in values if isinstance(text, str) and text]
            if found:
                texts.setdefault(record["id"], {})[column] = found
    return texts


class FilterStage(Stage[FilterSettings]):
    """Score every candidate with each enabled filter; keep, reject with a reason, report."""

    name = "filter"

    def __init__(
        self,
        settings: FilterSettings,
        *,
        shard: Shard | None = None,
        executor: ExecutorSettings | None = None,
    ) -> None:
        super().__init__(settings)
        self.shard = shard
        self.executor = executor or ExecutorSettings()

    def run(self, inputs: Sequence[Path], out: Path, *, progress: bool = True) -> StageResult:
        """Filter the one run in ``inputs`` into ``out`` (replacing an earlier output there)."""
        (in_dir,) = inputs
        started = time.perf_counter()
        require_other_output(out, [in_dir])
        settings = self.settings
        runner = None
        if self.executor.kind == "ray":  # row-local filters on the cluster, global ones here
            from rudatagen.executor.filters import RayFilterRunner

            runner = RayFilterRunner(self.executor)
        records_table, kind = read_run_records(in_dir, settings)
        filters = build_filters(settings.sections(), kind.name)  # models load on first use
        deferred: list[str] = []
        if self.shard is not None:
            records_table = self.shard.select(records_table, kind.group_column)
            deferred = [f.name for f in filters if f.name in DATASET_WIDE_FILTERS]
            filters = [f for f in filters if f.name not in DATASET_WIDE_FILTERS]
        records = records_table.to_pylist()
        table = kind.candidates(records)
        copy_record_scores(table, records_table, filters)
        context = FilterContext(progress=progress, record_texts=record_texts(records, filters))
        for stage in filters:
            stage.context = context

        funnel = run_stages(table, filters, apply=runner)
        minimums = survivor_minimums(kind, settings, table)
        kept, dropped = kind.reassemble(table, records, minimums)
        _drop_with_records(table, {d["id"] for d in dropped}, minimums, funnel)
        funnel.counts_out = table.label_counts(table.alive)
        funnel.records = {"in": len(records), "out": len(kept), "dropped": len(dropped)}
        funnel.records |= _shortfalls(table, records, expected_counts(in_dir, kind))

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
            shard=self.shard.to_json() if self.shard else None,
            deferred_filters=deferred,
            **_executor_facts(self.executor, runner),
        )
        write_manifest(out, manifest)
        summary = (
            f"records {len(records)} → {len(kept)}; candidates "
            + ", ".join(
                f"{label} {n} → {funnel.counts_out[label]}"
                for label, n in funnel.counts_in.items()
                if n  # labels only review gives (retrieval's answers_partly) are left out
            )
            + f"; {seconds:.1f}s"
        )
        return StageResult(out, manifest, summary, funnel)


def _executor_facts(executor: ExecutorSettings, runner: Any) -> dict[str, Any]:
    """The manifest's ``executor`` on Ray: its settings and where each filter ran."""
    if runner is None:
        return {}
    return {"executor": {**executor.facts(), "filters": runner.placement}}


def _drop_with_records(
    table: CandidateTable, dropped: set[str], minimums: dict[str, int], funnel: Funnel
) -> None:
    """Reject the live candidates of dropped records as ``min_survivors`` (a funnel step)."""
    before = table.label_counts(table.alive)
    in_dropped = np.fromiter((rid in dropped for rid in table.record_id), bool, len(table))
    rows = np.flatnonzero(table.alive & in_dropped)
    why = "its record has too few surviving candidates"
    table.reject(rows, MIN_SURVIVORS, [why] * len(rows))
    needs = " or ".join(f"{n} {label}" for label, n in minimums.items())
    funnel.add(
        MIN_SURVIVORS,
        before,
        table.label_counts(table.alive),
        rules={why: len(rows)} if len(rows) else {},
        note=f"records with fewer than {needs} left are dropped",
    )


def _shortfalls(
    table: CandidateTable, records: list[dict[str, Any]], expected: dict[str, int] | None
) -> dict[str, int]:
    """Records that came with fewer candidates than the generation asked for, or none at all."""
    counts = _candidate_counts(table)
    empty = sum(1 for r in records if not counts.get(r["id"]))
    if expected is None:
        return {"with_no_candidates": empty}
    short = sum(
        1
        for r in records
        if any(counts.get(r["id"], {}).get(label, 0) < n for label, n in expected.items())
    )
    return {"with_fewer_candidates_than_expected": short, "with_no_candidates": empty}


def _candidate_counts(table: CandidateTable) -> dict[str, dict[str, int]]:
    """Per record id, its candidates per label (all of them, rejected ones included)."""
    counts: dict[str, dict[str, int]] = {}
    for rid, code in zip(table.record_id, table.label.tolist(), strict=True):
        per_label = counts.setdefault(rid, {})
        label = table.labels[code]
        per_label[label] = per_label.get(label, 0) + 1
    return counts
