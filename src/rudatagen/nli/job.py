"""``generate wanli``: seeds → LLM generation (resumable) → the WANLI filters → output.

The generated rows are split into candidates by the WANLI kind and run through the one filter
pipeline (``filters.registry``: the NLI heuristics, then estimated max variability against the
cartography checkpoints); the funnel counts the seed selection, the prompts and the generation
as ``all`` steps, then each filter per label.

Layout of ``OUT/``::

    generation/                  the resumable raw generation store (shards, manifest, cache)
    data/shard-00000.parquet     kept pairs: id, premise, hypothesis, label, seed_id,
                                 neighbour_ids, max_variability, heuristic_flags
                                 (+ entailment, contradiction in triples mode)
    candidates.parquet           every generated pair (record_id, label, field, anchor = premise,
                                 text = hypothesis, scores): kept flag, filter and reason
    funnel.json, funnel.md       the funnel (``core.funnel``)
    manifest.json                settings, cartography fingerprint, counts, timings
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from rudatagen.core.funnel import TOTAL, Funnel
from rudatagen.core.manifest import Manifest, input_ref, now_iso, read_manifest, write_manifest
from rudatagen.core.rundir import write_funnel, write_parquet_atomic
from rudatagen.core.stage import Stage, StageResult
from rudatagen.errors import RudatagenError
from rudatagen.filters.base import FilterContext
from rudatagen.filters.pipeline import run_stages
from rudatagen.filters.registry import build_filters
from rudatagen.generators.job import JobResult, run_job
from rudatagen.generators.runner import GenerationReport
from rudatagen.kinds import get_kind
from rudatagen.nli.cartography import checkpoint_dirs
from rudatagen.nli.selection import SelectionReport, load_checked_seeds, select_groups
from rudatagen.nli.settings import WanliRunSettings
from rudatagen.nli.wanli import WanliTask
from rudatagen.sources import SourceReport

GENERATION_DIR = "generation"
_STRINGS = pa.list_(pa.string())
KEPT_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("premise", pa.string()),
        ("hypothesis", pa.string()),
        ("label", pa.string()),
        ("seed_id", pa.string()),
        ("neighbour_ids", _STRINGS),
        ("max_variability", pa.float64()),
        ("heuristic_flags", _STRINGS),
    ]
)
TRIPLES_SCHEMA = KEPT_SCHEMA.append(pa.field("entailment", pa.string())).append(
    pa.field("contradiction", pa.string())
)


@dataclass(kw_only=True)
class WanliResult(StageResult):
    """``generate wanli``'s outcome; ``summary`` is the funnel in one line."""

    generation: JobResult
    selection: SelectionReport
    kept: int


def _summary(funnel: Funnel, kept: int) -> str:
    by_label = ", ".join(f"{k} {v}" for k, v in funnel.counts_out.items())
    rejected = {s.name: s.total_in - s.total_out for s in funnel.steps}
    return (
        f"{sum(funnel.counts_in.values())} candidate pairs → {kept} kept "
        f"({by_label}); heuristics rejected {rejected.get('nli_heuristic', 0)}, "
        f"max variability dropped {rejected.get('max_variability', 0)}"
    )


class WanliStage(Stage[WanliRunSettings]):
    """``generate wanli``: seeds from a cartography run → LLM → the one filter pipeline.

    ``inputs`` is the cartography directory; generation resumes, filtering is redone each time.
    """

    name = "generate"

    def __init__(
        self,
        settings: WanliRunSettings,
        *,
        seed_path: Path | None = None,
        fresh: bool = False,
        on_selected: Callable[[SelectionReport], None] | None = None,
        on_start: Callable[[SourceReport, GenerationReport], None] | None = None,
    ) -> None:
        super().__init__(settings)
        self.seed_path = seed_path
        self.fresh = fresh
        self.on_selected = on_selected
        self.on_start = on_start

    def run(self, inputs: Sequence[Path], out: Path, *, progress: bool = True) -> WanliResult:
        (cartography,) = inputs
        return run_wanli(
            self.settings,
            cartography,
            out,
            seed_path=self.seed_path,
            fresh=self.fresh,
            show_progress=progress,
            on_selected=self.on_selected,
            on_start=self.on_start,
        )


def selection_steps(funnel: Funnel, selection: SelectionReport, report: GenerationReport) -> None:
    """Seed selection, prompts and generation as ``all`` steps (they come before labels)."""
    ambiguous = sum(selection.ambiguous.values())
    too_few = sum(selection.skipped_too_few_neighbours.values())
    funnel.add(
        "ambiguous seeds",
        {TOTAL: selection.seeds},
        {TOTAL: ambiguous},
        note="variability below the per-label quantile",
    )
    rules = {"too few neighbours": too_few, "over the limit": selection.over_limit}
    funnel.add(
        "prompts",
        {TOTAL: ambiguous},
        {TOTAL: selection.groups},
        rules={rule: n for rule, n in rules.items() if n},
    )
    answered = report.already_done + report.completed
    funnel.add(
        "generation",
        {TOTAL: selection.groups},
        {TOTAL: answered},
        rules=dict(report.failure_reasons),
        note="LLM failures" if report.failed else None,
    )


