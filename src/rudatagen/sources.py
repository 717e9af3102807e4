"""Read source texts from a file or a saved dataset, normalise, filter and deduplicate them.

``core.tables`` streams the raw values of the text column (every line of a ``.txt``); the
pipeline here normalises each value, optionally splits it into sentences, filters the
candidates and drops duplicates. In passage mode (``source.passages``, see
``rudatagen.passages``) the candidates are passages of consecutive sentences of one document.
Problems with the input raise ``RudatagenError`` with a one-line message that names the file.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from rudatagen import fields
from rudatagen.core.tables import TEXT_COLUMN, detect_format, iter_rows
from rudatagen.errors import RudatagenError
from rudatagen.passages import PassageSettings, documents, passage_candidates
from rudatagen.strict import StrictModel
from rudatagen.text import cyrillic_share, normalise_text, split_sentences, text_id

SKIP_REASONS = (
    "not_text",
    "empty",
    "no_document",
    "few_sentences",
    "too_short",
    "too_long",
    "low_cyrillic",
    "duplicate",
    "over_limit",
)


class SourceSettings(StrictModel):
    """Where source texts come from and which of them are kept (the recipe's ``source:``)."""

    path: Path | None = Field(None, description="The source file or folder (or `--source`).")
    format: Literal["auto", "txt", "tsv", "csv", "jsonl", "parquet", "hf"] = Field(
        "auto",
        description="`hf` is a `save_to_disk` folder; `auto` goes by the file extension.",
    )
    column: str = Field("text", description="The text column of tsv/csv/jsonl/parquet/hf sources.")
    split: str = Field("train", description="The split of a saved `DatasetDict`.")
    split_sentences: bool = Field(False, description="Split each text into sentences with razdel.")
    min_chars: int = Field(
        20, ge=1, description="Shortest text (or passage) kept, after normalisation."
    )
    max_chars: int = Field(
        1000, ge=1, description="Longest text (or passage: packing stops there) kept."
    )
    min_cyrillic: float = Field(
        0.5, ge=0.0, le=1.0, description="Minimum share of Cyrillic among the letters."
    )
    limit: int | None = Field(
        None, ge=1, description="Sample at most this many texts (file order kept)."
    )
    seed: int = Field(0, description="Seed of the `limit` sample.")
    passages: PassageSettings = fields.section(PassageSettings)

    @model_validator(mode="after")
    def _bounds(self) -> SourceSettings:
        if self.min_chars > self.max_chars:
            raise ValueError(f"min_chars ({self.min_chars}) is above max_chars ({self.max_chars})")
        passages = self.passages
        if passages.enabled and passages.document_column is None and not self.split_sentences:
            raise ValueError(
                "passages need a document: set passages.document_column, or split_sentences "
                "to make each row a document"
            )
        return self


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
    and without sentence splitting ``candidates == rows_read``. In passage mode the candidates
    are the passages built plus the rows that gave no sentence.
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


def _no_rows_message(path: Path) -> str:
    if path.is_file() and path.stat().st_size == 0:
        return f"source {path} is empty (0 bytes)"
    return f"source {path} has no rows to read"


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


def _passages(
    path: Path, fmt: str, column: str, settings: SourceSettings, report: SourceReport
) -> list[SourceText]:
    """Passage mode: pack each document's sentences, then filter and deduplicate passages."""
    document = settings.passages.document_column
    wanted = [column] if document is None or document == column else [column, document]
    rows = iter_rows(path, wanted, format=fmt, split=settings.split)

    def counted(rows_in: Iterable[dict[str, object]]) -> Iterable[dict[str, object]]:
        for row in rows_in:
            report.rows_read += 1
            yield row

    def skip(reason: str) -> None:
        report.candidates += 1
        report.skip(reason)

    docs = documents(counted(rows), column, document, settings.split_sentences, skip)
    kept: list[SourceText] = []
    seen: set[str] = set()
    passages = settings.passages
    for passage in passage_candidates(docs, passages.max_sentences, settings.max_chars):
        report.candidates += 1
        reason = _reject_reason(passage.text, settings)
        if reason is None and passage.sentences < passages.min_sentences:
            reason = "few_sentences"
        if reason is None:
            ident = text_id(passage.text)
            reason = "duplicate" if ident in seen else None
            seen.add(ident)
        if reason is None:
            kept.append(SourceText(id=passage.id, text=passage.text))
        else:
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
    fmt = detect_format(path, settings.format, format_setting="source.format")
    column = TEXT_COLUMN if fmt == "txt" else settings.column
    report = SourceReport(path=str(path))
    if settings.passages.enabled:
        texts = _passages(path, fmt, column, settings, report)
    else:
        rows = iter_rows(path, [column], format=fmt, split=settings.split)
        texts = _filter((row[column] for row in rows), settings, report)
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
