"""The ``rudatagen`` command: one module per command group."""

from __future__ import annotations

from typing import Annotated

import typer

from rudatagen import __version__
from rudatagen.cli.filter import filter_command
from rudatagen.cli.generate import generate_app
from rudatagen.cli.models import calibrate_command, train_cross_encoder_command
from rudatagen.cli.recipe import recipe_app

app = typer.Typer(
    name="rudatagen",
    help="Build training data for Russian sentence encoders with LLMs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rudatagen {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """Build training data for Russian sentence encoders with LLMs."""


app.add_typer(generate_app, name="generate")
app.add_typer(recipe_app, name="recipe")
app.command("filter")(filter_command)
app.command("calibrate")(calibrate_command)
app.command("train-cross-encoder")(train_cross_encoder_command)


def main() -> None:
    app()