def _read_generation(directory: Path) -> list[dict[str, Any]]:
    shards = sorted((directory / "data").glob("shard-*.parquet"))
    return [row for path in shards for row in pq.read_table(path).to_pylist()]


def run_wanli(
    settings: WanliRunSettings,
    cartography: Path,
    out: Path,
    *,
    seed_path: Path | None = None,
    fresh: bool = False,
    show_progress: bool = True,
    on_selected: Callable[[SelectionReport], None] | None = None,
    on_start: Callable[[SourceReport, GenerationReport], None] | None = None,
) -> WanliResult:
    """The whole ``generate wanli`` command; generation resumes, filtering is redone each time."""
    if out.exists() and not out.is_dir():
        raise RudatagenError(f"--out {out} exists and is not a directory")
    started = time.perf_counter()
    created = now_iso()
    wanli = settings.wanli
    seeds, path, carto_manifest = load_checked_seeds(wanli, cartography, seed_path)
    groups, selection = select_groups(wanli, cartography, seeds, path)
    if on_selected is not None:
        on_selected(selection)
    if not groups:
        raise RudatagenError(f"no seeds to prompt with: {selection.summary()}")
    task = WanliTask(wanli, settings.generate.llm, groups, carto_manifest["seed_fingerprint"])
    items = task.items()
    source_report = SourceReport(
        path=str(path), rows_read=len(seeds), candidates=len(seeds), kept=len(items)
    )
    generation = run_job(
        settings.generate,
        task,
        out / GENERATION_DIR,
        fresh=fresh,
        show_progress=show_progress,
        on_start=on_start,
        items=(items, source_report),
    )
    wanted = {item.id for item in items}
    rows = [r for r in _read_generation(out / GENERATION_DIR) if r["id"] in wanted]
    mode = wanli.generation.mode

    kind = get_kind("wanli")
    table = kind.candidates(rows, wanli.seeds.labels)
    checkpoints = checkpoint_dirs(cartography)
    carto = wanli.cartography
    context = FilterContext(
        examples={
            guid: [(s.premise, s.hypothesis) for s in group.examples]
            for guid, group in task.groups.items()
        },
        checkpoints=tuple(checkpoints),
        device=carto.device,
        max_length=carto.max_length,
        progress=show_progress,
    )
    filters = build_filters(wanli.filter.sections(), kind.name, context)
    funnel = Funnel(unit="candidates", counts_in=table.label_counts())
    selection_steps(funnel, selection, generation.report)
    run_stages(table, filters, funnel)
    kept, _ = kind.reassemble(table, rows, {})
    funnel.counts_out = table.label_counts(table.alive)
    funnel.records = {"in": len(rows), "out": len(kept)}
    funnel.details = {"selection": selection.as_dict(), "mode": mode}

    out.mkdir(parents=True, exist_ok=True)
    (out / "data").mkdir(exist_ok=True)
    for stale in (out / "data").glob("shard-*.parquet"):
        stale.unlink()
    schema = TRIPLES_SCHEMA if mode == "triples" else KEPT_SCHEMA
    write_parquet_atomic(
        out / "data" / "shard-00000.parquet", pa.Table.from_pylist(kept, schema=schema)
    )
    write_parquet_atomic(out / "candidates.parquet", table.to_arrow())
    write_funnel(out, funnel, "WANLI funnel")
    inner = read_manifest(out / GENERATION_DIR)
    manifest = Manifest(
        stage="generate",
        kind="wanli",
        created=created,
        updated=now_iso(),
        status=generation.status,
        fingerprint=inner.fingerprint if inner is not None else None,
        inputs=[input_ref(cartography.resolve(), read_manifest(cartography))],
        recipe=settings.public_dict(),
        counts={"candidates": len(table), "kept": len(kept), "by_label": funnel.counts_out},
        wall_s=round(time.perf_counter() - started, 3),
        mode=mode,
        backend=inner.extra("backend") if inner is not None else None,
        prompt=inner.extra("prompt") if inner is not None else None,
        cartography={
            "path": str(cartography.resolve()),
            "seed_fingerprint": carto_manifest["seed_fingerprint"],
            "checkpoints": [p.name for p in checkpoints],
        },
        generation={
            "path": GENERATION_DIR,
            "status": generation.status,
            "rows": generation.rows,
            "fingerprint": inner.fingerprint if inner is not None else None,
        },
        filters=[
            {"name": f.name, "version": f.version, "settings": f.thresholds()} for f in filters
        ],
    )
    write_manifest(out, manifest)
    return WanliResult(
        out=out,
        manifest=manifest,
        summary=_summary(funnel, len(kept)),
        funnel=funnel,
        generation=generation,
        selection=selection,
        kept=len(kept),
    )
