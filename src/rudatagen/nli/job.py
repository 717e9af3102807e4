"""``generate wanli``: seeds → LLM generation (resumable) → the WANLI filters → output.

The generated rows are split into candidates by the WANLI kind and run through the one filter
pipeline (``filters.registry``: decontamination when ``filters.decontaminate.against`` names
evaluation sets, the NLI heuristics, then estimated max variability against the cartography
checkpoints); the funnel counts the seed selection, the prompts and the generation as ``all``
steps, then each filter per label.

Only the generation is spread over machines. ``--executor ray`` runs it on a pool of Ray
replicas (``generators.job.GenerateStage``, as ``generate ruhnp``); ``--shard i/N`` generates the
prompts whose seed id falls in shard i (``core.sharding``). The seed selection and the filters
stay in this process, on every row: a seed's neighbours are searched among all ambiguous seeds,
and max variability keeps a fraction of each label ranked over the whole set, so neither can be
cut into parts. The selection is deterministic (the cartography's metrics and last checkpoint),
so every shard computes the same prompts (``prompts_digest`` in the manifest says so); a shard
writes its generation and a manifest and stops, and ``merge-shards`` of the N shard directories
joins their generations and runs the filters once over all of them (``nli/shards.py``). Rows
are filtered in the selection's order, whatever order replicas or shards wrote them in, so a
sharded or Ray run keeps the same rows as a local one.

Layout of ``OUT/``::

    generation/                  the resumable raw generation store (shards, manifest, cache)
    data/shard-00000.parquet     kept pairs: id, premise, hypothesis, label, seed_id,
                                 neighbour_ids, max_variability, heuristic_flags
                                 (+ entailment, contradiction in triples mode)
    candidates.parquet           every generated pair (record_id, label, field, anchor = premise,
                                 text = hypothesis, scores): kept flag, filter and reason
    funnel.json, funnel.md       the funnel (``core.funnel``)
    manifest.json                settings, cartography fingerprint, counts, timings

A ``--shard`` run's ``OUT/`` holds ``generation/`` and ``manifest.json`` only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from rudatagen.core.funnel import Funnel
from rudatagen.core.manifest import Manifest, input_ref, now_iso, read_manifest, write_manifest
from rudatagen.core.rundir import write_funnel, write_parquet_atomic
from rudatagen.core.sharding import Shard
from rudatagen.core.stage import Stage, StageResult
from rudatagen.errors import RudatagenError
from rudatagen.executor.settings import ExecutorSettings
from rudatagen.filters.base import FilterContext
from rudatagen.filters.pipeline import run_stages
from rudatagen.filters.registry import build_filters
from rudatagen.generators.job import GenerateStage, JobResult
from rudatagen.generators.runner import GenerationReport
from rudatagen.kinds import get_kind
from rudatagen.nli.cartography import checkpoint_dirs
from rudatagen.nli.plan import WanliPlan, generated_rows, plan_wanli, selection_steps
from rudatagen.nli.selection import SelectionReport
from rudatagen.nli.settings import WanliRunSettings
from rudatagen.sources import SourceReport

GENERATION_DIR = "generation"
# What a shard run leaves out and an earlier unsharded run in the same OUT may have written.
FILTERED_OUTPUTS = ("candidates.parquet", "funnel.json", "funnel.md")
# The generation manifest's keys the run's manifest repeats (a Ray run: where it ran).
_GENERATION_FACTS = ("backend", "prompt", "executor", "replicas")
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
    """``generate wanli``'s outcome; ``summary`` is the funnel in one line. ``kept`` is None
    for a ``--shard`` run, which generates and does not filter."""

    generation: JobResult
    selection: SelectionReport
    kept: int | None


def _summary(funnel: Funnel, kept: int) -> str:
    by_label = ", ".join(f"{k} {v}" for k, v in funnel.counts_out.items())
    rejected = {s.name: s.total_in - s.total_out for s in funnel.steps}
    line = f"{sum(funnel.counts_in.values())} candidate pairs → {kept} kept ({by_label}); "
    if "decontaminate" in rejected:
        line += f"decontamination rejected {rejected['decontaminate']}, "
    return line + (
        f"heuristics rejected {rejected.get('nli_heuristic', 0)}, "
        f"max variability dropped {rejected.get('max_variability', 0)}"
    )


class WanliStage(Stage[WanliRunSettings]):
    """``generate wanli``: seeds from a cartography run → LLM → the one filter pipeline.

    ``inputs`` is the cartography directory; generation resumes, filtering is redone each time.
    ``executor`` says where the LLM calls run (the selection and the filters run here);
    ``shard`` generates one part of the prompts and does not filter (see the module).
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
        shard: Shard | None = None,
        executor: ExecutorSettings | None = None,
    ) -> None:
        super().__init__(settings)
        self.seed_path = seed_path
        self.fresh = fresh
        self.on_selected = on_selected
        self.on_start = on_start
        self.shard = shard
        self.executor = executor

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
            shard=self.shard,
            executor=self.executor,
        )


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
    shard: Shard | None = None,
    executor: ExecutorSettings | None = None,
) -> WanliResult:
    """The whole ``generate wanli`` command; generation resumes, filtering is redone each time.

    With ``shard``, only that shard's prompts are generated and nothing is filtered."""
    if out.exists() and not out.is_dir():
        raise RudatagenError(f"--out {out} exists and is not a directory")
    started = time.perf_counter()
    created = now_iso()
    plan = plan_wanli(settings, cartography, seed_path, on_selected)
    generation = GenerateStage(
        settings.generate,
        plan.task,
        fresh=fresh,
        on_start=on_start,
        items=(plan.items, plan.source_report),
        shard=shard,
        executor=executor,
    ).run([], out / GENERATION_DIR, progress=show_progress)
    if shard is not None:
        return _finish_shard(settings, cartography, out, plan, generation, shard, started, created)
    return filter_wanli(
        settings,
        cartography,
        out,
        plan,
        generation,
        started=started,
        created=created,
        show_progress=show_progress,
    )


