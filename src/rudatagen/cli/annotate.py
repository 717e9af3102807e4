"""``rudatagen annotate push|status|pull``: the Label Studio round trip.

The server URL comes from ``LABEL_STUDIO_URL`` (or ``--url``), the key from
``LABEL_STUDIO_API_KEY`` only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from rudatagen.cli.common import say, user_errors

annotate_app = typer.Typer(
    help="Review generated data in Label Studio: push samples, check progress, pull labels.",
    no_args_is_help=True,
)

UrlOption = Annotated[
    str | None,
    typer.Option("--url", help="Label Studio URL (default: $LABEL_STUDIO_URL)."),
]
ProjectOption = Annotated[str, typer.Option("--project", "-p", help="The project's title.")]
KindOption = Annotated[
    str | None,
    typer.Option(
        "--kind",
        "--task",
        "-t",
        help="Dataset kind (ruhnp, wanli); default: the one the run's manifest records.",
    ),
]


@annotate_app.command("push")
def push_command(
    in_dir: Annotated[Path, typer.Option("--in", "-i", help="A generation or filter run.")],
    project: ProjectOption,
    sample: Annotated[
        int | None, typer.Option("--sample", "-n", help="How many items (default: all).")
    ] = None,
    strategy: Annotated[
        str, typer.Option("--strategy", help="random, stratified (by label) or uncertain.")
    ] = "random",
    seed: Annotated[int, typer.Option("--seed", help="Sampling seed.")] = 0,
    annotators: Annotated[
        int, typer.Option("--annotators-per-task", help="Annotations wanted per task.")
    ] = 2,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Tasks per import.")] = 500,
    url: UrlOption = None,
    kind: KindOption = None,
) -> None:
    """Sample items, create or find the project, import the tasks not yet there."""
    with user_errors():
        from rudatagen.annotate.connection import connect
        from rudatagen.annotate.push import push
        from rudatagen.kinds import kind_of_run

        spec = kind_of_run(in_dir, explicit=kind).annotation
        conn = connect(url)
        result = push(
            conn,
            in_dir,
            spec,
            project,
            size=sample,
            strategy=strategy,
            seed=seed,
            annotators=annotators,
            batch_size=batch_size,
        )
        for note in result.notes:
            say(f"note: {note}", color="yellow")
        say(f"done: {result.summary()}")


@annotate_app.command("status")
def status_command(
    project: ProjectOption,
    url: UrlOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Tasks, annotated, pending, and annotations per annotator."""
    with user_errors():
        from rudatagen.annotate.connection import connect
        from rudatagen.annotate.status import project_status

        status = project_status(connect(url), project)
        if as_json:
            typer.echo(json.dumps(status.as_dict(), ensure_ascii=False, indent=2))
        else:
            for line in status.lines():
                typer.echo(line)


@annotate_app.command("pull")
def pull_command(
    project: ProjectOption,
    in_dir: Annotated[Path, typer.Option("--in", "-i", help="The run that was pushed.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where the reviewed run goes.")],
    min_annotations: Annotated[
        int | None,
        typer.Option(
            "--min-annotations",
            help="Votes an item needs to be decided (default: the project's annotators per task).",
        ),
    ] = None,
    url: UrlOption = None,
    kind: KindOption = None,
) -> None:
    """Export the annotations, aggregate them, write the reviewed run and the agreement."""
    with user_errors():
        from rudatagen.annotate.connection import connect
        from rudatagen.annotate.pull import pull
        from rudatagen.kinds import kind_of_run

        spec = kind_of_run(in_dir, explicit=kind).annotation
        result = pull(connect(url), project, in_dir, out, spec, min_votes=min_annotations)
        other = result.counts["tasks_of_other_runs"] + result.counts["tasks_without_item_key"]
        if other:
            say(
                f"note: {other} task(s) in the project are not items of --in (left out)",
                color="yellow",
            )
        say(f"done: {result.summary()}")
        say(f"agreement: {out / 'agreement.md'}; review: {out / 'review.parquet'}")
