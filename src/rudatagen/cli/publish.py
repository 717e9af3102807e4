"""``rudatagen publish``: a run directory → a Hub dataset folder (and optionally the Hub)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from rudatagen.cli.common import RecipeOption, SetOption, recipe_section, say, user_errors
from rudatagen.errors import RudatagenError
from rudatagen.kinds import KINDS


def publish_command(
    in_dir: Annotated[
        Path, typer.Option("--in", "-i", help="Run directory (generate, filter, pull or WANLI).")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The dataset folder to write.")],
    split: Annotated[
        list[str] | None,
        typer.Option(
            "--split",
            help="Held-out split size: validation=0.05, test=2000 (fraction or row count; "
            "repeatable; train takes the rest; 0 drops a split). Default: the recipe's "
            "publish.splits (validation=0.05, test=0.05).",
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the group-wise split.")] = None,
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind",
            "--task",
            help=f"Dataset kind ({', '.join(KINDS)}): only for data without a manifest, which "
            "is otherwise detected from its columns.",
        ),
    ] = None,
    keep_unresolved: Annotated[
        bool | None, typer.Option(help="Keep rows whose review_status is 'unresolved'.")
    ] = None,
    license_id: Annotated[
        str | None, typer.Option("--license", help="Licence id for the card.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Pretty name in the card.")] = None,
    source_note: Annotated[
        str | None, typer.Option(help="Where the source texts came from (goes into the card).")
    ] = None,
    repo_id: Annotated[
        str | None, typer.Option("--repo-id", help="OWNER/NAME on the Hub (for --push).")
    ] = None,
    push: Annotated[
        bool, typer.Option("--push", help="Create the dataset repo and upload the folder.")
    ] = False,
    private: Annotated[
        bool | None, typer.Option("--private/--public", help="Visibility of a new repo.")
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option(help="Hub URL (default: HF_ENDPOINT or huggingface.co).")
    ] = None,
    tag: Annotated[
        str | None,
        typer.Option(
            "--tag",
            help="With --push: tag the uploaded commit as a release (e.g. v1.0); "
            "a tag that already exists is an error.",
        ),
    ] = None,
    recipe: RecipeOption = None,
    set_: SetOption = None,
) -> None:
    """Split by group, write data/{split}-*.parquet and the dataset card; --push uploads it."""
    with user_errors():
        from rudatagen.publish.job import PublishStage
        from rudatagen.publish.splits import parse_sizes

        flags = {
            "seed": seed,
            "keep_unresolved": keep_unresolved,
            "license": license_id,
            "pretty_name": name,
            "source_note": source_note,
            "repo_id": repo_id,
            "private": private,
            "endpoint": endpoint,
        }
        settings = recipe_section(recipe, set_, "publish", flags)
        if split:
            settings = settings.model_copy(update={"splits": parse_sizes(split, settings.splits)})
        if push and not settings.repo_id:
            raise RudatagenError("--push needs --repo-id OWNER/NAME (or publish.repo_id)")
        if tag is not None and not push:
            raise RudatagenError("--tag needs --push (it tags the uploaded commit on the Hub)")
        token = None
        if push:
            from rudatagen.publish.hub import check_tag, hub_token

            if tag is not None:
                check_tag(tag)
            token = hub_token()  # fail before any work when there is no token
        result = PublishStage(settings, kind).run([in_dir], out)
        say(result.summary)
        if push and token and settings.repo_id:
            from rudatagen.publish.hub import push_folder

            visibility = "private" if settings.private else "public"
            say(f"pushing {out} to {settings.repo_id} ({visibility}) …")
            pushed = push_folder(
                out,
                settings.repo_id,
                private=settings.private,
                token=token,
                endpoint=settings.endpoint or os.environ.get("HF_ENDPOINT") or None,
                tag=tag,
            )
            say(f"pushed: {pushed.commit_url}")
            if pushed.tag:
                say(f"tagged: {pushed.tag} → {pushed.commit_oid}")
