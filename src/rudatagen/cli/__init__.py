"""The ``rudatagen`` command: one module per command group."""

from __future__ import annotations

import typer

from rudatagen.cli.generate import generate_app
from rudatagen.cli.recipe import recipe_app

app = typer.Typer(
    name="rudatagen",
    help="Build training data for Russian sentence encoders with LLMs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(generate_app, name="generate")
app.add_typer(recipe_app, name="recipe")


def main() -> None:
    app()
