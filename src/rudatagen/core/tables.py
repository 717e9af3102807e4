"""Read a table from a file or a saved dataset: one format rule, one set of one-line errors.

Formats, told by the extension unless given: ``.txt`` (one value per line, in the column
``text``; blank lines are empty values), ``.tsv`` and ``.csv`` (a header line, then one row per
line; a quoted CSV field may span lines), ``.jsonl`` (one JSON object per line), ``.parquet``,
and a folder written by ``datasets.save_to_disk`` (``hf``; ``split`` picks one split of a
``DatasetDict``). Blank lines of tsv/csv/jsonl are not rows.

Values: txt/tsv/csv cells are strings as written (a row too short to reach a column gives
``None`` there); jsonl values keep their JSON types, parquet and hf their Arrow types.

Every problem is a one-line ``RudatagenError`` naming the path: not found, a format that cannot
be told, a file that cannot be read (with the line for the line formats), a missing column
(naming the columns present) or split.

The line formats are read with the standard library, not ``pyarrow.csv`` / ``pyarrow.json``:
those report no line numbers (pyarrow.csv only when single-threaded), turn undecodable bytes
into a binary column without a word, let an unclosed quote swallow the rest of the file, infer
types (a text column of digits becomes integers), reject a ragged row, and fail a whole JSONL
file when one field changes type between lines (a source may hold ``null`` or ``42`` where a
text is expected: that is a skipped row, not an unreadable file). TSV is read without quote
handling, so quotes inside Russian texts (``"Вечерний город"``) stay as written. Parquet and
saved datasets go through pyarrow and ``datasets``.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa

from rudatagen.errors import RudatagenError

FORMATS = {
    ".txt": "txt",
    ".tsv": "tsv",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".parquet": "parquet",
}
TableFormat = Literal["auto", "txt", "tsv", "csv", "jsonl", "parquet", "hf"]
TEXT_COLUMN = "text"  # the one column of a .txt file

_BOM = "\ufeff"
_BATCH_ROWS = 4096
# A reader first yields the column names it knows (None: JSONL, known per line), then rows.
_Reader = Iterator[Any]


def detect_format(path: Path, declared: str = "auto", *, format_setting: str = "") -> str:
    """The format of ``path``: ``declared`` unless it is ``"auto"``, else by its extension (a
    folder is ``hf``). ``format_setting`` names the recipe key that sets the format, for the
    error. Raises when ``path`` does not exist or is a folder for a file format (or a file for
    ``hf``)."""
    path = Path(path)
    if not path.exists():
        raise RudatagenError(f"not found: {path}")
    fmt = declared
    if fmt == "auto":
        fmt = "hf" if path.is_dir() else FORMATS.get(path.suffix.lower(), "")
    if not fmt:
        shown = f"'{path.suffix.lower()}'" if path.suffix else "no extension"
        hint = f" (or set {format_setting})" if format_setting else ""
        raise RudatagenError(
            f"cannot tell the format of {path} ({shown}); supported: {', '.join(FORMATS)} or "
            f"a folder saved with datasets.save_to_disk{hint}"
        )
    if fmt == "hf" and not path.is_dir():
        raise RudatagenError(
            f"{path} is not a folder; format 'hf' expects a datasets.save_to_disk folder"
        )
    if fmt != "hf" and path.is_dir():
        raise RudatagenError(f"{path} is a folder, but format '{fmt}' expects a file")
    return fmt


def iter_rows(
    path: Path,
    columns: Sequence[str] | None = None,
    *,
    format: str = "auto",
    split: str = "train",
    format_setting: str = "",
) -> Iterator[dict[str, Any]]:
    """Stream the rows of ``path`` as dicts holding ``columns`` (all columns when None).

    The file is checked and its header or schema read before this returns, so a missing file,
    format, split or column raises here; a bad line raises when the iteration reaches it.
    """
    rows, _ = _open(Path(path), columns, format, split, format_setting)
    return rows


def read_table(
    path: Path,
    columns: Sequence[str] | None = None,
    *,
    format: str = "auto",
    split: str = "train",
    format_setting: str = "",
) -> pa.Table:
    """The whole of ``path`` (or its ``columns``) as an Arrow table, columns in file order."""
    path = Path(path)
    fmt = detect_format(path, format, format_setting=format_setting)
    wanted = _unique(columns)
    if fmt == "parquet":
        parquet = _parquet_file(path)
        _require(path, wanted, parquet.schema_arrow.names)
        return parquet.read(columns=wanted)
    if fmt == "hf":
        dataset = _hf_dataset(path, split)
        _require(path, wanted, dataset.column_names)
        if wanted is not None:
            dataset = dataset.select_columns(wanted)
        return dataset.with_format("arrow")[:]
    rows, names = _open(path, wanted, fmt, split, format_setting)
    records = list(rows)
    if names is None:  # JSONL without asked-for columns: every key, in order of appearance
        names = list(dict.fromkeys(key for record in records for key in record))
    arrays = {}
    for name in names:
        try:
            arrays[name] = pa.array([record.get(name) for record in records])
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise RudatagenError(
                f"{path}: column '{name}' mixes value types ({_one_line(exc)})"
            ) from None
    return pa.table(arrays)


# --------------------------------------------------------------------------- shared helpers


def _open(
    path: Path, columns: Sequence[str] | None, declared: str, split: str, format_setting: str
) -> tuple[Iterator[dict[str, Any]], list[str] | None]:
    """The rows of ``path`` and its column names (None for JSONL without ``columns``)."""
    fmt = detect_format(path, declared, format_setting=format_setting)
    reader = _READERS[fmt](path, _unique(columns), split)
    names = next(reader)  # the header, schema or split is checked here, before any row
    return reader, names


def _unique(columns: Sequence[str] | None) -> list[str] | None:
    return None if columns is None else list(dict.fromkeys(columns))


def _one_line(message: object) -> str:
    """The first non-empty line of an exception message (third-party ones can be long)."""
    for line in str(message).splitlines():
        if line.strip():
            return line.strip()
    return type(message).__name__


def _require(
    path: Path, wanted: list[str] | None, present: Iterable[object], where: str = ""
) -> None:
    """Raise naming every column of ``wanted`` that is not ``present``, and those present."""
    names = [str(name) for name in present]
    missing = [name for name in wanted or () if name not in names]
    if missing:
        shown = ", ".join(repr(name) for name in names) or "(none)"
        raise RudatagenError(
            f"{path}{where} has no column {', '.join(repr(m) for m in missing)}; "
            f"its columns: {shown}"
        )


def _decoded_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line_number, line)`` of a UTF-8 file, line endings kept, a leading BOM dropped.

    The file is decoded line by line, so an undecodable byte is reported with its line number
    and byte offset.
    """
    offset = 0
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise RudatagenError(f"cannot read {path}: {exc.strerror or exc}") from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise RudatagenError(
                    f"{path} is not valid UTF-8: line {number}, byte offset {offset + exc.start}"
                ) from None
            if number == 1 and line.startswith(_BOM):
                line = line[1:]
            offset += len(raw)
            yield number, line


