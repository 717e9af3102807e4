"""``rudatagen cartography`` and ``rudatagen generate wanli``: WANLI-style NLI generation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rudatagen.cli.common import RecipeOption, SetOption, ShardOption, say, user_errors
from rudatagen.cli.executor_options import ExecutorOption, RayAddressOption, executor_settings
from rudatagen.config import Recipe, load_recipe
from rudatagen.errors import RudatagenError

SeedDataOption = Annotated[
    Path | None,
    typer.Option(
        "--seed-data",
        help="Seed NLI set: .jsonl, .csv, .tsv, .parquet or a saved HF dataset "
        "(default: wanli.seeds.path).",
    ),
]


def _recipe(recipe: Path | None, overrides: list[str]) -> Recipe:
    return load_recipe(recipe, overrides)


def cartography_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Cartography directory to write.")],
    seed_data: SeedDataOption = None,
    recipe: RecipeOption = None,
    set_: SetOption = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Train again into a non-empty --out.")
    ] = False,
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
) -> None:
    """Train a classifier on the seed NLI set and map its training dynamics (data map)."""
    with user_errors():
        resolved = _recipe(recipe, set_ or [])
        path = seed_data or resolved.wanli.seeds.path
        if path is None:
            raise RudatagenError(
                "no seed data: pass --seed-data FILE (or set wanli.seeds.path in the recipe)"
            )
        from rudatagen.nli.cartography import run_cartography
        from rudatagen.nli.seeds import check_size, label_counts, read_seeds

        seeds = read_seeds(path, resolved.wanli.seeds)
        selection = resolved.wanli.selection
        check_size(seeds, resolved.wanli.seeds.labels, selection.quantile, selection.k)
        counts = ", ".join(f"{k} {v}" for k, v in label_counts(seeds).items())
        carto = resolved.wanli.cartography
        say(f"seeds: {len(seeds)} examples from {path} ({counts})")
        say(f"training {carto.model} for {carto.epochs} epochs")

        def epoch_line(epoch: int, accuracy: float, seconds: float) -> None:
            say(f"epoch {epoch}: train accuracy {accuracy:.3f} ({seconds:.1f}s)")

        result = run_cartography(
            seeds,
            resolved.wanli,
            out,
            seed_path=path,
            recipe=resolved.public_dict(),
            fresh=fresh,
            show_progress=progress,
            on_epoch=epoch_line,
        )
        say(f"done: {result.summary()}")
        say(f"data map: {out / 'data_map.png'}; metrics: {out / 'metrics.parquet'}")


def wanli_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory (created or resumed).")],
    cartography: Annotated[
        Path, typer.Option("--cartography", help="Directory written by `rudatagen cartography`.")
    ],
    seed_data: SeedDataOption = None,
    recipe: RecipeOption = None,
    set_: SetOption = None,
    limit: Annotated[
        int | None, typer.Option(help="Prompt with at most N seeds (wanli.selection.max_seeds).")
    ] = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Start over: drop earlier generations.")
    ] = False,
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
    shard: ShardOption = None,
    executor: ExecutorOption = None,
    ray_address: RayAddressOption = None,
    decontaminate_against: Annotated[
        list[Path] | None,
        typer.Option(
            "--decontaminate-against",
            help="An evaluation set (txt, tsv, csv, jsonl, parquet or a datasets folder): pairs "
            "that repeat its texts are dropped. Repeat for several; replaces the recipe's "
            "filters.decontaminate.against.",
        ),
    ] = None,
) -> None:
    """WANLI: new NLI pairs from ambiguous seeds and neighbours, filtered by max variability.

    The generation runs here or on Ray (--executor ray); the seed selection and the filters,
    which need every pair, run here. A --shard run generates its part and does not filter:
    `rudatagen merge-shards` of all the shards joins them and filters.
    """
    with user_errors():
        flags = list(set_ or [])
        if limit is not None:
            flags.append(f"wanli.selection.max_seeds={limit}")
        resolved = _recipe(recipe, flags)
        if decontaminate_against:
            resolved.filters.decontaminate.against = list(decontaminate_against)
        from rudatagen.core.sharding import Shard
        from rudatagen.generators.runner import GenerationReport
        from rudatagen.llm.embedded import demo_notice
        from rudatagen.nli.job import WanliStage
        from rudatagen.nli.selection import SelectionReport
        from rudatagen.sources import SourceReport

        def selected(report: SelectionReport) -> None:
            say(f"selection: {report.summary()}")

        def started(_: SourceReport, report: GenerationReport) -> None:
            if resolved.llm.is_embedded and report.pending:
                say(demo_notice("wanli"), color="yellow")
            if report.already_done:
                say(f"resuming: {report.already_done} of {report.sources} already done")

        stage = WanliStage(
            resolved.wanli_settings(),
            seed_path=seed_data,
            fresh=fresh,
            on_selected=selected,
            on_start=started,
            shard=Shard.parse(shard),
            executor=executor_settings(resolved.executor, executor, ray_address),
        )
        result = stage.run([cartography], out, progress=progress)
        say(f"generation: {result.generation.report.summary()}")
        say(f"done: {result.summary}")
        if result.kept is not None:
            say(f"{result.kept} pairs in {out / 'data'}; funnel: {out / 'funnel.md'}")
        if result.generation.report.failed:
            say(
                f"{result.generation.report.failed} prompts failed; they are listed in "
                f"{out / 'generation' / 'failed.jsonl'} and a re-run retries them",
                color="yellow",
            )
