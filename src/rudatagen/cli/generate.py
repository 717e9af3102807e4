"""``rudatagen generate``: run an LLM generator over source texts, resumably."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from rudatagen.cli.common import RecipeOption, SetOption, ShardOption, say, user_errors
from rudatagen.cli.executor_options import ExecutorOption, RayAddressOption, executor_settings
from rudatagen.config import Recipe, load_recipe
from rudatagen.core.sharding import Shard
from rudatagen.errors import RudatagenError
from rudatagen.executor.settings import ExecutorSettings
from rudatagen.generators.job import GenerateStage, JobResult
from rudatagen.generators.runner import GenerationReport, Task
from rudatagen.generators.settings import GenerateSettings
from rudatagen.llm.embedded import demo_notice
from rudatagen.sources import SourceReport

generate_app = typer.Typer(help="Generate data with an LLM.", no_args_is_help=True)


def resolve_recipe(
    recipe: Path | None,
    overrides: list[str],
    *,
    source: Path | None,
    column: str | None,
    limit: int | None,
    seed: int | None,
) -> Recipe:
    """The recipe with CLI flags applied on top of ``--set`` (flags win)."""
    flags = list(overrides)
    if source is not None:
        flags.append(f"source.path={source}")
    if column is not None:
        flags.append(f"source.column={column}")
    if limit is not None:
        flags.append(f"source.limit={limit}")
    if seed is not None:
        flags.append(f"source.seed={seed}")
    resolved = load_recipe(recipe, flags)
    if resolved.source.path is None:
        raise RudatagenError(
            "no source texts: pass --source FILE (or set source.path in the recipe)"
        )
    return resolved


@generate_app.command("ruhnp")
def ruhnp(
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory (created or resumed).")],
    source: Annotated[
        Path | None,
        typer.Option(
            "--source", help="Texts: .txt, .tsv, .csv, .jsonl, .parquet or a saved HF dataset."
        ),
    ] = None,
    recipe: RecipeOption = None,
    set_: SetOption = None,
    column: Annotated[str | None, typer.Option(help="Text column of a table source.")] = None,
    limit: Annotated[int | None, typer.Option(help="Use at most N texts (sampled).")] = None,
    seed: Annotated[int | None, typer.Option(help="Sampling seed for --limit.")] = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Start over: drop earlier results.")
    ] = False,
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
    shard: ShardOption = None,
    executor: ExecutorOption = None,
    ray_address: RayAddressOption = None,
    filter_out: Annotated[
        Path | None,
        typer.Option("--filter-out", help="Then run the recipe's filter stages into this folder."),
    ] = None,
) -> None:
    """Paraphrases and hard non-paraphrases for every source text (deepvk/ru-HNP's shape)."""
    with user_errors():
        resolved = resolve_recipe(
            recipe, set_ or [], source=source, column=column, limit=limit, seed=seed
        )
        from rudatagen.generators.ruhnp import RuHNPTask

        run = GenerationRun(resolved, fresh, progress, shard, executor, ray_address)
        result = run.generate(RuHNPTask, out, "ruhnp")
        say(
            f"{result.rows} rows in {result.shards} shards under {out / 'data'}; "
            f"manifest: {out / 'manifest.json'}"
        )
        if filter_out is not None:
            from rudatagen.filters.job import FilterStage

            filtered = FilterStage(resolved.filters, shard=run.shard, executor=run.executor).run(
                [out], filter_out, progress=progress
            )
            say(f"filtered: {filtered.summary}; funnel: {filter_out / 'funnel.md'}")
        if result.report.failed:
            say(
                f"{result.report.failed} items failed ({_reasons(result.report)}); they are listed "
                f"in {out / 'failed.jsonl'} and a re-run retries them",
                color="yellow",
            )


@generate_app.command("queries")
def queries(
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory (created or resumed).")],
    source: Annotated[
        Path | None,
        typer.Option(
            "--source",
            help="Passages or documents: .txt, .tsv, .csv, .jsonl, .parquet or a saved HF dataset.",
        ),
    ] = None,
    recipe: RecipeOption = None,
    set_: SetOption = None,
    column: Annotated[str | None, typer.Option(help="Text column of a table source.")] = None,
    limit: Annotated[int | None, typer.Option(help="Use at most N passages (sampled).")] = None,
    seed: Annotated[int | None, typer.Option(help="Sampling seed for --limit.")] = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Start over: drop earlier results.")
    ] = False,
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
    shard: ShardOption = None,
    executor: ExecutorOption = None,
    ray_address: RayAddressOption = None,
) -> None:
    """Search queries of several types for every passage (the `retrieval` kind).

    Passages are the source's texts, or (with `source.passages.enabled`) consecutive sentences
    of one document joined. One row per query; `rudatagen mine` adds the negatives.
    """
    with user_errors():
        resolved = resolve_recipe(
            recipe,
            ["task=retrieval", *(set_ or [])],
            source=source,
            column=column,
            limit=limit,
            seed=seed,
        )
        from rudatagen.generators.queries import QueriesTask

        run = GenerationRun(resolved, fresh, progress, shard, executor, ray_address)
        result = run.generate(QueriesTask, out, "queries")
        say(
            f"{result.rows} queries for {result.report.sources - result.report.failed} passages "
            f"in {result.shards} shards under {out / 'data'}; manifest: {out / 'manifest.json'}"
        )
        if result.report.failed:
            say(
                f"no answer for {result.report.failed} of {result.report.sources} passages "
                f"({_reasons(result.report)}); they are listed in {out / 'failed.jsonl'} and a "
                f"re-run retries them",
                color="yellow",
            )


@dataclass
class GenerationRun:
    """What ``generate ruhnp`` and ``generate queries`` share: the recipe and run flags, and
    running a task with them (the same announcements, stage and summary line)."""

    recipe: Recipe
    fresh: bool
    progress: bool
    shard_flag: str | None
    executor_flag: str | None
    ray_address: str | None

    @property
    def shard(self) -> Shard | None:
        return Shard.parse(self.shard_flag)

    @property
    def executor(self) -> ExecutorSettings:
        return executor_settings(self.recipe.executor, self.executor_flag, self.ray_address)

    def generate(
        self, make_task: Callable[[GenerateSettings], Task], out: Path, demo_recipe: str
    ) -> JobResult:
        """Build the task from the recipe and run it into ``out``; on the embedded demo model,
        the notice points at ``recipes/<demo_recipe>.yaml``."""
        settings = self.recipe.generate_settings()
        task = make_task(settings)  # loads and checks the prompt files: before the shard flag

        def announce(sources: SourceReport, report: GenerationReport) -> None:
            if settings.llm.is_embedded and report.pending:
                say(demo_notice(demo_recipe), color="yellow")
            _announce(sources, report)

        stage = GenerateStage(
            settings,
            task,
            fresh=self.fresh,
            on_start=announce,
            shard=self.shard,
            executor=self.executor,
        )
        result = stage.run([], out, progress=self.progress)
        say(f"done: {result.summary}")
        return result


def _announce(sources: SourceReport, report: GenerationReport) -> None:
    say(f"source: {sources.summary()}")
    if report.already_done:
        say(
            f"resuming: {report.already_done} of {report.sources} already done, "
            f"{report.pending} to go ({report.retried_failures} failed before)"
        )


def _reasons(report: GenerationReport) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(report.failure_reasons.items()))
