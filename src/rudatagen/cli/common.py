"""Helpers shared by the command modules: one-line errors, recipe options."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from rudatagen.errors import RudatagenError

RecipeOption = Annotated[
    Path | None,
    typer.Option("--recipe", "-r", help="Recipe YAML; without one, the embedded demo defaults."),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a recipe key: --set llm.temperature=0.9"),
]
ShardOption = Annotated[
    str | None,
    typer.Option(
        "--shard",
        help="Do part INDEX/COUNT of the work (0-based; e.g. 2/8 in a Slurm array), into its own "
        "--out; `rudatagen merge-shards` joins the parts.",
    ),
]


def say(message: str, *, err: bool = True, color: str | None = None) -> None:
    typer.secho(message, err=err, fg=color)


@contextmanager
def user_errors() -> Iterator[None]:
    """Print a :class:`RudatagenError` as one line (no traceback) and exit with status 2."""
    try:
        yield
    except RudatagenError as exc:
        say(f"error: {exc}", color="red")
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        say("interrupted", color="yellow")
        raise typer.Exit(130) from None


def recipe_section(
    recipe: Path | None, overrides: list[str] | None, section: str, flags: dict[str, Any]
) -> Any:
    """The recipe's ``section`` with the given command-line flags (those not None) on top.

    Flags are the command's own names for keys of its section; they win over ``--set`` and the
    file, which win over the defaults. Bad values are one-line errors like the recipe's.
    """
    from rudatagen.config import load_recipe
    from rudatagen.core.recipe_io import format_validation_error

    current = getattr(load_recipe(recipe, overrides or []), section)
    given = {key: value for key, value in flags.items() if value is not None}
    if not given:
        return current
    try:
        return type(current).model_validate({**current.model_dump(), **given})
    except ValidationError as exc:
        raise RudatagenError(format_validation_error(exc, f"options of {section}")) from None
