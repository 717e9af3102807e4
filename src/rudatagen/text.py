"""Pure text helpers: normalisation, Cyrillic share, stable ids and sentence splitting.

``normalise_text`` is idempotent: normalising an already normalised text changes nothing, so
ids computed from normalised texts are stable across reads and across sentence splitting.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from razdel import sentenize

# Invisible characters that only get in the way: zero-width space / non-joiner / joiner,
# BOM (zero-width no-break space), word joiner, and the soft hyphen.
_INVISIBLE = re.compile("[\u200b\u200c\u200d\ufeff\u2060\u00ad]")

# Python's ``\s`` on str covers Unicode whitespace: NBSP, U+202F, thin spaces, U+2028, ...
_WHITESPACE = re.compile(r"\s+")

# Double quotes that become «ёлочки»; the direction is taken from the preceding character.
_DOUBLE_QUOTES = frozenset('\u201e\u201c\u201d\u201f\u2033"')  # „ “ ” ‟ ″ "
_ANY_DOUBLE_QUOTE = re.compile('[\u201e\u201c\u201d\u201f\u2033"]')
# Single curly quotes that become an ASCII apostrophe.
_SINGLE_QUOTES = re.compile("[\u2018\u2019\u201a\u201b]")  # ‘ ’ ‚ ‛
# A double quote right after one of these (or at the very start) opens a quotation.
_OPENING_CONTEXT = frozenset(" ([{«-\u2010\u2011\u2012\u2013\u2014\u2015")

_CYRILLIC = re.compile(r"[\u0400-\u052f\u1c80-\u1c8f\u2de0-\u2dff\ua640-\ua69f]")


def _direct_double_quotes(text: str) -> str:
    """Turn every typographic or ASCII double quote into « or », judged by what precedes it.

    Expects whitespace already collapsed to single spaces.
    """
    if not _ANY_DOUBLE_QUOTE.search(text):
        return text
    out: list[str] = []
    for char in text:
        if char in _DOUBLE_QUOTES:
            opening = not out or out[-1] in _OPENING_CONTEXT
            out.append("«" if opening else "»")
        else:
            out.append(char)
    return "".join(out)


def normalise_text(text: str) -> str:
    """Normalise a text for storage and hashing.

    Drops zero-width characters and soft hyphens, applies Unicode NFC, collapses every run of
    whitespace (NBSP, narrow NBSP, tabs, newlines included) into one space and strips the ends,
    turns double quotes into «» and curly single quotes into '. Letter case and ё are kept.
    """
    text = unicodedata.normalize("NFC", _INVISIBLE.sub("", text))
    text = _WHITESPACE.sub(" ", text).strip()
    text = _SINGLE_QUOTES.sub("'", text)
    return _direct_double_quotes(text)


class _CyrillicTable(dict[int, str]):
    """A ``str.translate`` table: a letter → "c" (Cyrillic) or "l" (other); others → ""."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        value = ("c" if _CYRILLIC.match(char) else "l") if char.isalpha() else ""
        self[code] = value
        return value


_CYRILLIC_TABLE = _CyrillicTable()


def cyrillic_share(text: str) -> float:
    """Share of alphabetic characters that are Cyrillic; 0.0 for a text without letters.

    One ``str.translate`` pass (the table learns each code point once): the filters call it for
    every candidate.
    """
    letters = text.translate(_CYRILLIC_TABLE)
    return letters.count("c") / len(letters) if letters else 0.0


def text_id(normalised: str) -> str:
    """Stable id of an already normalised text: the first 16 hex digits of its UTF-8 SHA-1."""
    return hashlib.sha1(normalised.encode("utf-8"), usedforsecurity=False).hexdigest()[:16]


def split_sentences(text: str) -> list[str]:
    """Split a text into sentences with razdel (which knows Russian abbreviations like «г.»).

    Sentences are stripped; empty ones are dropped. They are not normalised.
    """
    sentences = (sentence.text.strip() for sentence in sentenize(text))
    return [sentence for sentence in sentences if sentence]
