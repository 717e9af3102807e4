"""``rudatagen recipe``: show or check a resolved recipe."""

from __future__ import annotations

import typer
import yaml

from rudatagen.cli.common import RecipeOption, SetOption, say, user_errors
from rudatagen.config import load_recipe

recipe_app = typer.Typer(help="Inspect recipes.", no_args_is_help=True)


@recipe_app.command("show")
def show(recipe: RecipeOption = None, set_: SetOption = None) -> None:
    """Print the resolved recipe (file + overrides + defaults) as YAML."""
    with user_errors():
        resolved = load_recipe(recipe, set_ or [])
        typer.echo(yaml.safe_dump(resolved.public_dict(), sort_keys=False, allow_unicode=True))


@recipe_app.command("check")
def check(recipe: RecipeOption = None, set_: SetOption = None) -> None:
    """Validate a recipe; exit 0 and say so, or print the problem on one line."""
    with user_errors():
        resolved = load_recipe(recipe, set_ or [])
        say(
            f"ok: task {resolved.task}, backend {resolved.llm.backend}, model {resolved.llm.model}",
            err=False,
        )
