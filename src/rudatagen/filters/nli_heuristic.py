"""WANLI's heuristic filter for generated NLI pairs, for Russian (Liu et al., 2022, §2.4).

Rules, in order; the first that fires rejects the pair and names itself:

- ``too_short``: the premise or hypothesis is missing or shorter than ``min_chars`` characters;
- ``same_as_premise``: premise and hypothesis are equal ignoring case and punctuation;
- ``leaked_prompt``: a phrase of the prompt (``leak_phrases``: label words followed by a colon,
  «Пример», field names...) appears as a whole word in either text;
- ``copied_example``: the pair is an exact copy (ignoring case and punctuation) of one of its
  in-context examples;
- ``same_hypotheses`` (triples mode): the entailed and the contradicting hypothesis are equal
  ignoring case and punctuation, so neither label can hold; both halves are rejected.

A pair that passes is then cleaned: wrapping quotes or brackets around a whole text and
dangling punctuation at its end (``,;:-–—``) are removed; each cleaning step is recorded as a
flag (``stripped_wrapping``, ``stripped_dangling``), and a text cleaned below ``min_chars`` is
rejected as ``too_short``; the pipeline writes the cleaned texts back into the candidate table.

The in-context examples of each record come from the run (``FilterContext.examples``); a
triple's other hypothesis is its sibling candidate in the table (same record).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from rudatagen.filters.base import Filter, FilterResult
from rudatagen.filters.settings import NLIHeuristicSettings
from rudatagen.kinds.candidates import CandidateTable

_PUNCTUATION = re.compile(r"[^\w\s]|_")
_SPACES = re.compile(r"\s+")
_WRAPPERS = {"«": "»", '"': '"', "“": "”", "„": "“", "'": "'", "(": ")", "[": "]", "{": "}"}
_DANGLING = ",;:-–—"


def loose(text: str) -> str:
    """Lower case, punctuation dropped, whitespace collapsed: the comparison key of the rules."""
    return _SPACES.sub(" ", _PUNCTUATION.sub(" ", text.lower().replace("ё", "е"))).strip()


def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    start = r"(?<!\w)" if phrase[:1].isalnum() else ""
    end = r"(?!\w)" if phrase[-1:].isalnum() else ""
    return re.compile(start + re.escape(phrase) + end)


@dataclass
class HeuristicResult:
    premise: str
    hypothesis: str
    reason: str | None = None
    flags: list[str] = field(default_factory=list)

    @property
    def kept(self) -> bool:
        return self.reason is None


def strip_wrapping(text: str) -> str:
    """Remove quotes or brackets that wrap the whole text (repeatedly), keeping inner ones."""
    text = text.strip()
    while len(text) >= 2 and _WRAPPERS.get(text[0]) == text[-1]:
        inner = text[1:-1]
        # «A» и «B»: the outer marks belong to two quotations, not to one wrapper.
        if text[0] in inner or text[-1] in inner:
            break
        text = inner.strip()
    return text


def strip_dangling(text: str) -> str:
    return text.rstrip(_DANGLING + " \t\n")


class NLIHeuristicFilter(Filter[NLIHeuristicSettings]):
    """Rejects short, self-copying, leaked and copied pairs; cleans and flags the rest."""

    name = "nli_heuristic"
    kinds = ("wanli",)
    row_local = True  # a triple's other half is in the same record

    def __init__(self, settings: NLIHeuristicSettings) -> None:
        super().__init__(settings)
        self.min_chars = settings.min_chars
        self.leaks = [(p, _phrase_pattern(p)) for p in settings.leak_phrases if p]

    def apply(self, table: CandidateTable, rows: np.ndarray) -> FilterResult:
        """Check each live pair (anchor = premise, text = hypothesis) against its record's
        in-context examples and, for a triple's half, the other hypothesis."""
        siblings: defaultdict[str, list[int]] = defaultdict(list)
        for row, column in enumerate(table.field):
            if column != "hypothesis":  # a triple's half
                siblings[table.record_id[row]].append(row)
        examples = self.context.examples
        results = []
        for row in rows.tolist():
            record_id = table.record_id[row]
            others = [table.text[r] for r in siblings.get(record_id, ()) if r != row]
            other = others[0] if others else None
            results.append(
                self.check(table.anchor[row], table.text[row], examples.get(record_id, ()), other)
            )
        reject = np.fromiter((not r.kept for r in results), dtype=bool, count=len(results))
        return FilterResult(
            rows=rows,
            reject=reject,
            reasons=[r.reason for r in results if r.reason is not None],
            anchors=[r.premise for r in results],
            texts=[r.hypothesis for r in results],
            flags=[tuple(r.flags) for r in results],
        )

    def check(
        self,
        premise: str | None,
        hypothesis: str | None,
        examples: Iterable[tuple[str, str]] = (),
        other_hypothesis: str | None = None,
    ) -> HeuristicResult:
        """``other_hypothesis``: the triple's other hypothesis (triples mode only)."""
        premise = " ".join((premise or "").split())
        hypothesis = " ".join((hypothesis or "").split())
        result = HeuristicResult(premise, hypothesis)
        if len(premise) < self.min_chars or len(hypothesis) < self.min_chars:
            result.reason = "too_short"
        elif loose(premise) == loose(hypothesis):
            result.reason = "same_as_premise"
        elif other_hypothesis is not None and loose(other_hypothesis) == loose(hypothesis):
            result.reason = "same_hypotheses"
        elif any(p.search(premise) or p.search(hypothesis) for _, p in self.leaks):
            result.reason = "leaked_prompt"
        elif (loose(premise), loose(hypothesis)) in {(loose(a), loose(b)) for a, b in examples}:
            result.reason = "copied_example"
        if result.reason is not None:
            return result
        steps = (("stripped_wrapping", strip_wrapping), ("stripped_dangling", strip_dangling))
        changed = True
        while changed:  # "(text) ," needs dangling, then wrapping: repeat until nothing changes
            changed = False
            for name, step in steps:
                cleaned = (step(result.premise), step(result.hypothesis))
                if cleaned != (result.premise, result.hypothesis):
                    changed = True
                    if name not in result.flags:
                        result.flags.append(name)
                    result.premise, result.hypothesis = cleaned
        if len(result.premise) < self.min_chars or len(result.hypothesis) < self.min_chars:
            result.reason = "too_short"
        return result
