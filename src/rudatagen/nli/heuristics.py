"""WANLI's heuristic filter for generated pairs, for Russian (Liu et al., 2022, §2.4).

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
rejected as ``too_short``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

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


class HeuristicFilter:
    def __init__(self, min_chars: int, leak_phrases: Iterable[str]) -> None:
        self.min_chars = min_chars
        self.leaks = [(phrase, _phrase_pattern(phrase)) for phrase in leak_phrases if phrase]

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
