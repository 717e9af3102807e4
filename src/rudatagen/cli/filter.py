"""``rudatagen filter``: prune a generation run with the recipe's filter stages."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rudatagen.cli.common import RecipeOption, SetOption, ShardOption, say, user_errors
from rudatagen.cli.executor_options import ExecutorOption, RayAddressOption, executor_settings
from rudatagen.config import load_recipe


def filter_command(
    in_dir: Annotated[Path, typer.Option("--in", "-i", help="A generation run directory.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where the filtered run goes.")],
    recipe: RecipeOption = None,
    set_: SetOption = None,
    shard: ShardOption = None,
    decontaminate_against: Annotated[
        list[Path] | None,
        typer.Option(
            "--decontaminate-against",
            help="An evaluation set (txt, tsv, csv, jsonl, parquet or a datasets folder): rows "
            "that repeat its texts are dropped. Repeat for several; replaces the recipe's "
            "filters.decontaminate.against.",
        ),
    ] = None,
    executor: ExecutorOption = None,
    ray_address: RayAddressOption = None,
) -> None:
    """Score every candidate with each filter stage; keep, reject with a reason, report."""
    with user_errors():
        resolved = load_recipe(recipe, set_ or [])
        settings = resolved.filters
        runs_on = executor_settings(resolved.executor, executor, ray_address)
        if decontaminate_against:
            settings.decontaminate.against = list(decontaminate_against)
        from rudatagen.core.sharding import Shard
        from rudatagen.filters.job import FilterStage

        stage = FilterStage(settings, shard=Shard.parse(shard), executor=runs_on)
        result = stage.run([in_dir], out)
        say(f"done: {result.summary}")
        say(
            f"funnel: {out / 'funnel.md'}; rejects: {out / 'rejects.parquet'}; data: {out / 'data'}"
        )
