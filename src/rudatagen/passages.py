"""Passage mode of a source: consecutive sentences of one document joined into passages.

A retrieval query needs a passage to answer it, and a sentence is often too little. Rows that
share a value of ``document_column`` form one document, their sentences in file order (a row
split into sentences when ``split_sentences`` is on); without a document column each row is a
document of its own sentences. Each document's sentences are packed greedily into passages of at
most ``max_sentences`` sentences and ``source.max_chars`` characters. A sentence that is not
text or empty breaks the run: a passage never bridges a gap, so its sentences really follow one
another. A passage's id is its document and the index of its first sentence in that document
(``"<document>#<index>"``), so it stays the same however many passages come before it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import Field, model_validator

from rudatagen.strict import StrictModel
from rudatagen.text import normalise_text, split_sentences, text_id


class PassageSettings(StrictModel):
    """Passage mode: join consecutive sentences of one document (for retrieval queries).

    In passage mode `source.min_chars`, `source.max_chars` and `source.min_cyrillic` bound the
    passage, not its sentences.
    """

    enabled: bool = Field(False, description="Build passages instead of one text per row.")
    document_column: str | None = Field(
        None,
        description="Rows sharing its value are one document, sentences in file order; "
        "null: each row is a document (needs `source.split_sentences`).",
    )
    min_sentences: int = Field(1, ge=1, le=50, description="Fewest sentences in a passage.")
    max_sentences: int = Field(6, ge=1, le=50, description="Most sentences in a passage.")

    @model_validator(mode="after")
    def _bounds(self) -> PassageSettings:
        if self.min_sentences > self.max_sentences:
            raise ValueError(
                f"min_sentences ({self.min_sentences}) is above max_sentences "
                f"({self.max_sentences})"
            )
        return self


@dataclass(frozen=True)
class PassageCandidate:
    """A packed passage before filtering: its id and text, and how many sentences it joins."""

    id: str
    text: str
    sentences: int


Gap = None  # a sentence slot that is not text: it ends the run of consecutive sentences


def documents(
    rows: Iterable[dict[str, Any]],
    text_column: str,
    document_column: str | None,
    split: bool,
    skip: Callable[[str], None],
) -> dict[str, list[str | None]]:
    """Each document's sentences in file order (``None`` marks a gap), documents in order of
    first appearance. ``skip(reason)`` is told once of each row that adds no sentence."""
    docs: dict[str, list[str | None]] = {}
    for row in rows:
        raw = row[text_column]
        sentences = _sentences(raw, split)
        reason = None
        if not isinstance(raw, str):
            reason = "not_text"
        elif all(sentence is Gap for sentence in sentences):
            reason = "empty"
        if document_column is None:  # the row is the document: its id is its text's
            key = "" if reason else text_id(normalise_text(str(raw)))
            if not reason and key in docs:
                reason = "duplicate"
            if reason:
                skip(reason)
                continue
        else:
            value = row[document_column]
            key = "" if value is None else str(value).strip()
            if not key:
                skip("no_document")
                continue
            if reason:  # counted, and it leaves a gap in its document
                skip(reason)
        docs.setdefault(key, []).extend(sentences)
    return docs


def _sentences(raw: object, split: bool) -> list[str | None]:
    if not isinstance(raw, str):
        return [Gap]
    text = normalise_text(raw)
    parts = split_sentences(text) if split and text else [text]
    return [normalise_text(part) or Gap for part in parts] or [Gap]


def pack(
    sentences: list[str | None], max_sentences: int, max_chars: int
) -> Iterator[tuple[int, list[str]]]:
    """``(first index, sentences)`` of each passage of one document, packed greedily: a passage
    grows while it stays within ``max_sentences`` and ``max_chars`` (joined with spaces); a
    sentence longer than ``max_chars`` is a passage of its own (the length check drops it)."""
    start, size = 0, 0
    current: list[str] = []
    for index, sentence in enumerate(sentences):
        if sentence is Gap:
            if current:
                yield start, current
            current = []
            continue
        grown = size + 1 + len(sentence)
        if current and (len(current) >= max_sentences or grown > max_chars):
            yield start, current
            current = []
        if current:
            size = grown
        else:
            start, size = index, len(sentence)
        current.append(sentence)
    if current:
        yield start, current


def passage_candidates(
    docs: dict[str, list[str | None]], max_sentences: int, max_chars: int
) -> Iterator[PassageCandidate]:
    """Every packed passage of every document, in document order."""
    for key, sentences in docs.items():
        for start, chosen in pack(sentences, max_sentences, max_chars):
            yield PassageCandidate(f"{key}#{start}", " ".join(chosen), len(chosen))