def _run_manifest(
    settings: WanliRunSettings,
    cartography: Path,
    plan: WanliPlan,
    generation: JobResult,
    *,
    started: float,
    created: str,
    counts: dict[str, Any],
    **extra: Any,
) -> Manifest:
    """The manifest of ``OUT/`` (a whole run, a shard or a merge): the generation's facts, the
    cartography and the prompts every shard must agree on, and ``extra``."""
    inner = generation.manifest
    facts = {key: inner.extra(key) for key in _GENERATION_FACTS if inner.extra(key) is not None}
    return Manifest(
        stage="generate",
        kind="wanli",
        created=created,
        updated=now_iso(),
        status=generation.status,
        fingerprint=inner.fingerprint,
        inputs=[input_ref(cartography.resolve(), read_manifest(cartography))],
        recipe=settings.public_dict(),
        counts=counts,
        wall_s=round(time.perf_counter() - started, 3),
        mode=settings.wanli.generation.mode,
        **facts,
        cartography={
            "path": str(cartography.resolve()),
            "seed_fingerprint": plan.seed_fingerprint,
            "checkpoints": [p.name for p in checkpoint_dirs(cartography)],
        },
        seed_data=str(Path(plan.selection.seed_path).resolve()),
        prompts_digest=plan.prompts_digest,
        generation={
            "path": GENERATION_DIR,
            "status": generation.status,
            "rows": generation.rows,
            "fingerprint": inner.fingerprint,
        },
        **extra,
    )


def _finish_shard(
    settings: WanliRunSettings,
    cartography: Path,
    out: Path,
    plan: WanliPlan,
    generation: JobResult,
    shard: Shard,
    started: float,
    created: str,
) -> WanliResult:
    """A shard's ``OUT/manifest.json`` (what ``merge-shards`` reads); no filtering."""
    for stale in (out / "data").glob("shard-*.parquet"):
        stale.unlink()  # an earlier unsharded run's kept rows, were this OUT reused with --fresh
    for name in FILTERED_OUTPUTS:
        (out / name).unlink(missing_ok=True)
    manifest = _run_manifest(
        settings,
        cartography,
        plan,
        generation,
        started=started,
        created=created,
        counts=dict(generation.manifest.counts),
        shard=shard.to_json(),
    )
    write_manifest(out, manifest)
    summary = (
        f"shard {shard}: {generation.rows} pairs generated for "
        f"{generation.report.sources} of the {len(plan.items)} prompts; not filtered (the WANLI "
        f"filters rank the whole set): `rudatagen merge-shards` of all {shard.count} shard "
        f"directories joins them and filters"
    )
    return WanliResult(
        out=out,
        manifest=manifest,
        summary=summary,
        generation=generation,
        selection=plan.selection,
        kept=None,
    )


def filter_wanli(
    settings: WanliRunSettings,
    cartography: Path,
    out: Path,
    plan: WanliPlan,
    generation: JobResult,
    *,
    started: float,
    created: str,
    show_progress: bool,
    **extra: Any,
) -> WanliResult:
    """The filters over every generated row of ``plan`` in ``OUT/generation``; writes the kept
    pairs, the candidates, the funnel and ``OUT/manifest.json`` (with ``extra``)."""
    wanli = settings.wanli
    rows = generated_rows(out / GENERATION_DIR, plan.items)
    mode = wanli.generation.mode
    kind = get_kind("wanli")
    table = kind.candidates(rows, wanli.seeds.labels)
    carto = wanli.cartography
    context = FilterContext(
        examples={
            guid: [(s.premise, s.hypothesis) for s in group.examples]
            for guid, group in plan.task.groups.items()
        },
        checkpoints=tuple(checkpoint_dirs(cartography)),
        device=carto.device,
        max_length=carto.max_length,
        progress=show_progress,
    )
    sections = {"decontaminate": settings.decontaminate, **wanli.filter.sections()}
    filters = build_filters(sections, kind.name, context)
    funnel = Funnel(unit="candidates", counts_in=table.label_counts())
    selection_steps(funnel, plan.selection, generation.report)
    run_stages(table, filters, funnel)
    kept, _ = kind.reassemble(table, rows, {})
    funnel.counts_out = table.label_counts(table.alive)
    funnel.records = {"in": len(rows), "out": len(kept)}
    funnel.details = {"selection": plan.selection.as_dict(), "mode": mode}

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
    manifest = _run_manifest(
        settings,
        cartography,
        plan,
        generation,
        started=started,
        created=created,
        counts={"candidates": len(table), "kept": len(kept), "by_label": funnel.counts_out},
        filters=[
            {"name": f.name, "version": f.version, "settings": f.thresholds()} for f in filters
        ],
        **extra,
    )
    write_manifest(out, manifest)
    return WanliResult(
        out=out,
        manifest=manifest,
        summary=_summary(funnel, len(kept)),
        funnel=funnel,
        generation=generation,
        selection=plan.selection,
        kept=len(kept),
    )
