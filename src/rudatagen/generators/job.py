"""The generate stage: sources → run store → LLM → rows, then the manifest (resumable).

:class:`GenerateStage` receives :class:`GenerateSettings` (the recipe's ``source``, ``llm``,
``ruhnp``, ``output`` and ``cache`` sections) and a generator task (``RuHNPTask``, ``WanliTask``:
how a source text becomes a request and an answer a row). :func:`run_job` builds and runs one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from rudatagen.core.manifest import Manifest, merge_runs, now_iso, totals
from rudatagen.core.sharding import Shard
from rudatagen.core.stage import Stage, StageResult
from rudatagen.core.store import RunStore
from rudatagen.errors import RudatagenError
from rudatagen.executor.settings import ExecutorSettings
from rudatagen.generators.runner import GenerationReport, Task, run_generation
from rudatagen.generators.settings import GenerateSettings
from rudatagen.llm.cache import ResponseCache
from rudatagen.llm.client import StructuredClient
from rudatagen.llm.registry import make_backend
from rudatagen.llm.types import LLMBackend
from rudatagen.sources import SourceReport, SourceText, read_source

OnStart = Callable[[SourceReport, GenerationReport], None]


@dataclass(kw_only=True)
class JobResult(StageResult):
    """A generation's outcome: ``summary`` is the report's line; ``status`` as in the manifest."""

    report: GenerationReport
    source_report: SourceReport
    rows: int
    shards: int
    status: str


class GenerateStage(Stage[GenerateSettings]):
    """Run (or resume) a generator over source texts into a run directory.

    ``items`` replaces reading a source with texts the caller built (WANLI seeds); a task's
    ``fingerprint_digest`` attribute, when set, replaces the prompt digest in the fingerprint.
    ``backend_factory`` replaces the registry's backend (benchmarks reuse a started engine).
    ``on_start`` is called once the work is known (after the server check, before any call).
    ``shard`` keeps the sources whose id falls in it (``--shard i/N``; ``merge-shards`` joins
    the shards' runs). ``executor`` says where the LLM calls run: here (``local``, the default)
    or on a pool of Ray replicas (``executor/generate.py``); everything else happens here.
    """

    name = "generate"

    def __init__(
        self,
        settings: GenerateSettings,
        task: Task,
        *,
        fresh: bool = False,
        backend_factory: Callable[[], LLMBackend] | None = None,
        on_start: OnStart | None = None,
        items: tuple[list[SourceText], SourceReport] | None = None,
        shard: Shard | None = None,
        executor: ExecutorSettings | None = None,
    ) -> None:
        super().__init__(settings)
        self.shard = shard
        self.executor = executor or ExecutorSettings()
        self.ray_run: Any = None  # executor.generate.RayRun of a Ray run: the manifest's part
        self.task = task
        self.fresh = fresh
        self.backend_factory = backend_factory or (lambda: make_backend(settings.llm))
        self.on_start = on_start
        self.items = items

    def _sources(self, inputs: Sequence[Path]) -> tuple[list[SourceText], SourceReport]:
        """The texts: the caller's ``items``, else the one input file, else ``source.path``."""
        if len(inputs) > 1:
            raise RudatagenError(f"generate reads one source, got {len(inputs)}")
        if self.items is not None:
            return self.items
        path = inputs[0] if inputs else self.settings.source.path
        if path is None:
            raise RudatagenError("no source texts: pass --source FILE (or set source.path)")
        return read_source(path, self.settings.source)

    def run(self, inputs: Sequence[Path], out: Path, *, progress: bool = True) -> JobResult:
        """Generate into ``out`` and write its manifest (``stage: generate``, the task's kind).

        Everything that can be checked before an LLM call is checked first: the settings, the
        prompt files (when the task was built), the source, the output directory's fingerprint,
        and (with work left to do) the server.
        """
        settings, task = self.settings, self.task
        if self.executor.kind == "ray":
            from rudatagen.executor.connect import require_ray

            require_ray()  # without the extra: one line, before anything is read
        sources, source_report = self._sources(inputs)
        if self.shard is not None:
            sources = [s for s in sources if self.shard.keeps(s.id)]
        # Cheap and early: checks optional packages and the API key; models load on first use.
        backend = self.backend_factory()
        store = RunStore(
            out,
            task.row_schema,
            shard_size=settings.output.shard_size,
            flush_seconds=settings.output.flush_seconds,
        )
        fingerprint = settings.fingerprint(_prompt_digest(task))
        store.open(fresh=self.fresh, fingerprint=fingerprint)
        try:
            previous = _previous_manifest(store)
            _check_same_shard(previous, self.shard, out)
            done = store.completed_ids(getattr(task, "source_id_column", "id"))
            pending = [s for s in sources if s.id not in done]
            previous_failures = store.previous_failures()
            report = GenerationReport(
                sources=len(sources),
                already_done=len(sources) - len(pending),
                pending=len(pending),
                retried_failures=sum(1 for s in pending if s.id in previous_failures),
            )
            if pending:
                # A server is asked once, before the manifest or a progress bar: it answers,
                # serves llm.model and takes the key, or the command stops within seconds. A run
                # with nothing left to do needs no server (in-process backends: no-op).
                backend.preflight()
            if self.on_start is not None:
                self.on_start(source_report, report)
            started_at = now_iso()
            base = self._manifest_base(fingerprint, source_report, previous, started_at)
            store.write_manifest(base.model_copy(update={"status": "running"}).to_json())
            status = "interrupted"
            try:
                if self.executor.kind == "ray":
                    self._generate_on_ray(pending, store, report, progress)
                else:
                    self._generate_here(pending, store, backend, report, progress, out)
                status = "complete" if report.failed == 0 else "incomplete"
            finally:
                manifest = self._finish(store, base, backend, report, previous, started_at, status)
            return JobResult(
                out=out,
                manifest=manifest,
                summary=report.summary(),
                report=report,
                source_report=source_report,
                rows=store.total_rows(),
                shards=len(store.shard_paths()),
                status=status,
            )
        finally:
            store.close()

    def _generate_here(
        self,
        pending: list[SourceText],
        store: RunStore,
        backend: LLMBackend,
        report: GenerationReport,
        progress: bool,
        out: Path,
    ) -> None:
        """The local executor: one client in this process, the SQLite response cache."""
        settings = self.settings
        cache = _open_cache(settings, out)
        client = StructuredClient(
            backend,
            retry=settings.llm.retry,
            max_reasks=settings.llm.max_reasks,
            concurrency=settings.llm.max_concurrency,
            cache=cache,
        )
        try:
            asyncio.run(self._generate(pending, store, client, report, progress))
        finally:
            if cache is not None:
                cache.close()

    def _generate_on_ray(
        self, pending: list[SourceText], store: RunStore, report: GenerationReport, progress: bool
    ) -> None:
        """The Ray executor: a pool of replicas, each with its own engine (no Ray connection
        when nothing is left to do)."""
        from rudatagen.executor.generate import RayRun, generate_on_ray

        self.ray_run = RayRun(self.executor)
        if not pending:
            store.start_failures()
            return
        generate_on_ray(
            self.task,
            pending,
            self.settings,
            self.ray_run,
            store,
            report,
            show_progress=progress,
        )

    async def _generate(
        self,
        pending: list[SourceText],
        store: RunStore,
        client: StructuredClient,
        report: GenerationReport,
        progress: bool,
    ) -> None:
        try:
            await run_generation(
                self.task,
                pending,
                store,
                client,
                report,
                price=self.settings.llm.price,
                show_progress=progress,
            )
        finally:
            await client.backend.aclose()

    def _manifest_base(
        self,
        fingerprint: str,
        source_report: SourceReport,
        previous: Manifest | None,
        started_at: str,
    ) -> Manifest:
        prompts = getattr(self.task, "prompts", None)
        return Manifest(
            stage=self.name,
            kind=self.task.name,
            created=previous.created if previous else started_at,
            updated=started_at,
            fingerprint=fingerprint,
            recipe=self.settings.public_dict(),
            source={
                "path": source_report.path,
                "rows_read": source_report.rows_read,
                "kept": source_report.kept,
                "skipped": dict(source_report.skipped),
            },
            prompt={"name": prompts.spec.name, "version": prompts.version} if prompts else None,
            shard=self.shard.to_json() if self.shard else None,
        )

    def _finish(
        self,
        store: RunStore,
        base: Manifest,
        backend: LLMBackend,
        report: GenerationReport,
        previous: Manifest | None,
        started_at: str,
        status: str,
    ) -> Manifest:
        """Write the final manifest: counts, this invocation, every earlier one, the backend."""
        run_entry = {"started": started_at, "finished": now_iso(), "status": status}
        run_entry.update(report.as_dict())
        runs = merge_runs(previous, run_entry)
        info = backend.info()
        final = base.model_copy(
            update={
                "status": status,
                "counts": {
                    "sources": report.sources,
                    "rows": store.total_rows(),
                    "failed": report.failed,
                },
                "wall_s": round(report.wall_s, 3),
            }
        )
        extra: dict[str, Any] = {
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
        if self.ray_run is not None:
            extra.update(self.ray_run.manifest())
        payload = {**final.to_json(), **extra}
        store.write_manifest(payload)
        return Manifest.model_validate(payload)


def run_job(
    settings: GenerateSettings,
    task: Task,
    out: Path,
    *,
    fresh: bool = False,
    show_progress: bool = True,
    backend_factory: Callable[[], LLMBackend] | None = None,
    on_start: OnStart | None = None,
    items: tuple[list[SourceText], SourceReport] | None = None,
) -> JobResult:
    """One :class:`GenerateStage` run from ``settings.source.path`` (or ``items``) into ``out``."""
    stage = GenerateStage(
        settings, task, fresh=fresh, backend_factory=backend_factory, on_start=on_start, items=items
    )
    return stage.run([], out, progress=show_progress)


def _prompt_digest(task: Task) -> str:
    digest = getattr(task, "fingerprint_digest", None)
    if digest is not None:
        return str(digest)
    prompts = getattr(task, "prompts", None)
    return prompts.digest if prompts is not None else ""


def _open_cache(settings: GenerateSettings, out: Path) -> ResponseCache | None:
    if not settings.cache.enabled:
        return None
    return ResponseCache(settings.cache.path or out / "cache.sqlite")


def _check_same_shard(previous: Manifest | None, shard: Shard | None, out: Path) -> None:
    """A run directory holds one shard: resuming it as another would mix two shards' rows."""
    if previous is None:
        return
    before = previous.extra("shard")
    now = shard.to_json() if shard else None
    if before != now:
        said = f"shard {before['index']}/{before['count']}" if before else "an unsharded run"
        raise RudatagenError(
            f"{out} holds {said}; this run is "
            + (f"shard {shard}" if shard else "unsharded")
            + ": choose another --out (or --fresh)"
        )


def _previous_manifest(store: RunStore) -> Manifest | None:
    raw = store.read_manifest()
    try:
        return Manifest.model_validate(raw) if raw else None
    except ValidationError:
        return None  # an unreadable manifest only loses the history of earlier invocations
