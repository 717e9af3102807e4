"""``merge-shards``: the run directories of ``--shard 0/N`` … ``N-1/N`` joined into one run.

Checked before anything is written: every directory is a shard of the same stage and kind, made
with the same settings (the generation fingerprint; the filter or mine recipe), and the indices
are exactly 0 … N-1 (the missing ones are named). Checked after joining: no row id twice, no
source (group) in two shards, and for generation runs that the shards' source counts add up to
the source they were cut from (so no source was missed: the ones without rows are the failures,
listed in ``failed.jsonl``).

Filter shards defer the filters that compare candidates across records (dedup: see
``filters.job.DATASET_WIDE_FILTERS``); they run here, once, over the merged survivors, as steps
of the merged funnel, so a near-copy in another shard is caught as in an unsharded run.
``generate wanli`` shards filter nothing; their merge (``nli/shards.py``) joins their
generations and then runs the WANLI filters over all of them.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from rudatagen.core.funnel import Funnel
from rudatagen.core.manifest import Manifest, input_ref, read_json, read_manifest, write_manifest
from rudatagen.core.rundir import prepare_output, write_funnel, write_parquet_atomic
from rudatagen.core.sharding import Shard
from rudatagen.core.stage import StageResult
from rudatagen.errors import RudatagenError
from rudatagen.kinds import get_kind

MERGEABLE_STAGES = ("generate", "filter", "mine")
# The generation keys copied from shard 0 so cards and `generation_of` read the merged run as
# they read an unsharded one.
_GENERATION_FACTS = ("backend", "prompt", "source")
_SUMMED_FACTS = ("llm_calls", "cache_hits", "prompt_tokens", "completion_tokens", "cost")


@dataclass(frozen=True)
class ShardRun:
    path: Path
    manifest: Manifest
    shard: Shard


def read_shard_runs(dirs: Sequence[Path]) -> list[ShardRun]:
    """The shard runs in index order, or a one-line error saying what does not fit."""
    if not dirs:
        raise RudatagenError("merge-shards needs the shards' run directories: --in DIR …")
    runs = []
    for path in dirs:
        manifest = read_manifest(path)
        if manifest is None:
            raise RudatagenError(f"{path} has no manifest.json (not a rudatagen run)")
        spec = manifest.extra("shard")
        if not spec:
            raise RudatagenError(f"{path} is not a shard (it was not made with --shard i/N)")
        runs.append(ShardRun(path, manifest, Shard(int(spec["index"]), int(spec["count"]))))
    first = runs[0]
    for run in runs[1:]:
        for what, mine, theirs in (
            ("stage", run.manifest.stage, first.manifest.stage),
            ("kind", run.manifest.kind, first.manifest.kind),
            ("shard count", run.shard.count, first.shard.count),
            ("settings", _settings_key(run.manifest), _settings_key(first.manifest)),
        ):
            if mine != theirs:
                raise RudatagenError(
                    f"{run.path} and {first.path} differ in {what}: shards of one run only"
                )
    if first.manifest.stage not in MERGEABLE_STAGES:
        raise RudatagenError(
            f"merge-shards joins {', '.join(MERGEABLE_STAGES)} runs, not {first.manifest.stage}"
        )
    count = first.shard.count
    indices = [run.shard.index for run in runs]
    twice = sorted({i for i in indices if indices.count(i) > 1})
    missing = sorted(set(range(count)) - set(indices))
    if twice:
        raise RudatagenError(f"shard(s) {', '.join(map(str, twice))} of {count} given twice")
    if missing:
        raise RudatagenError(
            f"shard(s) {', '.join(f'{i}/{count}' for i in missing)} missing: "
            f"merge-shards needs all {count}"
        )
    for run in runs:
        if run.manifest.status not in (None, "complete"):
            raise RudatagenError(
                f"{run.path} (shard {run.shard}) is {run.manifest.status}: resume it first"
            )
    return sorted(runs, key=lambda run: run.shard.index)


def _settings_key(manifest: Manifest) -> Any:
    """What must be equal across shards: the generation fingerprint, else the stage's recipe."""
    return manifest.fingerprint if manifest.stage == "generate" else manifest.recipe


