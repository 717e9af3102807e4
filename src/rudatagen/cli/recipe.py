"""``rudatagen recipe``: show or check a resolved recipe (generation or training)."""

from __future__ import annotations

from pathlib import Path

import typer
import yaml

from rudatagen.cli.common import RecipeOption, SetOption, say, user_errors
from rudatagen.config import load_recipe, read_recipe_file
from rudatagen.strict import StrictModel


def _resolve(recipe: Path | None, overrides: list[str]) -> StrictModel:
    """A ``task: train`` file is a training recipe; anything else a generation recipe."""
    if recipe is not None and read_recipe_file(recipe).get("task") == "train":
        from rudatagen.training.recipe import load_train_recipe

        return load_train_recipe(recipe, overrides)
    return load_recipe(recipe, overrides)


def _describe(resolved: StrictModel) -> str:
    from rudatagen.config import Recipe

    if isinstance(resolved, Recipe):
        return f"task {resolved.task}, backend {resolved.llm.backend}, model {resolved.llm.model}"
    names = ", ".join(d.name for d in resolved.datasets)  # type: ignore[attr-defined]
    return f"task train, base model {resolved.model.base}, datasets {names}"  # type: ignore[attr-defined]


recipe_app = typer.Typer(help="Inspect recipes.", no_args_is_help=True)


@recipe_app.command("show")
def show(recipe: RecipeOption = None, set_: SetOption = None) -> None:
    """Print the resolved recipe (file + overrides + defaults) as YAML."""
    with user_errors():
        resolved = _resolve(recipe, set_ or [])
        data = resolved.model_dump(mode="json")
        typer.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


@recipe_app.command("check")
def check(recipe: RecipeOption = None, set_: SetOption = None) -> None:
    """Validate a recipe; exit 0 and say so, or print the problem on one line."""
    with user_errors():
        say(f"ok: {_describe(_resolve(recipe, set_ or []))}", err=False)
