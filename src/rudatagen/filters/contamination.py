"""Which texts repeat an evaluation set's text: word n-grams and character-shingle MinHash.

Texts are compared in their ``loose_text`` form (casefolded, ё → е, every run of punctuation and
spacing turned into one space), so a change of case, punctuation or spacing never hides a copy.
A text matches an evaluation text by either of two rules:

1. **Word n-grams.** It shares a run of ``ngram_words`` (13) words with it: the overlap GPT-3
   measured benchmark contamination with (Brown et al., 2020, appendix C). Thirteen words in a
   row are practically never shared by chance between independent texts, and a copied sentence
   of that length is found wherever it sits inside a longer passage. An evaluation text shorter
   than that is one n-gram of its own length when it has at least ``min_ngram_words`` (8) words:
   GPT-3 lowered n the same way for benchmarks of short examples, never below 8 — shorter runs
   recur between unrelated texts (set phrases, names, dates).
2. **Character shingles.** Its Jaccard index over character ``shingle_chars``-grams with the
   evaluation text reaches ``max_jaccard`` (0.5). This is the rule for short sentences, where
   rule 1 has no 13 words to look at, and for edited copies (an edit every dozen words leaves no
   13-word run). The threshold comes from arithmetic, not from data: replacing a word of w
   letters removes about w + k − 1 of a text's k-grams and adds as many, so in a ten-word
   sentence (about 65 characters, 61 five-grams) one replaced seven-letter word leaves
   J = 50/72 ≈ 0.69, two leave ≈ 0.47, and a case or punctuation change leaves 1. At 0.5 the
   shared shingles outnumber the changed ones: copies and one-word edits are caught, rewordings
   (which share little beyond a few content words) are not.

Rule 2 finds its candidate pairs with datasketch's MinHash LSH, tuned to a threshold
``_LSH_MARGIN`` below ``max_jaccard``: at 128 permutations datasketch then bands them 37 × 3,
which finds a pair right at J = 0.5 with probability 0.993 and one at 0.6 with 0.9999 (tuned to
0.5 itself it bands them 25 × 5 and finds only 0.55 of the pairs at 0.5). Each candidate is
decided by the exact Jaccard of the two shingle sets, so the estimate never makes a verdict.
Shingles are hashed with CRC-32, which is deterministic (Python's ``hash`` of a string is salted
per process), so every run finds the same pairs.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from rudatagen.core.tables import read_table
from rudatagen.errors import MissingDependencyError
from rudatagen.filters.russian import loose_text
from rudatagen.filters.settings import DecontaminateSettings

_LSH_MARGIN = 0.2  # LSH candidates are looked for this far below the Jaccard threshold
_SEED = 20240601  # the MinHash permutations: fixed, so every run finds the same candidates

COPY = "copy"  # the same text up to case, ё and punctuation
NGRAM = "ngram"  # a run of words shared (or a whole short evaluation text contained)
NEAR = "near"  # a character-shingle near-copy


@dataclass(frozen=True)
class EvaluationSet:
    """One file decontaminated against: its name (for the card), rows, and distinct texts."""

    name: str
    path: str
    rows: int
    texts: int


@dataclass(frozen=True)
class Match:
    """Where a text matched: the rule, the evaluation set, row (from 0) and column, and the
    figure behind it (words in the shared run for ``ngram``, the Jaccard for ``near``, 1 for
    ``copy``)."""

    rule: str
    set_name: str
    row: int
    column: str
    figure: float


@dataclass(frozen=True)
class _Source:
    """The first evaluation cell that holds a text (its set, row and column)."""

    set_index: int
    row: int
    column: str


def shingles(text: str, k: int) -> set[str]:
    """The character k-grams of a (loose) text; a text shorter than ``k`` is one shingle."""
    return {text[i : i + k] for i in range(max(len(text) - k + 1, 1))}


def _string_cells(table: pa.Table) -> Iterator[tuple[int, str, str]]:
    """``(row, column, text)`` for every non-empty string in the string and list-of-string
    columns of ``table`` (other columns are ids, labels and scores, not text)."""
    for name, column in zip(table.column_names, table.columns, strict=True):
        kind = column.type
        is_list = pa.types.is_list(kind) or pa.types.is_large_list(kind)
        value_type = kind.value_type if is_list else kind
        if not (pa.types.is_string(value_type) or pa.types.is_large_string(value_type)):
            continue
        for row, value in enumerate(column.to_pylist()):
            for text in value if is_list and value else [value]:
                if text:
                    yield row, name, text


def _set_names(paths: list[Path]) -> list[str]:
    """The file names, or the paths as given where two files share a name."""
    names = [path.name for path in paths]
    return [
        name if names.count(name) == 1 else str(path)
        for name, path in zip(names, paths, strict=True)
    ]


class ContaminationIndex:
    """The texts of some evaluation sets, indexed by word n-gram and by shingle MinHash."""

    def __init__(self, settings: DecontaminateSettings) -> None:
        try:
            from datasketch import MinHashLSH
        except ImportError as exc:
            raise MissingDependencyError("datasketch", "train", "decontamination") from exc
        self.settings = settings
        self.sets: list[EvaluationSet] = []
        self._sources: list[_Source] = []  # per distinct evaluation text
        self._loose: dict[str, int] = {}  # loose text -> its index in _sources
        self._ngrams: dict[tuple[str, ...], int] = {}  # n-grams and whole short texts
        self._short_lengths: set[int] = set()  # word counts of the whole short texts
        self._texts: list[str] = []
        self._lsh = MinHashLSH(
            threshold=max(settings.max_jaccard - _LSH_MARGIN, 0.05), num_perm=settings.num_perm
        )

    @classmethod
    def build(cls, settings: DecontaminateSettings) -> ContaminationIndex:
        """Read every file of ``settings.against`` (through ``core.tables``) and index it."""
        index = cls(settings)
        paths = [Path(path) for path in settings.against]
        for number, (name, path) in enumerate(zip(_set_names(paths), paths, strict=True)):
            table = read_table(path, split=settings.split)
            added = index._add(number, _string_cells(table))
            index.sets.append(EvaluationSet(name, str(path), table.num_rows, added))
        index._index_shingles()
        return index

    def _add(self, set_index: int, cells: Iterable[tuple[int, str, str]]) -> int:
        """Index the cells' texts (word n-grams now, shingles later); the distinct ones added."""
        n, shortest = self.settings.ngram_words, self.settings.min_ngram_words
        distinct: set[str] = set()
        for row, column, text in cells:
            loose = loose_text(text)
            if not loose:
                continue
            distinct.add(loose)
            if loose in self._loose:
                continue
            source = self._loose[loose] = len(self._sources)
            self._sources.append(_Source(set_index, row, column))
            words = tuple(loose.split(" "))
            if len(words) >= n:
                for start in range(len(words) - n + 1):
                    self._ngrams.setdefault(words[start : start + n], source)
            elif len(words) >= shortest:
                self._ngrams.setdefault(words, source)
                self._short_lengths.add(len(words))
        return len(distinct)

    def _index_shingles(self) -> None:
        """Put every distinct evaluation text into the LSH index, keyed by its source index."""
        self._texts = list(self._loose)  # by source index, for the exact Jaccard
        with self._lsh.insertion_session() as session:
            for source, minhash in enumerate(self._minhashes(self._texts)):
                session.insert(source, minhash, check_duplication=False)

    def _minhashes(self, texts: list[str]) -> Iterator[Any]:
        from datasketch import LeanMinHash, MinHash

        k = self.settings.shingle_chars
        sets = ([s.encode() for s in shingles(text, k)] for text in texts)
        for minhash in MinHash.generator(
            sets, num_perm=self.settings.num_perm, seed=_SEED, hashfunc=zlib.crc32
        ):
            yield LeanMinHash(minhash)

    def match_all(self, texts: list[str]) -> dict[str, Match]:
        """The matches among ``texts`` (each checked once), by text; unmatched ones are absent."""
        found: dict[str, Match] = {}
        loose_of = {text: loose_text(text) for text in dict.fromkeys(texts)}
        unmatched: dict[str, list[str]] = {}  # loose text -> the texts that have it
        for text, loose in loose_of.items():
            if not loose:
                continue
            match = self._exact(loose) or self._word_run(loose)
            if match is None:
                unmatched.setdefault(loose, []).append(text)
            else:
                found[text] = match
        looses = list(unmatched)
        for loose, minhash in zip(looses, self._minhashes(looses), strict=True):
            match = self._near(loose, self._lsh.query(minhash))
            if match is not None:
                found.update(dict.fromkeys(unmatched[loose], match))
        return found

    def _match(self, rule: str, source: int, figure: float) -> Match:
        where = self._sources[source]
        return Match(rule, self.sets[where.set_index].name, where.row, where.column, figure)

    def _exact(self, loose: str) -> Match | None:
        """The text is an evaluation text, up to case and punctuation."""
        source = self._loose.get(loose)
        return None if source is None else self._match(COPY, source, 1.0)

    def _word_run(self, loose: str) -> Match | None:
        """Rule 1: a shared n-gram, or a whole short evaluation text inside the text."""
        words = tuple(loose.split(" "))
        for n in (self.settings.ngram_words, *sorted(self._short_lengths, reverse=True)):
            for start in range(len(words) - n + 1):
                source = self._ngrams.get(words[start : start + n])
                if source is not None:
                    return self._match(NGRAM, source, n)
        return None

    def _near(self, loose: str, candidates: list[int]) -> Match | None:
        """Rule 2: the LSH candidate with the highest exact shingle Jaccard, if it is enough."""
        if not candidates:
            return None
        k = self.settings.shingle_chars
        mine = shingles(loose, k)
        best, best_source = 0.0, -1
        for source in sorted(candidates):  # sorted: ties go to the same source in every run
            theirs = shingles(self._texts[source], k)
            value = len(mine & theirs) / len(mine | theirs)
            if value > best:
                best, best_source = value, source
        if best < self.settings.max_jaccard:
            return None
        return self._match(NEAR, best_source, best)
