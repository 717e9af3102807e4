"""``rudatagen passages``: the passages a ``generate queries`` run reads, written as a table.

Mining wants the passages the queries were written for as its corpus: each query's own passage
is then in it, and the other passages of its document are its hardest rivals. This command reads
the source exactly as ``generate queries`` does (the same recipe resolution with ``task=retrieval``,
``--set`` and the same flags, then :func:`rudatagen.sources.read_source`), so its ``id`` and
``text`` columns are the run's ``passage_id`` and ``positive`` values. It has no ``--shard``: a
mining corpus should hold every passage, whichever shard wrote the queries.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import pyarrow as pa
import typer

from rudatagen.cli.common import RecipeOption, SetOption, say, user_errors
from rudatagen.cli.generate import resolve_recipe
from rudatagen.core.rundir import write_parquet_atomic
from rudatagen.errors import RudatagenError
from rudatagen.sources import SourceText, read_source

TABLE_SUFFIXES = (".parquet", ".jsonl")


def passages_command(
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="The table to write: .parquet or .jsonl (id, text)."),
    ],
    source: Annotated[
        Path | None,
        typer.Option(
            "--source",
            help="Passages or documents: .txt, .tsv, .csv, .jsonl, .parquet or a saved HF dataset.",
        ),
    ] = None,
    recipe: RecipeOption = None,
    set_: SetOption = None,
    column: Annotated[str | None, typer.Option(help="Text column of a table source.")] = None,
    limit: Annotated[int | None, typer.Option(help="Use at most N passages (sampled).")] = None,
    seed: Annotated[int | None, typer.Option(help="Sampling seed for --limit.")] = None,
) -> None:
    """Write the passages `generate queries` would read with the same recipe and flags (their
    ids and texts), e.g. as the corpus of `rudatagen mine`."""
    with user_errors():
        suffix = _table_suffix(out)
        resolved = resolve_recipe(
            recipe,
            ["task=retrieval", *(set_ or [])],
            source=source,
            column=column,
            limit=limit,
            seed=seed,
        )
        settings = resolved.source
        path = Path(settings.path or "")  # resolve_recipe refuses a recipe without a source
        if out.exists() and out.resolve() == path.resolve():
            raise RudatagenError(f"--out {out} is the source itself: write the table elsewhere")
        passages, report = read_source(path, settings)
        write_passages(out, passages, suffix)
        what = "passages" if settings.passages.enabled else "texts (passage mode is off)"
        say(f"wrote {len(passages)} {what} to {out}; source: {report.summary()}")


def _table_suffix(out: Path) -> str:
    suffix = out.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        shown = f"'{out.suffix}'" if out.suffix else "no extension"
        raise RudatagenError(f"--out {out} has {shown}: name a .parquet or .jsonl file")
    if out.is_dir():
        raise RudatagenError(f"--out {out} is a directory: name a .parquet or .jsonl file")
    return suffix


def write_passages(out: Path, passages: list[SourceText], suffix: str) -> None:
    """``id`` and ``text`` of each passage, in source order; the file appears whole or not at
    all (written under a temporary name, then renamed)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".parquet":
        ids = [p.id for p in passages]
        texts = [p.text for p in passages]
        write_parquet_atomic(out, pa.table({"id": ids, "text": texts}))
        return
    tmp = out.with_name(f".{out.name}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for passage in passages:
            line = json.dumps({"id": passage.id, "text": passage.text}, ensure_ascii=False)
            handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, out)
