"""Cheap checks on each candidate alone and against its own record.

Rules, in the order they are tried (a rejected candidate gets the reason of the first one that
fails): empty or too short; length ratio to the query out of bounds; too little Cyrillic;
identical to the query after normalisation; leaked prompt artefacts (leading numbering or list
markers, labels such as «Перефразировка:», quotes wrapping the whole candidate); truncated
sentences; and last, a near-copy of an earlier candidate of the same record. The near-copy rule
only compares candidates that passed every other rule, keeping the first of each near-copy set.
"""

from __future__ import annotations

import re
from collections import defaultdict

import numpy as np
from rapidfuzz import fuzz, process

from rudatagen.filters.base import Filter, FilterResult
from rudatagen.filters.russian import fold, normalise
from rudatagen.filters.settings import HeuristicSettings
from rudatagen.kinds.candidates import CandidateTable
from rudatagen.text import cyrillic_share

# Leading numbering («1.», «2)», «(3)») or a list marker («- », «• »). An em dash is not a
# marker: Russian dialogue lines start with one.
_NUMBERING = re.compile(r"^(?:\(?\d{1,2}[.)]|[-–•*·])\s")
# Labels a model copies from the prompt, at the start of the candidate.
_LABEL = re.compile(
    r"^(?:не\s+)?(?:перефраз\w*|парафраз\w*|ответ|текст|предложение|вариант|пример"
    r"|результат|(?:non[- ]?)?paraphrase|answer|text|sentence|option)"
    r"(?:\s*(?:№\s*)?\d{1,2})?\s*:",
    re.IGNORECASE,
)
_QUOTE_PAIRS = {"«": "»", "'": "'", "“": "”"}
_INNER_QUOTES = re.compile('[«»"“”„]')
_TERMINAL = frozenset(".!?…»\")”'")
_DANGLING_PUNCTUATION = frozenset(",;:-–—(«")
# Words a complete sentence does not end with: conjunctions, prepositions, «не».
_DANGLING_LIST = (
    "и а но или либо что чтобы как если когда потому поскольку который которая которое которые"
    " в во на с со к ко по о об обо от из у за для до при без под над перед через про между"
    " не ни"
)
_DANGLING_WORDS = frozenset(_DANGLING_LIST.split())


def _artefact(text: str, query: str) -> str | None:
    """Describe a leaked prompt artefact at the start of ``text``, unless the query has it too."""
    numbering = _NUMBERING.match(text)
    if numbering and not _NUMBERING.match(query):
        return f"leaked prompt artefact: leading list marker «{numbering.group().strip()}»"
    label = _LABEL.match(text)
    if label:
        return f"leaked prompt artefact: label «{label.group()}»"
    closing = _QUOTE_PAIRS.get(text[:1])
    if closing and not query.startswith(text[0]):
        body = text.rstrip(".!?…")
        if len(body) > 2 and body.endswith(closing) and not _INNER_QUOTES.search(body[1:-1]):
            return "leaked prompt artefact: the whole candidate is wrapped in quotes"
    return None


def _truncation(text: str, query: str) -> str | None:
    """Describe why ``text`` looks cut off: a dangling word or comma, or a missing full stop."""
    if text[-1] in _DANGLING_PUNCTUATION:
        return f"truncated sentence: ends with a dangling «{text[-1]}»"
    # A dangling word is only checked before an ellipsis or no punctuation at all: «в.» is
    # a legitimate abbreviation of «век».
    body = text.rstrip(".… ") if text.endswith(("…", "...")) else text
    last = body.rsplit(" ", 1)[-1]
    if last.casefold() in _DANGLING_WORDS:
        return f"truncated sentence: ends with the dangling word «{last}»"
    if text[-1] not in _TERMINAL and query and query[-1] in _TERMINAL:
        return (
            f"truncated sentence: no terminal punctuation while the query ends with «{query[-1]}»"
        )
    return None


