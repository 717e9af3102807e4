"""``rudatagen mine``: hard negatives from a corpus for a retrieval or RuHNP run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rudatagen.cli.common import (
    RecipeOption,
    SetOption,
    ShardOption,
    recipe_section,
    say,
    user_errors,
)
from rudatagen.cli.executor_options import ExecutorOption, RayAddressOption, executor_settings


def mine_command(
    in_dir: Annotated[Path, typer.Option("--in", "-i", help="A retrieval or RuHNP run directory.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where the mined run goes.")],
    corpus: Annotated[
        Path | None,
        typer.Option(
            "--corpus",
            "-c",
            help="Passages to mine from: a table (parquet/tsv/csv/jsonl/txt) or a run "
            "directory (default: mine.corpus.path).",
        ),
    ] = None,
    column: Annotated[
        str | None,
        typer.Option("--column", help="The corpus's passage column (mine.corpus.column)."),
    ] = None,
    recipe: RecipeOption = None,
    set_: SetOption = None,
    shard: ShardOption = None,
    executor: ExecutorOption = None,
    ray_address: RayAddressOption = None,
) -> None:
    """Fill the run's negatives from the corpus (sentence-transformers' mine_hard_negatives);
    the corpus embeddings are kept under OUT/embeddings and reused on a re-run."""
    with user_errors():
        settings = recipe_section(recipe, set_, "mine", {})
        runs_on = executor_settings(
            recipe_section(recipe, set_, "executor", {}), executor, ray_address
        )
        flags = {"path": str(corpus) if corpus else None, "column": column}
        given = {key: value for key, value in flags.items() if value is not None}
        if given:
            corpus_settings = settings.corpus.model_copy(update=given)
            settings = settings.model_copy(update={"corpus": corpus_settings})
        from rudatagen.core.sharding import Shard
        from rudatagen.mine.job import MineStage

        stage = MineStage(settings, shard=Shard.parse(shard), executor=runs_on)
        result = stage.run([in_dir], out)
        say(f"done: {result.summary}")
        say(f"data: {out / 'data'}; miner's statistics: {out / 'mine.log'}")
