"""Read source texts from a file or a saved dataset, normalise, filter and deduplicate them.

Every format is read as a stream of raw values (one per line or row); the same pipeline then
normalises each value, optionally splits it into sentences, filters the candidates and drops
duplicates. Problems with the input raise ``RudatagenError`` with a one-line message that
names the file.
"""

from __future__ import annotations

import csv
import json
import random
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rudatagen.config import SourceSettings
from rudatagen.errors import RudatagenError
from rudatagen.text import cyrillic_share, normalise_text, split_sentences, text_id

SKIP_REASONS = (
    "not_text",
    "empty",
    "too_short",
    "too_long",
    "low_cyrillic",
    "duplicate",
    "over_limit",
)

EXTENSIONS = {
    ".txt": "txt",
    ".tsv": "tsv",
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".parquet": "parquet",
}

_BOM = "\ufeff"
_BATCH_ROWS = 4096


@dataclass(frozen=True)
class SourceText:
    """One kept source text: ``text`` is normalised and ``id`` is ``text_id(text)``."""

    id: str
    text: str


@dataclass
class SourceReport:
    """What happened to the rows of one source.

    ``candidates`` counts the texts after optional sentence splitting (a row that is not text
    counts as one candidate), so ``kept + sum(skipped.values()) == candidates`` always holds,
    and without sentence splitting ``candidates == rows_read``.
    """

    path: str
    rows_read: int = 0
    candidates: int = 0
    kept: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str, count: int = 1) -> None:
        """Count ``count`` candidates dropped for ``reason`` (one of ``SKIP_REASONS``)."""
        self.skipped[reason] = self.skipped.get(reason, 0) + count

    def skipped_summary(self) -> str:
        """Non-zero skip counts in pipeline order, e.g. ``"duplicate 3, too_short 2"``."""
        ordered = [r for r in SKIP_REASONS if self.skipped.get(r)]
        ordered += sorted(r for r in self.skipped if r not in SKIP_REASONS and self.skipped[r])
        return ", ".join(f"{reason} {self.skipped[reason]}" for reason in ordered)

    def summary(self) -> str:
        """One line, e.g. ``read 120 rows → 118 texts, kept 100; skipped: duplicate 3``."""
        line = f"read {self.rows_read} rows → {self.candidates} texts, kept {self.kept}"
        skipped = self.skipped_summary()
        return f"{line}; skipped: {skipped}" if skipped else line


# --------------------------------------------------------------------------- format detection


def _supported_formats() -> str:
    return ", ".join(EXTENSIONS) + " or a directory saved with datasets.save_to_disk"


def detect_format(path: Path, declared: str) -> str:
    """The reader to use for ``path``: ``declared`` unless it is ``"auto"``."""
    if declared != "auto":
        return declared
    if path.is_dir():
        return "hf"
    suffix = path.suffix.lower()
    if suffix not in EXTENSIONS:
        shown = f"'{suffix}'" if suffix else "no extension"
        raise RudatagenError(
            f"cannot tell the format of {path} ({shown}); supported: {_supported_formats()}"
            " (or set source.format)"
        )
    return EXTENSIONS[suffix]


def _check_kind(path: Path, fmt: str) -> None:
    """Fail early when a folder is given for a file format, or a file for format 'hf'."""
    if fmt == "hf" and not path.is_dir():
        raise RudatagenError(
            f"source {path} is not a directory; format 'hf' expects a datasets.save_to_disk folder"
        )
    if fmt != "hf" and path.is_dir():
        raise RudatagenError(f"source {path} is a directory, but format '{fmt}' expects a file")


def _no_rows_message(path: Path) -> str:
    if path.is_file() and path.stat().st_size == 0:
        return f"source {path} is empty (0 bytes)"
    return f"source {path} has no rows to read"


def _one_line(message: object) -> str:
    """The first non-empty line of an exception message (third-party ones can be long)."""
    for line in str(message).splitlines():
        if line.strip():
            return line.strip()
    return type(message).__name__


