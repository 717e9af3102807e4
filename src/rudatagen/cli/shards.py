"""``rudatagen merge-shards``: join the run directories of ``--shard i/N`` processes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rudatagen.cli.common import say, user_errors


def merge_shards_command(
    in_dirs: Annotated[
        list[Path],
        typer.Option("--in", "-i", help="A shard's run directory (once per shard, all N)."),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where the merged run goes.")],
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
) -> None:
    """Join the shards of one generate, filter or mine run; check that no id is there twice and
    none is missing; run the filters the shards deferred over all of them (dedup; for
    `generate wanli` shards, all the WANLI filters)."""
    with user_errors():
        from rudatagen.shards.merge import merge_shards

        result = merge_shards(in_dirs, out, progress=progress)
        say(f"done: {result.summary}")
        say(f"data: {out / 'data'}; manifest: {out / 'manifest.json'}")
