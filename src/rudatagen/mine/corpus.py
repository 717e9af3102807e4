"""The corpus negatives are mined from: a table file, or a run directory's records.

Passages are stripped, empty ones dropped and repeats kept once (first seen), so the miner's
exclusion of a query's positive by text match is not defeated by stray whitespace.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from rudatagen.core.rundir import read_run_table
from rudatagen.core.tables import read_table
from rudatagen.errors import RudatagenError
from rudatagen.mine.settings import CorpusSettings

PASSAGE_COLUMNS = ("text", "passage", "positive")  # tried in order when no column is set


def read_corpus(path: Path, settings: CorpusSettings) -> tuple[list[str], str]:
    """The distinct passages of ``path`` and the column they came from."""
    if path.is_dir() and (path / "data").is_dir():
        table = read_run_table(path)
    else:
        wanted = [settings.column] if settings.column else None
        table = read_table(
            path,
            wanted,
            format=settings.format,
            split=settings.split,
            format_setting="mine.corpus.format",
        )
    column = _passage_column(path, table, settings.column)
    values = table.column(column)
    text_types = (pa.types.is_string, pa.types.is_large_string, pa.types.is_null)
    if not any(is_type(values.type) for is_type in text_types):
        raise RudatagenError(
            f"--corpus {path}: column '{column}' holds {values.type}, not passage texts"
        )
    passages = dict.fromkeys(
        text for text in (str(v).strip() for v in values.to_pylist() if v is not None) if text
    )
    if not passages:
        raise RudatagenError(f"--corpus {path}: column '{column}' holds no passages (empty corpus)")
    return list(passages), column


def _passage_column(path: Path, table: pa.Table, column: str | None) -> str:
    names = table.column_names
    if column is not None:
        if column not in names:
            raise RudatagenError(
                f"--corpus {path} has no column '{column}' (has {', '.join(names) or 'none'})"
            )
        return column
    for candidate in PASSAGE_COLUMNS:
        if candidate in names:
            return candidate
    raise RudatagenError(
        f"--corpus {path} has no passage column: none of {', '.join(PASSAGE_COLUMNS)} "
        f"(has {', '.join(names) or 'none'}); set mine.corpus.column"
    )