def _missing_column(path: Path, column: str, available: Iterable[object], where: str = "") -> str:
    names = ", ".join(repr(str(name)) for name in available) or "(none)"
    return f"column '{column}' not found in {path}{where}; available columns: {names}"


# --------------------------------------------------------------------------- text files


def _decoded_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` from a UTF-8 file, line endings kept, BOM dropped.

    The file is read in binary and decoded line by line, so an undecodable byte is reported
    with its line number and byte offset.
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


def _read_txt(path: Path, settings: SourceSettings) -> Iterator[object]:
    """One text per line; blank lines come through as empty strings."""
    for _, line in _decoded_lines(path):
        yield line.rstrip("\r\n")


def _raise_csv_field_limit() -> None:
    """Let csv accept very long fields (the default limit is 128 KiB)."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


def _read_delimited(path: Path, settings: SourceSettings, *, tsv: bool) -> Iterator[object]:
    """Rows of a CSV/TSV file with a header; yields the ``settings.column`` cell of each row.

    TSV is read without quote handling, so quotes inside texts stay as written. A row too
    short to have the column yields ``None``.
    """
    _raise_csv_field_limit()
    lines = (line for _, line in _decoded_lines(path))
    dialect: dict[str, Any] = {"delimiter": "\t", "quoting": csv.QUOTE_NONE} if tsv else {}
    reader = csv.reader(lines, **dialect)
    try:
        header = next(reader, None)
        if header is None:
            raise RudatagenError(f"source {path} is empty")
        names = [name.strip() for name in header]
        if settings.column not in names:
            raise RudatagenError(_missing_column(path, settings.column, names))
        index = names.index(settings.column)
        for row in reader:
            yield row[index] if index < len(row) else None
    except csv.Error as exc:
        raise RudatagenError(
            f"{path} is not valid {'TSV' if tsv else 'CSV'}: line {reader.line_num}: {exc}"
        ) from None


def _read_csv(path: Path, settings: SourceSettings) -> Iterator[object]:
    return _read_delimited(path, settings, tsv=False)


def _read_tsv(path: Path, settings: SourceSettings) -> Iterator[object]:
    return _read_delimited(path, settings, tsv=True)


def _read_jsonl(path: Path, settings: SourceSettings) -> Iterator[object]:
    """One JSON object per line; yields its ``settings.column`` field. Blank lines yield ""."""
    for number, line in _decoded_lines(path):
        if not line.strip():
            yield ""
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise RudatagenError(f"{path}: invalid JSON on line {number}: {exc.msg}") from None
        if not isinstance(record, dict):
            raise RudatagenError(
                f"{path}: line {number} is a JSON {type(record).__name__}, expected an object"
            )
        if settings.column not in record:
            raise RudatagenError(
                _missing_column(path, settings.column, record, where=f" (line {number})")
            )
        yield record[settings.column]


# --------------------------------------------------------------------------- columnar formats


def _read_parquet(path: Path, settings: SourceSettings) -> Iterator[object]:
    """The ``settings.column`` values of a Parquet file, read in record batches."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise RudatagenError(f"reading {path} needs the 'pyarrow' package") from None
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise RudatagenError(f"{path} is not a readable Parquet file: {_one_line(exc)}") from None
    names = parquet.schema_arrow.names
    if settings.column not in names:
        raise RudatagenError(_missing_column(path, settings.column, names))
    for batch in parquet.iter_batches(batch_size=_BATCH_ROWS, columns=[settings.column]):
        yield from batch.column(0).to_pylist()


def _load_hf_dataset(path: Path, split: str) -> Any:
    """A ``datasets.Dataset`` from a ``save_to_disk`` folder, choosing ``split`` of a dict."""
    try:
        import datasets
    except ImportError:
        raise RudatagenError(f"reading {path} needs the 'datasets' package") from None
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


def _read_hf(path: Path, settings: SourceSettings) -> Iterator[object]:
    """The ``settings.column`` values of a saved Dataset (or one split of a DatasetDict)."""
    dataset = _load_hf_dataset(path, settings.split)
    if settings.column not in dataset.column_names:
        raise RudatagenError(_missing_column(path, settings.column, dataset.column_names))
    dataset = dataset.select_columns([settings.column])
    for batch in dataset.iter(batch_size=_BATCH_ROWS):
        yield from batch[settings.column]


_READERS: dict[str, Callable[[Path, SourceSettings], Iterator[object]]] = {
    "txt": _read_txt,
    "tsv": _read_tsv,
    "csv": _read_csv,
    "jsonl": _read_jsonl,
    "parquet": _read_parquet,
    "hf": _read_hf,
}


# --------------------------------------------------------------------------- pipeline


def _candidates(raw: object, settings: SourceSettings) -> list[object]:
    """The normalised texts one raw value yields; a non-string value is passed through as is.

    Always at least one item, so that every row is accounted for in the report.
    """
    if not isinstance(raw, str):
        return [raw]
    text = normalise_text(raw)
    if not settings.split_sentences or not text:
        return [text]
    return [normalise_text(sentence) for sentence in split_sentences(text)] or [""]


def _reject_reason(candidate: object, settings: SourceSettings) -> str | None:
    """Why a candidate is dropped (before deduplication), or ``None`` when it passes."""
    if not isinstance(candidate, str):
        return "not_text"
    if not candidate:
        return "empty"
    if len(candidate) < settings.min_chars:
        return "too_short"
    if len(candidate) > settings.max_chars:
        return "too_long"
    if cyrillic_share(candidate) < settings.min_cyrillic:
        return "low_cyrillic"
    return None


def _filter(
    raw_values: Iterable[object], settings: SourceSettings, report: SourceReport
) -> list[SourceText]:
    """Normalise, split, filter and deduplicate, keeping the first occurrence in file order."""
    kept: list[SourceText] = []
    seen: set[str] = set()
    for raw in raw_values:
        report.rows_read += 1
        for candidate in _candidates(raw, settings):
            report.candidates += 1
            reason = _reject_reason(candidate, settings)
            if reason is None and isinstance(candidate, str):  # always a str when it passed
                reason = _keep_unique(candidate, seen, kept)
            if reason is not None:
                report.skip(reason)
    return kept


def _keep_unique(text: str, seen: set[str], kept: list[SourceText]) -> str | None:
    """Append ``text`` to ``kept`` unless its id was seen before; then return "duplicate"."""
    ident = text_id(text)
    if ident in seen:
        return "duplicate"
    seen.add(ident)
    kept.append(SourceText(id=ident, text=text))
    return None


def _apply_limit(
    texts: list[SourceText], settings: SourceSettings, report: SourceReport
) -> list[SourceText]:
    """A ``random.Random(seed)`` sample of ``limit`` texts, returned in file order."""
    if settings.limit is None or settings.limit >= len(texts):
        return texts
    chosen = sorted(random.Random(settings.seed).sample(range(len(texts)), settings.limit))
    report.skip("over_limit", len(texts) - settings.limit)
    return [texts[index] for index in chosen]


def read_source(path: Path, settings: SourceSettings) -> tuple[list[SourceText], SourceReport]:
    """Read, normalise, filter, deduplicate and optionally sample the texts of one source.

    ``path`` wins over ``settings.path``. Raises ``RudatagenError`` when the source is missing,
    unreadable, malformed, has no rows, or has no text left after filtering.
    """
    path = Path(path)
    if not path.exists():
        raise RudatagenError(f"source file not found: {path}")
    fmt = detect_format(path, settings.format)
    _check_kind(path, fmt)
    report = SourceReport(path=str(path))
    texts = _filter(_READERS[fmt](path, settings), settings, report)
    if report.rows_read == 0:
        raise RudatagenError(_no_rows_message(path))
    if not texts:
        raise RudatagenError(
            f"no text left in {path} after filtering: read {report.rows_read} rows; "
            f"skipped: {report.skipped_summary()}"
        )
    texts = _apply_limit(texts, settings, report)
    report.kept = len(texts)
    return texts, report
