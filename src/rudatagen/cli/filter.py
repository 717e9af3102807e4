"""``rudatagen filter``: prune a generation run with the recipe's filter stages."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rudatagen.cli.common import RecipeOption, SetOption, say, user_errors
from rudatagen.config import load_recipe


def filter_command(
    in_dir: Annotated[Path, typer.Option("--in", "-i", help="A generation run directory.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where the filtered run goes.")],
    recipe: RecipeOption = None,
    set_: SetOption = None,
) -> None:
    """Score every candidate with each filter stage; keep, reject with a reason, report."""
    with user_errors():
        settings = load_recipe(recipe, set_ or []).filters
        from rudatagen.filters.job import FilterStage

        result = FilterStage(settings).run([in_dir], out)
        say(f"done: {result.summary}")
        say(
            f"funnel: {out / 'funnel.md'}; rejects: {out / 'rejects.parquet'}; data: {out / 'data'}"
        )
