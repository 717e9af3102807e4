"""Where training and evaluation rows come from: a published split, a run, a Parquet file, the Hub.

How rows of a kind become training rows lives with the kind (``rudatagen.kinds``); this module
reads them and tells their kind, or that they follow sentence-transformers' column conventions
(``training.st_format``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from rudatagen.core.manifest import read_json
from rudatagen.errors import RudatagenError
from rudatagen.kinds import Kind, get_kind, kind_of_table
from rudatagen.training.st_format import (
    EXPECTED,
    SENTENCE_TRANSFORMERS,
    SentenceTransformersColumns,
)


def _read_parquets(files: list[Path]) -> pa.Table:
    try:
        tables = [pq.read_table(f) for f in files]
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, OSError) as exc:
        raise RudatagenError(f"unreadable Parquet under {files[0].parent}: {exc}") from None


def read_split(path: str, split: str) -> list[dict[str, Any]]:
    """Rows of ``split`` from a published folder, a run directory, a Parquet file or a Hub id.

    A published folder has ``data/{split}-*.parquet``; a run directory (``data/*.parquet`` with
    no split names) and a single Parquet file are read whole, whatever ``split`` says.
    """
    local = Path(path).expanduser()
    if local.is_file():
        if local.suffix != ".parquet":
            raise RudatagenError(f"{path}: expected a .parquet file or a dataset folder")
        return _read_parquets([local]).to_pylist()
    if local.is_dir():
        data = local / "data"
        split_files = sorted(data.glob(f"{split}-*.parquet"))
        if split_files:
            return _read_parquets(split_files).to_pylist()
        any_split = sorted(p.name.split("-")[0] for p in data.glob("*-of-*.parquet"))
        if any_split:
            raise RudatagenError(
                f"{path} has no split '{split}' (has {', '.join(sorted(set(any_split)))})"
            )
        files = sorted(data.glob("*.parquet"))
        if not files:
            raise RudatagenError(f"{path}: no data/*.parquet")
        return _read_parquets(files).to_pylist()
    if path.startswith((".", "/", "~")) or path.count("/") != 1:
        raise RudatagenError(f"dataset {path} not found (no such file or folder)")
    return _read_hub(path, split)


def _read_hub(repo_id: str, split: str) -> list[dict[str, Any]]:
    try:
        from datasets import load_dataset

        return load_dataset(repo_id, split=split).to_list()
    except Exception as exc:  # noqa: BLE001 - any Hub/network failure becomes one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RudatagenError(f"cannot load Hub dataset {repo_id} ({split}): {first}") from None


Source = Kind | SentenceTransformersColumns
"""What a training/evaluation source is read as: a rudatagen kind, or sentence-transformers'
column conventions (:mod:`rudatagen.training.st_format`)."""


def kind_of_dataset(
    path: str,
    rows: list[dict[str, Any]],
    explicit: str = "auto",
    columns: Mapping[str, str] | None = None,
) -> Source:
    """A training/evaluation source's kind: given, else its manifest's, else its columns'.

    A run directory keeps ``manifest.json``, a published folder ``rudatagen.json``; a Parquet file
    or a Hub dataset has neither and is detected from its columns: rudatagen's kinds first, then
    sentence-transformers' conventions. ``explicit="sentence-transformers"`` or a ``columns``
    mapping (role → column) reads it in those conventions straight away.
    """
    if explicit not in ("auto", SENTENCE_TRANSFORMERS) and not columns:
        return get_kind(explicit)
    if not rows:
        raise RudatagenError(f"{path}: the split is empty")
    if explicit == SENTENCE_TRANSFORMERS or columns:
        found = SentenceTransformersColumns.detect(rows[0], path, columns)
        if found is None:
            shown = ", ".join(sorted(rows[0])) or "none"
            raise RudatagenError(f"{path}: columns ({shown}) are not {EXPECTED}")
        return found
    local = Path(path).expanduser()
    for name in ("manifest.json", "rudatagen.json"):
        recorded = read_json(local / name) if local.is_dir() else None
        if recorded and recorded.get("kind"):
            return get_kind(str(recorded["kind"]))
    try:
        return kind_of_table(rows[0], path)
    except RudatagenError as unknown:
        found = SentenceTransformersColumns.detect(rows[0], path)
        if found is None:
            raise RudatagenError(f"{unknown}; or sentence-transformers' {EXPECTED}") from None
        return found