# --------------------------------------------------------------------------- line formats


def _read_txt(path: Path, columns: list[str] | None, split: str) -> _Reader:
    _require(path, columns, [TEXT_COLUMN])
    yield [TEXT_COLUMN]
    for _, line in _decoded_lines(path):
        yield {TEXT_COLUMN: line.rstrip("\r\n")}


def _read_delimited(path: Path, columns: list[str] | None, *, tsv: bool) -> _Reader:
    """A header line, then rows; a name that appears twice in the header means its first."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # the default is 128 KiB per field
    # strict: a quote left open, or text after a closing quote, is an error with its line
    dialect: dict[str, Any] = {"delimiter": "\t", "quoting": csv.QUOTE_NONE} if tsv else {}
    dialect["strict"] = True
    reader = csv.reader((line for _, line in _decoded_lines(path)), **dialect)
    try:
        header = next(reader, None)
        if header is None:
            raise RudatagenError(f"{path} is empty (no header line)")
        names = [name.strip() for name in header]
        _require(path, columns, names)
        picked = [(name, names.index(name)) for name in columns or dict.fromkeys(names)]
        yield [name for name, _ in picked]
        for row in reader:
            if row:
                yield {name: row[i] if i < len(row) else None for name, i in picked}
    except csv.Error as exc:
        kind = "TSV" if tsv else "CSV"
        raise RudatagenError(f"{path} is not valid {kind}: line {reader.line_num}: {exc}") from None


def _read_tsv(path: Path, columns: list[str] | None, split: str) -> _Reader:
    return _read_delimited(path, columns, tsv=True)


def _read_csv(path: Path, columns: list[str] | None, split: str) -> _Reader:
    return _read_delimited(path, columns, tsv=False)


def _read_jsonl(path: Path, columns: list[str] | None, split: str) -> _Reader:
    """One object per line; each line must have every column of ``columns``."""
    yield columns
    for number, line in _decoded_lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RudatagenError(f"{path}: invalid JSON on line {number}: {exc.msg}") from None
        if not isinstance(record, dict):
            raise RudatagenError(
                f"{path}: line {number} is a JSON {type(record).__name__}, expected an object"
            )
        if columns is None:
            yield record
            continue
        _require(path, columns, record, where=f" (line {number})")
        yield {name: record[name] for name in columns}


# --------------------------------------------------------------------------- columnar formats


def _parquet_file(path: Path) -> Any:
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise RudatagenError(f"{path} is not a readable Parquet file: {_one_line(exc)}") from None


def _read_parquet(path: Path, columns: list[str] | None, split: str) -> _Reader:
    parquet = _parquet_file(path)
    _require(path, columns, parquet.schema_arrow.names)
    yield columns or parquet.schema_arrow.names
    for batch in parquet.iter_batches(batch_size=_BATCH_ROWS, columns=columns):
        yield from batch.to_pylist()


def _hf_dataset(path: Path, split: str) -> Any:
    """A ``datasets.Dataset`` from a ``save_to_disk`` folder, ``split`` of a ``DatasetDict``."""
    import datasets

    try:
        loaded = datasets.load_from_disk(str(path))
    except (OSError, ValueError) as exc:  # e.g. a folder that holds no saved dataset
        raise RudatagenError(
            f"{path} is not a dataset saved with datasets.save_to_disk: {_one_line(exc)}"
        ) from None
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            available = ", ".join(repr(name) for name in loaded) or "(none)"
            raise RudatagenError(
                f"split '{split}' not found in {path}; available splits: {available}"
            )
        return loaded[split]
    return loaded


def _read_hf(path: Path, columns: list[str] | None, split: str) -> _Reader:
    dataset = _hf_dataset(path, split)
    _require(path, columns, dataset.column_names)
    if columns is not None:
        dataset = dataset.select_columns(columns)
    yield list(dataset.column_names)
    for batch in dataset.with_format("arrow").iter(batch_size=_BATCH_ROWS):
        yield from batch.to_pylist()


_READERS = {
    "txt": _read_txt,
    "tsv": _read_tsv,
    "csv": _read_csv,
    "jsonl": _read_jsonl,
    "parquet": _read_parquet,
    "hf": _read_hf,
}
