"""One ``generate`` invocation: sources → run store → LLM → rows, then the manifest."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from rudatagen.config import Recipe
from rudatagen.core.manifest import Manifest, merge_runs, now_iso, totals
from rudatagen.generators.runner import GenerationReport, Task, run_generation
from rudatagen.llm.cache import ResponseCache
from rudatagen.llm.client import StructuredClient
from rudatagen.llm.registry import make_backend
from rudatagen.llm.types import LLMBackend
from rudatagen.sources import SourceReport, SourceText, read_source
from rudatagen.store import RunStore


@dataclass
class JobResult:
    report: GenerationReport
    source_report: SourceReport
    rows: int
    shards: int
    status: str
    out: Path


def run_job(
    recipe: Recipe,
    task: Task,
    out: Path,
    *,
    fresh: bool = False,
    show_progress: bool = True,
    backend_factory: Callable[[], LLMBackend] | None = None,
    on_start: Callable[[SourceReport, GenerationReport], None] | None = None,
    items: tuple[list[SourceText], SourceReport] | None = None,
) -> JobResult:
    """Run (or resume) generation into ``out`` and write its manifest.

    Everything that can be checked before an LLM call is checked first: the recipe, the prompt
    files (when ``task`` was built), the source file, the output directory's settings.
    ``items`` replaces the recipe's source with items the caller built (WANLI seeds); a task's
    ``fingerprint_digest`` attribute, when set, replaces the prompt digest in the fingerprint.
    """
    if items is None:
        assert recipe.source.path is not None
        sources, source_report = read_source(recipe.source.path, recipe.source)
    else:
        sources, source_report = items
    # Cheap and early: checks optional packages and the API key; models load on first use.
    backend = (backend_factory or (lambda: make_backend(recipe.llm)))()
    store = RunStore(
        out,
        task.row_schema,
        shard_size=recipe.output.shard_size,
        flush_seconds=recipe.output.flush_seconds,
    )
    prompts = getattr(task, "prompts", None)
    digest = getattr(task, "fingerprint_digest", None)
    if digest is None:
        digest = prompts.digest if prompts is not None else ""
    fingerprint = recipe.generation_fingerprint(digest)
    store.open(fresh=fresh, fingerprint=fingerprint)
    try:
        previous = _previous_manifest(store)
        done = store.completed_ids()
        pending = [s for s in sources if s.id not in done]
        previous_failures = store.previous_failures()
        report = GenerationReport(
            sources=len(sources),
            already_done=len(sources) - len(pending),
            pending=len(pending),
            retried_failures=sum(1 for s in pending if s.id in previous_failures),
        )
        if pending:
            # A server is asked once, before the manifest or a progress bar: it answers, serves
            # llm.model and takes the key, or the command stops within seconds. A run with
            # nothing left to do needs no server (in-process backends: no-op).
            backend.preflight()
        if on_start is not None:
            on_start(source_report, report)
        started_at = now_iso()
        base = _manifest_base(recipe, task, fingerprint, source_report, previous, started_at)
        store.write_manifest(base.model_copy(update={"status": "running"}).to_json())
        status = "interrupted"
        cache = _open_cache(recipe, out)
        client = StructuredClient(
            backend,
            retry=recipe.llm.retry,
            max_reasks=recipe.llm.max_reasks,
            concurrency=recipe.llm.max_concurrency,
            cache=cache,
        )
        try:
            asyncio.run(_run_and_close(task, pending, store, client, report, recipe, show_progress))
            status = "complete" if report.failed == 0 else "incomplete"
        finally:
            if cache is not None:
                cache.close()
            run_entry = {
                "started": started_at,
                "finished": now_iso(),
                "status": status,
                **report.as_dict(),
            }
            runs = merge_runs(previous, run_entry)
            rows = store.total_rows()
            info = backend.info()
            final = base.model_copy(
                update={
                    "status": status,
                    "counts": {"sources": len(sources), "rows": rows, "failed": report.failed},
                    "wall_s": round(report.wall_s, 3),
                }
            )
            extra = {
                "backend": {"name": info.backend, **info.details},
                "llm_calls": report.stats.llm_calls,
                "cache_hits": report.stats.cache_hits,
                "prompt_tokens": report.stats.usage.prompt_tokens,
                "completion_tokens": report.stats.usage.completion_tokens,
                "cost": round(report.cost, 6),
                "last_run": run_entry,
                "runs": runs,
                "totals": totals(runs),
            }
            store.write_manifest({**final.to_json(), **extra})
        return JobResult(report, source_report, rows, len(store.shard_paths()), status, out)
    finally:
        store.close()


async def _run_and_close(
    task: Task,
    pending: list[Any],
    store: RunStore,
    client: StructuredClient,
    report: GenerationReport,
    recipe: Recipe,
    show_progress: bool,
) -> None:
    try:
        await run_generation(
            task,
            pending,
            store,
            client,
            report,
            price=recipe.llm.price,
            show_progress=show_progress,
        )
    finally:
        await client.backend.aclose()


def _open_cache(recipe: Recipe, out: Path) -> ResponseCache | None:
    if not recipe.cache.enabled:
        return None
    return ResponseCache(recipe.cache.path or out / "cache.sqlite")


def _previous_manifest(store: RunStore) -> Manifest | None:
    raw = store.read_manifest()
    try:
        return Manifest.model_validate(raw) if raw else None
    except ValidationError:
        return None  # an unreadable manifest only loses the history of earlier invocations


def _manifest_base(
    recipe: Recipe,
    task: Task,
    fingerprint: str,
    source_report: SourceReport,
    previous: Manifest | None,
    started_at: str,
) -> Manifest:
    prompts = getattr(task, "prompts", None)
    return Manifest(
        stage="generate",
        kind=task.name,
        created=previous.created if previous else started_at,
        updated=started_at,
        fingerprint=fingerprint,
        recipe=recipe.public_dict(),
        source={
            "path": source_report.path,
            "rows_read": source_report.rows_read,
            "kept": source_report.kept,
            "skipped": dict(source_report.skipped),
        },
        prompt={"name": prompts.spec.name, "version": prompts.version} if prompts else None,
    )
