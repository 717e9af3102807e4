"""Russian text helpers shared by the text filters: comparison forms, word tokens and lemmas.

Comparison forms of a text: ``loose_text`` (normalised, casefolded, ё → е, every run of
punctuation and whitespace turned into one space) for fuzzy scores and shingles, and
``squash_text`` (the same without spaces) for exact comparisons. Lemmas come from pymorphy3,
cached per distinct word. The filters run these on every candidate, so the hot helpers have fast
paths that give exactly the result of the slow general code (the tests check this).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import pymorphy3
from razdel import tokenize

from rudatagen.text import normalise_text

_WORD = re.compile(r"[^\W_]+")
# Characters whose presence means ``normalise_text`` could change a printable text.
_QUOTES = '\u201e\u201c\u201d\u201f\u2033"\u2018\u2019\u201a\u201b'

# A text razdel tokenises trivially: space-separated chunks that are punctuation alone, or one
# word with only quotes/brackets before it and closing punctuation after it. A word is letter
# (Russian or Latin) and digit atoms joined by single dashes («из-за», «COVID-19»), which razdel
# joins too; «.» or «,» between two numbers («10. 20») is left to razdel. razdel joins atoms only
# where no space separates them, and no other rule of its fires inside such a chunk.
_WORD_FORM = "(?:[а-яё]+|[a-z]+|[0-9]+)(?:[-‑–—−](?:[а-яё]+|[a-z]+|[0-9]+))*"
_CHUNK = (
    f"[«„“‘\"'(\\[{{]*{_WORD_FORM}(?!(?<=[0-9])[.,] [0-9])[»”’\"')\\]}}!?;:…,.]*"
    r"|[^\w\s]+"
)
_SIMPLE_TEXT = re.compile(f"(?:{_CHUNK})(?: (?:{_CHUNK}))*", re.IGNORECASE)
_SIMPLE_WORD = re.compile(_WORD_FORM, re.IGNORECASE)


def normalise(text: str) -> str:
    """``normalise_text(text)``, returning a text it would not change as is (a cheap check).

    Printable means no control, invisible or non-ASCII whitespace characters; with no double
    spaces, no spaces at the ends, NFC and no quotes left to turn, normalising is a no-op.
    """
    if (
        text.isprintable()
        and "  " not in text
        and text[:1] != " "
        and text[-1:] != " "
        and unicodedata.is_normalized("NFC", text)
        and not any(quote in text for quote in _QUOTES)
    ):
        return text
    return normalise_text(text)


def fold(normalised: str) -> str:
    """The ``loose_text`` of an already normalised text."""
    return " ".join(_WORD.findall(normalised.casefold().replace("ё", "е")))


def loose_text(text: str) -> str:
    """Normalise, casefold, fold ё into е and turn punctuation and whitespace runs into a space."""
    return fold(normalise(text))


def squash_text(text: str) -> str:
    """``loose_text`` without spaces: equal for texts that differ in case, punctuation, spacing."""
    return loose_text(text).replace(" ", "")


def word_tokens(text: str) -> list[str]:
    """razdel tokens that contain a letter or a digit (punctuation dropped), casefolded.

    Texts in the simple form above skip razdel (about 20 times slower) with the same result.
    """
    if _SIMPLE_TEXT.fullmatch(text) and "yahoo" not in text.casefold():  # razdel keeps «Yahoo!»
        return [word.casefold() for word in _SIMPLE_WORD.findall(text)]
    return [token.text.casefold() for token in tokenize(text) if _WORD.search(token.text)]


@lru_cache(maxsize=1)
def morph_analyzer() -> pymorphy3.MorphAnalyzer:
    """One analyser per process: loading the dictionaries takes a moment."""
    return pymorphy3.MorphAnalyzer()


@lru_cache(maxsize=1 << 18)
def lemma(word: str) -> str:
    """The normal form of a casefolded word under pymorphy3's most likely parse, ё folded to е."""
    return morph_analyzer().parse(word)[0].normal_form.replace("ё", "е")


def lemma_set(text: str) -> frozenset[str]:
    """The set of lemmas of a text's word tokens."""
    return frozenset(map(lemma, word_tokens(text)))


def jaccard(first: frozenset[str], second: frozenset[str]) -> float:
    """|A ∩ B| / |A ∪ B|; 0.0 when both sets are empty (nothing to compare)."""
    union = len(first | second)
    return len(first & second) / union if union else 0.0
