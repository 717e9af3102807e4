"""How a kind's records meet ``mine_hard_negatives``: (anchor, positive) pairs in, columns out.

The miner takes (anchor, positive) pairs and treats every positive of an anchor as a positive:
none of them is ever its negative (it matches by text), and the margins are measured against the
weakest of them. A kind's shape says which pairs its records give and where the mined texts go.
This table lives here, not on the ``Kind`` interface, because mining is one optional stage that
two kinds use; a kind it does not list is a one-line error.

- ``retrieval``: the pair is (query, passage); the negatives fill ``negatives``, and the record
  gets ``positive_score`` and ``hardest_score`` (the easiness filter's inputs).
- ``ruhnp``: the pairs are (query, query) and (query, p) for each paraphrase p: the query's own
  sentence is usually in the corpus it came from, and a paraphrase is no negative. The mined
  texts go to ``corpus_negatives``, beside the LLM-written ``neg``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Record = dict[str, Any]


def _retrieval_pairs(record: Record) -> list[tuple[str, str]]:
    query, passage = record.get("query"), record.get("positive")
    return [(query, passage)] if query and passage else []


def _ruhnp_pairs(record: Record) -> list[tuple[str, str]]:
    query = record.get("query")
    if not query:
        return []
    return [(query, query)] + [(query, p) for p in record.get("pos") or () if p]


@dataclass(frozen=True)
class MiningShape:
    """One kind's side of mining."""

    kind: str
    pairs: Callable[[Record], list[tuple[str, str]]]  # empty: the record is not mined
    negatives_column: str  # the mined texts, hardest first
    scores_column: str  # their scores (the cross-encoder's when one rescored them)
    # The positives are passages of the corpus: a corpus holding none of them is the wrong one,
    # and each row gets positive_score / hardest_score.
    positives_in_corpus: bool
    needs: tuple[str, ...]  # record columns the pairs are read from


SHAPES: dict[str, MiningShape] = {
    shape.kind: shape
    for shape in (
        MiningShape(
            "retrieval",
            _retrieval_pairs,
            "negatives",
            "negative_scores",
            positives_in_corpus=True,
            needs=("query", "positive"),
        ),
        MiningShape(
            "ruhnp",
            _ruhnp_pairs,
            "corpus_negatives",
            "corpus_negative_scores",
            positives_in_corpus=False,
            needs=("query", "pos"),
        ),
    )
}
POSITIVE_SCORE = "positive_score"
HARDEST_SCORE = "hardest_score"
