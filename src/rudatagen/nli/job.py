"""``generate wanli``: seeds → LLM generation (resumable) → heuristics → max variability → output.

Layout of ``OUT/``::

    generation/                  the resumable raw generation store (shards, manifest, cache)
    data/shard-00000.parquet     kept pairs: id, premise, hypothesis, label, seed_id,
                                 neighbour_ids, max_variability, heuristic_flags
                                 (+ entailment, contradiction in triples mode)
    candidates.parquet           every generated pair: kept flag, filter and reason when dropped
    funnel.json, funnel.md       counts per stage and label
    manifest.json                settings, cartography fingerprint, counts, timings
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from rudatagen.config import Recipe
from rudatagen.core.manifest import (
    Manifest,
    input_ref,
    now_iso,
    read_manifest,
    write_json_atomic,
    write_manifest,
)
from rudatagen.errors import RudatagenError
from rudatagen.filters.models import load_cross_encoder
from rudatagen.generators.job import JobResult, run_job
from rudatagen.generators.runner import GenerationReport
from rudatagen.nli.cartography import checkpoint_dirs
from rudatagen.nli.heuristics import HeuristicFilter
from rudatagen.nli.selection import SelectionReport, load_checked_seeds, select_groups
from rudatagen.nli.variability import max_variability, quota_select
from rudatagen.nli.wanli import SeedPrompt, WanliTask
from rudatagen.progress import Progress
from rudatagen.sources import SourceReport

GENERATION_DIR = "generation"


@dataclass
class Candidate:
    id: str
    seed_id: str
    label: str
    premise: str | None
    hypothesis: str | None
    neighbour_ids: list[str]
    entailment: str | None = None
    contradiction: str | None = None
    flags: list[str] = field(default_factory=list)
    max_variability: float = float("nan")
    kept: bool = False
    filter: str | None = None
    reason: str | None = None


@dataclass
class WanliResult:
    generation: JobResult
    selection: SelectionReport
    funnel: dict[str, Any]
    kept: int
    out: Path

    def summary(self) -> str:
        by_label = ", ".join(f"{k} {v}" for k, v in self.funnel["kept"].items())
        return (
            f"{self.funnel['candidates']} candidate pairs → {self.kept} kept ({by_label}); "
            f"heuristics rejected {self.funnel['heuristic']['rejected']}, "
            f"max variability dropped {self.funnel['max_variability']['dropped']}"
        )


def candidates_from_rows(
    rows: list[dict[str, Any]], mode: str, labels: list[str]
) -> list[Candidate]:
    """One candidate per row (pairs), or two (premise → entailment / contradiction) per triple."""
    contradiction = "contradiction" if "contradiction" in labels else "not_entailment"
    out = []
    for row in rows:
        common = {"seed_id": row["seed_id"], "neighbour_ids": list(row["neighbour_ids"] or [])}
        if mode == "pairs":
            out.append(
                Candidate(
                    row["seed_id"],
                    label=row["label"],
                    premise=row["premise"],
                    hypothesis=row["hypothesis"],
                    **common,
                )
            )
            continue
        for kind, label in (("entailment", "entailment"), ("contradiction", contradiction)):
            out.append(
                Candidate(
                    f"{row['seed_id']}-{kind}",
                    label=label,
                    premise=row["premise"],
                    hypothesis=row[kind],
                    entailment=row["entailment"],
                    contradiction=row["contradiction"],
                    **common,
                )
            )
    return out


def score_with_checkpoints(
    checkpoints: list[Path],
    pairs: list[tuple[str, str]],
    *,
    device: str | None,
    max_length: int | None,
    batch_size: int,
    show_progress: bool = True,
) -> np.ndarray:
    """Class probabilities of every pair under every checkpoint: (checkpoints, pairs, classes)."""
    progress = Progress(len(checkpoints), "scoring with checkpoints", enabled=show_progress)
    scores = []
    try:
        for path in checkpoints:
            model = load_cross_encoder(str(path), device, max_length)
            probs = model.predict(
                [list(p) for p in pairs],
                batch_size=batch_size,
                apply_softmax=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            scores.append(np.asarray(probs, dtype=np.float64).reshape(len(pairs), -1))
            progress.advance(1)
    finally:
        progress.close()
    return np.stack(scores)


def filter_candidates(
    candidates: list[Candidate],
    groups: dict[str, SeedPrompt],
    recipe: Recipe,
    checkpoints: list[Path],
    show_progress: bool = True,
) -> None:
    """Heuristics, then estimated max variability with the per-label quota (in place)."""
    settings = recipe.wanli.filter
    heuristic = HeuristicFilter(settings.min_chars, settings.leak_phrases)
    survivors = []
    for cand in candidates:
        group = groups.get(cand.seed_id)
        examples = [(s.premise, s.hypothesis) for s in group.examples] if group else []
        other = None
        if cand.entailment is not None or cand.contradiction is not None:  # a triple's half
            is_entailment = cand.id.endswith("-entailment")
            other = (cand.contradiction if is_entailment else cand.entailment) or ""
        result = heuristic.check(cand.premise, cand.hypothesis, examples, other)
        if not result.kept:
            cand.filter, cand.reason = "heuristic", result.reason
            continue
        cand.premise, cand.hypothesis, cand.flags = result.premise, result.hypothesis, result.flags
        survivors.append(cand)
    if not survivors:
        return
    probs = score_with_checkpoints(
        checkpoints,
        [(c.premise or "", c.hypothesis or "") for c in survivors],
        device=recipe.wanli.cartography.device,
        max_length=settings.max_length or recipe.wanli.cartography.max_length,
        batch_size=settings.batch_size,
        show_progress=show_progress,
    )
    scores = max_variability(probs)
    keep = quota_select(scores, [c.label for c in survivors], settings.keep_fraction)
    for cand, score, kept in zip(survivors, scores, keep, strict=True):
        cand.max_variability = float(score)
        cand.kept = bool(kept)
        if not kept:
            cand.filter, cand.reason = "max_variability", "below_label_quota"


def funnel(
    candidates: list[Candidate],
    labels: list[str],
    selection: SelectionReport,
    generation: GenerationReport,
) -> dict[str, Any]:
    """Counts that add up: candidates − heuristic rejects − variability drops = kept."""

    def per_label(items: list[Candidate]) -> dict[str, int]:
        counts = Counter(c.label for c in items)
        return {label: counts[label] for label in sorted(counts)}

    heuristic = [c for c in candidates if c.filter == "heuristic"]
    dropped = [c for c in candidates if c.filter == "max_variability"]
    kept = [c for c in candidates if c.kept]
    return {
        "selection": selection.as_dict(),
        "generation": {
            "prompts": selection.groups,
            "answered": generation.already_done + generation.completed,
            "failed": generation.failed,
        },
        "candidates": len(candidates),
        "candidates_by_label": per_label(candidates),
        "heuristic": {
            "rejected": len(heuristic),
            "by_rule": dict(Counter(c.reason for c in heuristic).most_common()),
            "by_label": per_label(heuristic),
        },
        "max_variability": {"dropped": len(dropped), "by_label": per_label(dropped)},
        "kept": {label: sum(1 for c in kept if c.label == label) for label in labels},
    }


def funnel_markdown(data: dict[str, Any]) -> str:
    sel = data["selection"]
    gen = data["generation"]
    lines = [
        "# WANLI funnel",
        "",
        "| stage | in | out | dropped | why |",
        "|---|---:|---:|---:|---|",
        f"| ambiguous seeds | {sel['seeds']} | {sum(sel['ambiguous'].values())} | "
        f"{sel['seeds'] - sum(sel['ambiguous'].values())} | variability below the quantile |",
        f"| prompts | {sum(sel['ambiguous'].values())} | {sel['prompts']} | "
        f"{sum(sel['skipped_too_few_neighbours'].values()) + sel['over_limit']} | "
        f"too few neighbours {sum(sel['skipped_too_few_neighbours'].values())}, "
        f"over the limit {sel['over_limit']} |",
        f"| generation | {gen['prompts']} | {gen['answered']} | {gen['failed']} | LLM failures |",
    ]
    rules = ", ".join(f"{k} {v}" for k, v in data["heuristic"]["by_rule"].items())
    after_heuristic = data["candidates"] - data["heuristic"]["rejected"]
    kept = sum(data["kept"].values())
    lines += [
        f"| heuristics | {data['candidates']} | {after_heuristic} | "
        f"{data['heuristic']['rejected']} | {rules} |",
        f"| max variability | {after_heuristic} | {kept} | {data['max_variability']['dropped']} | "
        f"below the per-label quota |",
        "",
        "Kept by intended label: " + ", ".join(f"{k} {v}" for k, v in data["kept"].items()) + ".",
        "",
    ]
    return "\n".join(lines)


def _read_generation(directory: Path) -> list[dict[str, Any]]:
    shards = sorted((directory / "data").glob("shard-*.parquet"))
    return [row for path in shards for row in pq.read_table(path).to_pylist()]


def _write_outputs(out: Path, candidates: list[Candidate], mode: str) -> int:
    data_dir = out / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    for stale in data_dir.glob("shard-*.parquet"):
        stale.unlink()
    kept = [c for c in candidates if c.kept]
    columns: dict[str, Any] = {
        "id": pa.array([c.id for c in kept], pa.string()),
        "premise": pa.array([c.premise for c in kept], pa.string()),
        "hypothesis": pa.array([c.hypothesis for c in kept], pa.string()),
        "label": pa.array([c.label for c in kept], pa.string()),
        "seed_id": pa.array([c.seed_id for c in kept], pa.string()),
        "neighbour_ids": pa.array([c.neighbour_ids for c in kept], pa.list_(pa.string())),
        "max_variability": pa.array([c.max_variability for c in kept], pa.float64()),
        "heuristic_flags": pa.array([c.flags for c in kept], pa.list_(pa.string())),
    }
    if mode == "triples":
        columns["entailment"] = pa.array([c.entailment for c in kept], pa.string())
        columns["contradiction"] = pa.array([c.contradiction for c in kept], pa.string())
    pq.write_table(pa.table(columns), data_dir / "shard-00000.parquet")
    audit = pa.table(
        {
            "id": pa.array([c.id for c in candidates], pa.string()),
            "seed_id": pa.array([c.seed_id for c in candidates], pa.string()),
            "label": pa.array([c.label for c in candidates], pa.string()),
            "premise": pa.array([c.premise for c in candidates], pa.string()),
            "hypothesis": pa.array([c.hypothesis for c in candidates], pa.string()),
            "entailment": pa.array([c.entailment for c in candidates], pa.string()),
            "contradiction": pa.array([c.contradiction for c in candidates], pa.string()),
            "neighbour_ids": pa.array([c.neighbour_ids for c in candidates], pa.list_(pa.string())),
            "max_variability": pa.array([c.max_variability for c in candidates], pa.float64()),
            "heuristic_flags": pa.array([c.flags for c in candidates], pa.list_(pa.string())),
            "kept": pa.array([c.kept for c in candidates], pa.bool_()),
            "filter": pa.array([c.filter for c in candidates], pa.string()),
            "reason": pa.array([c.reason for c in candidates], pa.string()),
        }
    )
    pq.write_table(audit, out / "candidates.parquet")
    return len(kept)


def run_wanli(
    recipe: Recipe,
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
    seeds, path, carto_manifest = load_checked_seeds(recipe, cartography, seed_path)
    groups, selection = select_groups(recipe, cartography, seeds, path)
    if on_selected is not None:
        on_selected(selection)
    if not groups:
        raise RudatagenError(f"no seeds to prompt with: {selection.summary()}")
    task = WanliTask(recipe, groups, carto_manifest["seed_fingerprint"])
    items = task.items()
    source_report = SourceReport(
        path=str(path), rows_read=len(seeds), candidates=len(seeds), kept=len(items)
    )
    generation = run_job(
        recipe,
        task,
        out / GENERATION_DIR,
        fresh=fresh,
        show_progress=show_progress,
        on_start=on_start,
        items=(items, source_report),
    )
    wanted = {item.id for item in items}
    rows = [r for r in _read_generation(out / GENERATION_DIR) if r["id"] in wanted]
    mode = recipe.wanli.generation.mode
    labels = recipe.wanli.seeds.labels
    candidates = candidates_from_rows(rows, mode, labels)
    checkpoints = checkpoint_dirs(cartography)
    filter_candidates(candidates, task.groups, recipe, checkpoints, show_progress)
    kept = _write_outputs(out, candidates, mode)
    report = funnel(candidates, labels, selection, generation.report)
    write_json_atomic(out / "funnel.json", report)
    (out / "funnel.md").write_text(funnel_markdown(report), encoding="utf-8")
    inner = read_manifest(out / GENERATION_DIR)
    manifest = Manifest(
        stage="generate",
        kind="wanli",
        created=created,
        updated=now_iso(),
        status=generation.status,
        fingerprint=inner.fingerprint if inner is not None else None,
        inputs=[input_ref(cartography.resolve(), read_manifest(cartography))],
        recipe=recipe.public_dict(),
        counts={"candidates": len(candidates), "kept": kept, "by_label": report["kept"]},
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
    )
    write_manifest(out, manifest)
    return WanliResult(generation, selection, report, kept, out)