def merge_shards(dirs: Sequence[Path], out: Path, *, progress: bool = True) -> StageResult:
    """Join the shard runs ``dirs`` into ``out`` (replacing an earlier merge there)."""
    started = time.perf_counter()
    runs = read_shard_runs(dirs)
    first = runs[0].manifest
    if first.kind == "wanli" and first.extra("cartography") is not None:
        from rudatagen.nli.shards import merge_wanli_shards  # its generations, then its filters

        return merge_wanli_shards(runs, out, progress=progress)
    kind = get_kind(first.kind or "")
    prepare_output(out, [run.path for run in runs])
    for stale in ("failed.jsonl", "candidates.parquet", "rejects.parquet", "funnel.json"):
        (out / stale).unlink(missing_ok=True)
    written = _copy_records(runs, out)
    source_column = "passage_id" if first.kind == "retrieval" else "id"
    counts = _check_rows(runs, written, kind.group_column, source_column)
    _join_failures(runs, out)
    manifest = Manifest(
        stage=first.stage,
        kind=first.kind,
        status="complete",
        fingerprint=first.fingerprint,
        inputs=[input_ref(run.path, run.manifest) for run in runs],
        recipe=first.recipe,
        counts=_summed([run.manifest.counts for run in runs]),
        merged_shards={"count": len(runs), "rows": counts["rows"], "sources": counts["sources"]},
        **_stage_facts(runs),
    )
    funnel = None
    if first.stage == "filter":
        funnel = _merge_filter_outputs(runs, out, manifest)
    manifest.wall_s = round(time.perf_counter() - started, 3)
    write_manifest(out, manifest)
    if funnel is not None:
        manifest = _run_deferred(runs, out, manifest, funnel, progress)
    unit = "sources" if first.stage == "generate" else f"{kind.group_column} groups"
    summary = f"{len(runs)} shards → {counts['rows']} rows, {counts['sources']} {unit}; no id twice"
    if funnel is not None and manifest.extra("deferred_filters_run"):
        summary += (
            f"; then {', '.join(manifest.extra('deferred_filters_run'))} over all of them: "
            f"{funnel.records.get('out', 0)} records kept"
        )
    return StageResult(out, manifest, summary, funnel)


def _copy_records(runs: list[ShardRun], out: Path) -> list[Path]:
    """Every shard's data files, renumbered into ``out/data`` (copied atomically)."""
    written = []
    for run in runs:
        for path in sorted((run.path / "data").glob("shard-*.parquet")):
            target = out / "data" / f"shard-{len(written):05d}.parquet"
            tmp = target.with_name(f".{target.name}.tmp")
            shutil.copyfile(path, tmp)
            os.replace(tmp, target)
            written.append(target)
    return written


def _check_rows(
    runs: list[ShardRun], files: list[Path], group_column: str, source_column: str
) -> dict[str, int]:
    """No row id twice, no group in two shards; generation: the shards cover the source."""
    ids: set[str] = set()
    owner: dict[str, int] = {}
    rows = 0
    paths = iter(files)
    for run in runs:
        for _ in sorted((run.path / "data").glob("shard-*.parquet")):
            table = pq.read_table(next(paths))
            wanted = [c for c in ("id", group_column, source_column) if c in table.column_names]
            for row in table.select(wanted).to_pylist():
                rows += 1
                row_id = str(row.get("id"))
                if row_id in ids:
                    raise RudatagenError(f"row id {row_id!r} is in two shards: not merged")
                ids.add(row_id)
                group = str(
                    row.get(source_column if run.manifest.stage == "generate" else group_column)
                )
                if owner.setdefault(group, run.shard.index) != run.shard.index:
                    raise RudatagenError(
                        f"{group_column} {group!r} is in shards {owner[group]} and "
                        f"{run.shard.index}: these are not shards of one run"
                    )
    if runs[0].manifest.stage == "generate":
        _check_coverage(runs, len(owner))
    return {"rows": rows, "sources": len(owner)}


def _check_coverage(runs: list[ShardRun], sources_with_rows: int) -> None:
    """Each shard read the whole source and kept its part: the parts must add up to it."""
    whole = {int((run.manifest.extra("source") or {}).get("kept", -1)) for run in runs}
    parts = sum(int(run.manifest.counts.get("sources", 0)) for run in runs)
    failed = sum(int(run.manifest.counts.get("failed", 0)) for run in runs)
    if len(whole) != 1:
        raise RudatagenError("the shards were cut from different sources (source counts differ)")
    (total,) = whole
    if total >= 0 and parts != total:
        raise RudatagenError(f"the shards hold {parts} of the source's {total} texts")
    if sources_with_rows + failed < parts:
        raise RudatagenError(
            f"{parts - failed - sources_with_rows} sources have neither rows nor a failure"
        )


