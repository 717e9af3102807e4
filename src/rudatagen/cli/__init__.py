"""The ``rudatagen`` command: one module per command group."""

from __future__ import annotations

from typing import Annotated

import typer

from rudatagen import __version__
from rudatagen.cli.annotate import annotate_app
from rudatagen.cli.filter import filter_command
from rudatagen.cli.generate import generate_app
from rudatagen.cli.merge import merge_models_command
from rudatagen.cli.mine import mine_command
from rudatagen.cli.models import calibrate_command, train_cross_encoder_command
from rudatagen.cli.nli import cartography_command, wanli_command
from rudatagen.cli.passages import passages_command
from rudatagen.cli.publish import publish_command
from rudatagen.cli.recipe import recipe_app
from rudatagen.cli.shards import merge_shards_command
from rudatagen.cli.shift import shift_command
from rudatagen.cli.train import evaluate_command, train_command

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
app.add_typer(annotate_app, name="annotate")
app.command("filter")(filter_command)
app.command("passages")(passages_command)
app.command("mine")(mine_command)
app.command("calibrate")(calibrate_command)
app.command("train-cross-encoder")(train_cross_encoder_command)
app.command("publish")(publish_command)
app.command("train")(train_command)
app.command("evaluate")(evaluate_command)
app.command("merge-models")(merge_models_command)
app.command("shift")(shift_command)
app.command("merge-shards")(merge_shards_command)
app.command("cartography")(cartography_command)
generate_app.command("wanli")(wanli_command)


def main() -> None:
    app()