class HeuristicFilter(Filter[HeuristicSettings]):
    """Rejects short, off-length, non-Russian, artefact-laden, truncated and repeated candidates."""

    name = "heuristic"
    kinds = ("ruhnp",)
    row_local = True  # near-copies are looked for within a record only

    def apply(self, table: CandidateTable, rows: np.ndarray) -> FilterResult:
        queries: dict[str, tuple[str, str]] = {}  # raw -> (normalised, squashed)
        loose: list[str] = []
        ratio = np.empty(len(rows), dtype=np.float32)
        cyrillic = np.empty(len(rows), dtype=np.float32)
        why: list[str | None] = []
        for index, row in enumerate(rows.tolist()):
            raw_query = table.anchor[row]
            query = queries.get(raw_query)
            if query is None:
                normalised = normalise(raw_query)
                query = queries[raw_query] = (normalised, fold(normalised).replace(" ", ""))
            text = normalise(table.text[row])
            loose.append(fold(text))
            ratio[index] = len(text) / max(len(query[0]), 1)
            cyrillic[index] = cyrillic_share(text)
            same = loose[index].replace(" ", "") == query[1]
            why.append(self._check(text, query[0], same, float(ratio[index]), cyrillic[index]))
        self._near_copies(table, rows, loose, why)
        reject = np.fromiter((reason is not None for reason in why), dtype=bool, count=len(rows))
        return FilterResult(
            rows=rows,
            scores={"heuristic_length_ratio": ratio, "heuristic_cyrillic": cyrillic},
            reject=reject,
            reasons=[reason for reason in why if reason is not None],
        )

    def _check(
        self, text: str, query: str, same: bool, ratio: float, cyrillic: float
    ) -> str | None:
        """The reason of the first single-candidate rule that a normalised text fails, or None.

        ``same`` says whether the squashed forms of text and query are equal.
        """
        settings = self.settings
        if not text:
            return "empty candidate"
        if len(text) < settings.min_chars:
            return f"too short: {len(text)} chars < {settings.min_chars}"
        if not settings.min_length_ratio <= ratio <= settings.max_length_ratio:
            return (
                f"length ratio to the query {ratio:.2f} outside "
                f"[{settings.min_length_ratio:g}, {settings.max_length_ratio:g}]"
            )
        if cyrillic < settings.min_cyrillic:
            return f"Cyrillic share {cyrillic:.2f} < {settings.min_cyrillic:g}"
        if same:
            return "identical to the query after normalisation"
        artefact = _artefact(text, query)
        if artefact or not settings.reject_truncated:
            return artefact
        return _truncation(text, query)

    def _near_copies(
        self, table: CandidateTable, rows: np.ndarray, loose: list[str], why: list[str | None]
    ) -> None:
        """Mark (in ``why``) candidates that near-copy an earlier kept candidate of their record.

        ``loose`` holds the ``loose_text`` of each row; rows already rejected are not compared.
        """
        threshold = self.settings.near_duplicate_similarity
        by_record: defaultdict[str, list[int]] = defaultdict(list)
        for index, row in enumerate(rows.tolist()):
            if why[index] is None:
                by_record[table.record_id[row]].append(index)
        for members in by_record.values():
            if len(members) < 2:
                continue
            members.sort(key=lambda index: rows[index])
            texts = [loose[index] for index in members]
            scores = process.cdist(
                texts, texts, scorer=fuzz.ratio, score_cutoff=threshold, dtype=np.float32
            )
            close = np.triu(scores >= threshold, 1)
            if not close.any():
                continue
            kept: list[int] = []
            for j, index in enumerate(members):
                earlier = [i for i in kept if close[i, j]]
                if not earlier:
                    kept.append(j)
                    continue
                first = rows[members[earlier[0]]]
                label = table.label_of(first)
                why[index] = (
                    f"near-duplicate in the same record: similarity "
                    f"{float(scores[earlier[0], j]):.1f} ≥ {threshold:g} to {label} "
                    f"#{int(table.position[first])}"
                )
