"""Helpers shared by the command modules: one-line errors, recipe options."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from rudatagen.errors import RudatagenError

RecipeOption = Annotated[
    Path | None,
    typer.Option("--recipe", "-r", help="Recipe YAML; without one, the embedded demo defaults."),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a recipe key: --set llm.temperature=0.9"),
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
