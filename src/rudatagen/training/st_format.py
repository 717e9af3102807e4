"""Tables in sentence-transformers' column conventions, for ``train`` and ``evaluate``.

Users mix rudatagen's data with corpora they already train on, and those follow the conventions
sentence-transformers' losses take without glue (see its "Dataset Format" docs):

- n-tuples ``anchor / positive`` with optional ``negative`` or ``negative_1 .. negative_n``:
  MNRL-style training rows; evaluated as labelled pairs (anchor with positive = 1, with each
  negative = 0) and triplets (anchor, positive, first negative);
- pairs ``sentence1 / sentence2`` with ``score`` (a float) or ``label`` (0/1): scored pairs for
  CoSENT / AnglE; evaluated by Spearman against the score, or as labelled pairs.

Such a table is no rudatagen kind (it has no records to filter, review or publish), so it is read
by :class:`SentenceTransformersColumns`, which answers the few questions training and evaluation
ask of a kind (``training_rows``, ``prompt_roles``, ``evaluation_pairs``, ...). Detection comes
after rudatagen's kinds (:func:`rudatagen.training.data.kind_of_dataset`); ``columns:`` maps the
roles to other column names (``{anchor: question, positive: answer}``).

Symmetry by shape: pairs are symmetric (STS, NLI: both sides the same kind of text), n-tuples
asymmetric (anchor as query, the rest as documents); a dataset's ``symmetric:`` overrides it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rudatagen.errors import RudatagenError
from rudatagen.kinds.shapes import PairSet, RetrievalSet, TrainingRows

SENTENCE_TRANSFORMERS = "sentence-transformers"
_NEGATIVE = re.compile(r"^negative(_[1-9][0-9]*)?$")
ROLES = ("anchor", "positive", "negative", "negative_N", "sentence1", "sentence2", "score", "label")
EXPECTED = "anchor, positive[, negative | negative_1..n] or sentence1, sentence2, score | label"


def valid_role(role: str) -> bool:
    return role in ROLES[:2] + ROLES[4:] or bool(_NEGATIVE.match(role))


def _negative_order(role: str) -> int:
    return int(role.rpartition("_")[2]) if role != "negative" else 0


@dataclass(frozen=True)
class SentenceTransformersColumns:
    """How one table maps onto the conventions: its shape and each role's source column."""

    shape: str  # "triplets" (anchor/positive/negative…) or "pairs" (sentence1/sentence2/…)
    columns: dict[str, str] = field(default_factory=dict)  # role -> source column, in order
    name: ClassVar[str] = SENTENCE_TRANSFORMERS

    @property
    def symmetric(self) -> bool:
        return self.shape == "pairs"

    @property
    def training_shapes(self) -> tuple[str, ...]:
        return (self.shape,)

    @classmethod
    def detect(
        cls, present: Iterable[str], source: str, mapping: Mapping[str, str] | None = None
    ) -> SentenceTransformersColumns | None:
        """The reading of a table with columns ``present``: ``mapping`` (role → column) for the
        roles it names, the convention's own names for the rest; None when they do not fit."""
        names = set(present)
        mapping = dict(mapping or {})
        for role, column in mapping.items():
            if not valid_role(role):
                raise RudatagenError(
                    f"{source}: columns: unknown role {role!r} (roles: {EXPECTED})"
                )
            if column not in names:
                shown = ", ".join(sorted(names))
                raise RudatagenError(
                    f"{source}: columns: no column {column!r}; its columns: {shown}"
                )
        taken = set(mapping.values())
        found = {role: role for role in names - taken if valid_role(role)} | mapping
        if "anchor" in found and "positive" in found:
            negatives = sorted((r for r in found if _NEGATIVE.match(r)), key=_negative_order)
            if "negative" in negatives and len(negatives) > 1:
                raise RudatagenError(f"{source}: both 'negative' and 'negative_N' columns")
            order = ["anchor", "positive", *negatives]
            return cls("triplets", {role: found[role] for role in order})
        if "sentence1" in found and "sentence2" in found and ("score" in found or "label" in found):
            target = "score" if "score" in found else "label"
            return cls("pairs", {role: found[role] for role in ("sentence1", "sentence2", target)})
        if mapping:
            raise RudatagenError(
                f"{source}: columns {mapping} make no sentence-transformers table ({EXPECTED})"
            )
        return None

    # -- training --------------------------------------------------------------------------

    def training_rows(
        self, rows: list[dict[str, Any]], combinations: int, label_scores: dict[str, float]
    ) -> TrainingRows:
        """The rows as they are (renamed to the conventions); rows with an empty text or a
        missing score are skipped and counted. ``combinations``/``label_scores`` do not apply."""
        out = TrainingRows()
        columns: dict[str, list[Any]] = {role: [] for role in self.columns}
        target = None if self.shape == "triplets" else next(reversed(self.columns))
        text_roles = [role for role in self.columns if role != target]
        for row in rows:
            texts = [row.get(self.columns[role]) for role in text_roles]
            if not all(isinstance(t, str) and t.strip() for t in texts):
                out.skipped["row with an empty or missing text"] += 1
                continue
            value = None if target is None else self._score(row.get(self.columns[target]))
            if target is not None and value is None:
                out.skipped[f"row without a numeric {target}"] += 1
                continue
            for role, text in zip(text_roles, texts, strict=True):
                columns[role].append(text)
            if target is not None:
                columns[target].append(value)
        if self.shape == "triplets":
            out.triplets = columns
        else:  # a 0/1 label is the score CoSENT / AnglE rank by
            out.pairs = {"sentence1": columns["sentence1"], "sentence2": columns["sentence2"]}
            out.pairs["score"] = columns[target or "score"]
        return out

    def _score(self, value: Any) -> float | None:
        if isinstance(value, bool):
            return float(value)
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None
        return None if math.isnan(number) else number

    def prompt_roles(self, shape: str) -> dict[str, str]:
        """Pairs: both sides symmetric; n-tuples: the anchor a query, the rest documents."""
        if shape == "pairs":
            return {"sentence1": "symmetric", "sentence2": "symmetric"}
        return {"anchor": "query", "positive": "document", "negative": "document"}

    # -- evaluation ------------------------------------------------------------------------

    def evaluation_pairs(self, rows: list[dict[str, Any]], name: str, source: str) -> PairSet:
        """n-tuples: (anchor, positive) = 1, (anchor, each negative) = 0, and (anchor, positive,
        first negative) triplets; pairs: a 0/1 ``label`` as labelled pairs, a ``score`` as gold
        scores (Spearman)."""
        converted = self.training_rows(rows, 1, {})
        if self.shape == "triplets":
            columns = converted.triplets
            out = PairSet(name, self.name, source, role1="query", role2="document")
            negatives = [role for role in columns if role.startswith("negative")]
            for index, anchor in enumerate(columns["anchor"]):
                positive = columns["positive"][index]
                out.add(anchor, positive, 1)
                for role in negatives:
                    out.add(anchor, columns[role][index], 0)
                if negatives:
                    out.triplets.append((anchor, positive, columns[negatives[0]][index]))
        else:
            out = PairSet(name, self.name, source)
            by_label = "label" in self.columns
            for a, b, value in zip(*converted.pairs.values(), strict=True):
                if by_label and value not in (0.0, 1.0):
                    raise RudatagenError(
                        f"{source}: label {value!r} is not 0/1; give a score column instead"
                    )
                if by_label:
                    out.add(a, b, int(value))
                else:
                    out.add(a, b, None, value)
        out.skipped = dict(converted.skipped)
        return out

    def retrieval_set(
        self, rows: list[dict[str, Any]], name: str, source: str
    ) -> RetrievalSet | None:
        """Evaluated as pairs, never as a retrieval task (there is no corpus)."""
        return None