def _join_failures(runs: list[ShardRun], out: Path) -> None:
    lines = []
    for run in runs:
        path = run.path / "failed.jsonl"
        if path.is_file():
            lines.extend(line for line in path.read_text(encoding="utf-8").splitlines() if line)
    if lines:
        (out / "failed.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _summed(parts: list[dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                total[key] = total.get(key, 0) + value
            elif isinstance(value, dict):
                inner = total.setdefault(key, {})
                for k, v in value.items():
                    if isinstance(v, int | float) and not isinstance(v, bool):
                        inner[k] = inner.get(k, 0) + v
            else:
                total.setdefault(key, value)
    return total


def _stage_facts(runs: list[ShardRun]) -> dict[str, Any]:
    """The stage-specific keys of shard 0 (backend, prompt, filters, corpus …), with the ones
    that count work added over the shards, and each shard's own counts."""
    first = runs[0].manifest
    facts = {
        key: value
        for key, value in (first.model_extra or {}).items()
        if key not in ("shard", "runs", "last_run", "totals", "embeddings", "merged_shards")
    }
    for key in _SUMMED_FACTS:
        values = [run.manifest.extra(key) for run in runs]
        if all(isinstance(v, int | float) for v in values):
            facts[key] = round(sum(values), 6)
    facts["shards"] = [
        {"index": run.shard.index, "path": str(run.path), "counts": run.manifest.counts}
        for run in runs
    ]
    if first.stage == "generate":
        facts = {
            k: v for k, v in facts.items() if k in (*_GENERATION_FACTS, *_SUMMED_FACTS, "shards")
        }
    return facts


def _merge_filter_outputs(runs: list[ShardRun], out: Path, manifest: Manifest) -> Funnel:
    """Candidates, rejects and funnels of the shards joined; the funnel returned."""
    for name in ("candidates.parquet", "rejects.parquet"):
        tables = [pq.read_table(run.path / name) for run in runs if (run.path / name).is_file()]
        if tables:
            write_parquet_atomic(out / name, pa.concat_tables(tables, promote_options="default"))
    funnels = [Funnel.model_validate(read_json(run.path / "funnel.json") or {}) for run in runs]
    funnel = Funnel.combine(funnels)
    write_funnel(out, funnel, "Filter funnel (merged shards)")
    return funnel


def _run_deferred(
    runs: list[ShardRun], out: Path, manifest: Manifest, funnel: Funnel, progress: bool
) -> Manifest:
    """Run the filters the shards deferred over the merged survivors, into the same ``out``."""
    deferred = list(runs[0].manifest.extra("deferred_filters") or [])
    if not deferred:
        return manifest
    from rudatagen.filters.job import FilterStage
    from rudatagen.filters.settings import FilterSettings

    recipe = dict((manifest.recipe or {}).get("filters") or {})
    settings = FilterSettings.model_validate(recipe)
    only = {
        name: section.model_copy(update={"enabled": name in deferred})
        for name, section in settings.sections().items()
        if "enabled" in type(section).model_fields
    }
    settings = settings.model_copy(update=only)
    staging = out / ".deferred"
    shutil.rmtree(staging, ignore_errors=True)
    result = FilterStage(settings).run([out], staging, progress=progress)
    second = result.funnel or Funnel()
    funnel.steps.extend(second.steps)
    funnel.counts_out = second.counts_out
    funnel.records["out"] = second.records.get("out", 0)
    funnel.records["dropped"] = funnel.records.get("in", 0) - funnel.records["out"]
    _apply_deferred_rejects(out, staging)
    shutil.rmtree(out / "data")
    os.replace(staging / "data", out / "data")
    shutil.rmtree(staging)
    write_funnel(out, funnel, "Filter funnel (merged shards)")
    manifest.counts = {
        **manifest.counts,
        **funnel.records,
        "candidates_out": funnel.counts_out,
    }
    manifest = manifest.model_copy(update={"deferred_filters_run": deferred})
    write_manifest(out, manifest)
    return manifest


def _apply_deferred_rejects(out: Path, staging: Path) -> None:
    """Mark the deferred pass's rejects in the merged candidates and add them to rejects."""
    rejects = pq.read_table(staging / "rejects.parquet")
    if rejects.num_rows == 0:
        return
    key = ("record_id", "label", "text")
    gone = {tuple(r[k] for k in key): (r["filter"], r["reason"]) for r in rejects.to_pylist()}
    candidates = pq.read_table(out / "candidates.parquet")
    rows = candidates.select(list(key)).to_pylist()
    kept = candidates.column("kept").to_pylist()
    filters = candidates.column("filter").to_pylist()
    reasons = candidates.column("reason").to_pylist()
    for i, row in enumerate(rows):
        hit = gone.get(tuple(row[k] for k in key)) if kept[i] else None
        if hit is not None:
            kept[i], (filters[i], reasons[i]) = False, hit
    for name, values, kind in (
        ("kept", kept, pa.bool_()),
        ("filter", filters, pa.string()),
        ("reason", reasons, pa.string()),
    ):
        index = candidates.column_names.index(name)
        candidates = candidates.set_column(index, name, pa.array(values, kind))
    write_parquet_atomic(out / "candidates.parquet", candidates)
    rejected = candidates.filter(pc.invert(candidates.column("kept")))
    write_parquet_atomic(out / "rejects.parquet", rejected)
