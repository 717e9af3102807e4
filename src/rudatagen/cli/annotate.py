"""``rudatagen annotate push|status|pull``: the round trip through the annotation tool.

Settings come from the recipe's ``annotate:`` section (``--recipe``, ``--set``); the flags after
them override it. The tool is ``annotate.tool`` (Label Studio: URL from ``--url``,
``annotate.url`` or ``LABEL_STUDIO_URL``, the key from ``LABEL_STUDIO_API_KEY`` only).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from rudatagen.annotate.settings import AnnotateSettings
from rudatagen.cli.common import RecipeOption, SetOption, say, user_errors
from rudatagen.config import load_recipe
from rudatagen.kinds import KINDS

annotate_app = typer.Typer(
    help="Review generated data in Label Studio: push samples, check progress, pull labels.",
    no_args_is_help=True,
)

UrlOption = Annotated[
    str | None,
    typer.Option("--url", help="Label Studio URL (default: annotate.url, else $LABEL_STUDIO_URL)."),
]
ProjectOption = Annotated[
    str | None,
    typer.Option("--project", "-p", help="The project's title (default: annotate.project)."),
]
KindOption = Annotated[
    str | None,
    typer.Option(
        "--kind",
        "--task",
        "-t",
        help=f"Dataset kind ({', '.join(KINDS)}); default: the one the run's manifest records.",
    ),
]


def _settings(recipe: Path | None, set_: list[str] | None, **flags: Any) -> AnnotateSettings:
    """The recipe's ``annotate:`` section with the given flags (not None) on top."""
    return load_recipe(recipe, set_ or []).annotate.override(**flags)


@annotate_app.command("push")
def push_command(
    in_dir: Annotated[Path, typer.Option("--in", "-i", help="A generation or filter run.")],
    kind: KindOption = None,
    recipe: RecipeOption = None,
    set_: SetOption = None,
    project: ProjectOption = None,
    url: UrlOption = None,
    sample: Annotated[
        int | None,
        typer.Option("--sample", "-n", help="How many items (default: annotate.sample, or all)."),
    ] = None,
    strategy: Annotated[
        str | None,
        typer.Option(
            "--strategy",
            help="random, stratified (by label) or uncertain (default: annotate.strategy, random).",
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Sampling seed (default: annotate.seed, 0).")
    ] = None,
    annotators: Annotated[
        int | None,
        typer.Option(
            "--annotators-per-task",
            help="Annotations wanted per task (default: annotate.annotators_per_task, 2).",
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option("--batch-size", help="Tasks per import (default: annotate.batch_size, 500)."),
    ] = None,
) -> None:
    """Sample items, create or find the project, import the tasks not yet there."""
    with user_errors():
        from rudatagen.annotate.push import push
        from rudatagen.annotate.tools import make_tool
        from rudatagen.kinds import kind_of_run

        settings = _settings(
            recipe,
            set_,
            project=project,
            sample=sample,
            strategy=strategy,
            seed=seed,
            annotators_per_task=annotators,
            batch_size=batch_size,
            url=url,
        )
        spec = kind_of_run(in_dir, explicit=kind).annotation
        result = push(make_tool(settings), in_dir, spec, settings)
        for note in result.notes:
            say(f"note: {note}", color="yellow")
        say(f"done: {result.summary()}")


@annotate_app.command("status")
def status_command(
    recipe: RecipeOption = None,
    set_: SetOption = None,
    project: ProjectOption = None,
    url: UrlOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Tasks, annotated, pending, and annotations per annotator."""
    with user_errors():
        from rudatagen.annotate.tools import make_tool

        settings = _settings(recipe, set_, project=project, url=url)
        status = make_tool(settings).status(settings.require_project())
        if as_json:
            typer.echo(json.dumps(status.as_dict(), ensure_ascii=False, indent=2))
        else:
            for line in status.lines():
                typer.echo(line)


@annotate_app.command("pull")
def pull_command(
    in_dir: Annotated[Path, typer.Option("--in", "-i", help="The run that was pushed.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where the reviewed run goes.")],
    kind: KindOption = None,
    recipe: RecipeOption = None,
    set_: SetOption = None,
    project: ProjectOption = None,
    url: UrlOption = None,
    min_annotations: Annotated[
        int | None,
        typer.Option(
            "--min-annotations",
            help="Votes an item needs to be decided (default: annotate.min_annotations, else "
            "the project's annotators per task).",
        ),
    ] = None,
) -> None:
    """Export the annotations, aggregate them, write the reviewed run and the agreement."""
    with user_errors():
        from rudatagen.annotate.pull import AnnotatePull

        settings = _settings(
            recipe, set_, project=project, min_annotations=min_annotations, url=url
        )
        result = AnnotatePull(settings, kind=kind).run([in_dir], out)
        counts = result.manifest.counts
        other = counts["tasks_of_other_runs"] + counts["tasks_without_item_key"]
        if other:
            say(
                f"note: {other} task(s) in the project are not items of --in (left out)",
                color="yellow",
            )
        say(f"done: {result.summary}")
        say(f"agreement: {out / 'agreement.md'}; review: {out / 'review.parquet'}")
