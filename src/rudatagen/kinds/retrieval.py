"""Retrieval: a search query, the passage that answers it and hard negatives (asymmetric).

A record is one (query, passage) pair: ``query``, ``positive`` (the passage), ``negatives`` (a
list, empty until ``rudatagen mine`` fills it), ``query_type`` (``keyword``, ``question``,
``descriptive``, ``partial``, …) and ``passage_id``; a passage gives several records (one per
query), so splits group by ``passage_id``: no passage is in two splits.

Published rows keep these columns, in sentence-transformers' hard-negative layout (``query``,
``positive`` and the ``negatives`` list, as ``mine_hard_negatives`` makes them before it spreads
them to columns): a variable number of negatives fits one list column, and ``passage_id`` keeps
the grouping. For training a row becomes ``anchor`` (query), ``positive`` and ``negative_1`` …
``negative_n`` — the n-tuple that MultipleNegativesRankingLoss takes — where n is
``combinations_per_query`` or the most negatives any row has, if fewer; a row with fewer
negatives repeats its own (a repeated negative weighs a little more in the softmax, which costs
less than dropping the row). Rows without negatives are skipped (counted) unless no row has any:
then the rows are (anchor, positive) pairs and the batch is the only source of negatives. The
query side takes the ``query`` prefix, the passages the ``document`` prefix. For evaluation the
split is an information-retrieval set (:class:`RetrievalSet`: queries, a corpus of every passage
and mined negative, each query's passage as its one relevant document); as pairs, a query with
its passage is positive and with each negative negative.

For filtering and review a record is one candidate: anchor = the query, text = the passage,
intended label ``answers``. Review may say the passage answers the query only in part, does not
answer it, or that the query is broken (the row goes); it may correct the query. Reviewed rows
keep ``answers`` and ``answers_partly`` (a hard but true positive) and drop ``does_not_answer``
(a false positive would teach the wrong thing), with ``review_status``, ``review_label``,
``annotator_labels`` and ``annotators``. ``annotate push --strategy uncertain`` samples the rows
whose answerability score (the reranker's probability) lies nearest its floor first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import pyarrow as pa

from rudatagen.errors import RudatagenError
from rudatagen.kinds.base import (
    AnnotationSpec,
    CardFacts,
    Kind,
    Record,
    label_counts,
    length_stats,
)
from rudatagen.kinds.candidates import CandidateTable
from rudatagen.kinds.review import Review, row_review_columns
from rudatagen.kinds.shapes import PairSet, RetrievalSet, TrainingRows, strings

LABELS = ("answers", "answers_partly", "does_not_answer")
KEPT_AFTER_REVIEW = ("answers", "answers_partly")
PASSAGE_FIELD = "positive"  # the candidate's field: the passage
EMPTY = "row without a query or a passage"
ANSWERABILITY = "answerability_prob"  # the answerability filter's score column


class Retrieval(Kind):
    name = "retrieval"
    record_columns = ("id", "query", "positive", "negatives", "query_type", "passage_id")
    reference_schema = pa.schema(
        [
            ("query", pa.string()),
            ("positive", pa.string()),
            ("negatives", pa.list_(pa.string())),
            ("query_type", pa.string()),
            ("passage_id", pa.string()),
        ]
    )
    group_column = "passage_id"
    symmetric = False
    training_shapes = ("triplets",)
    candidate_labels = LABELS
    annotation = AnnotationSpec(
        name="retrieval",
        config_file="retrieval.xml",
        choice_from="label",
        choice_to="passage",
        labels=LABELS,
        discard="broken_query",
        revisions={"query_correction": "query"},
        title="Retrieval review",
        scores_from="answerability_prob in candidates.parquet from `rudatagen filter` with "
        "filters.answerability.enabled",
        item_key="{record_id}",
        item_data={"query": "anchor", "passage": "text", "intended_label": "label"},
        # Review asks whether the passage answers the query: the pairs the reranker barely
        # passed are the doubtful ones (easiness and copying do not judge the answer).
        uncertainty_scores=(ANSWERABILITY,),
        count_names=("removed", "relabelled", "corrected"),
    )
    review_columns: ClassVar[dict[str, pa.DataType]] = row_review_columns("review_label")
    card = CardFacts(
        pretty_name="Russian retrieval queries (rudatagen)",
        summary="Russian search queries written by an LLM for text passages, with hard negatives "
        "mined from a corpus, for training and evaluating retrieval encoders; curated with "
        "rudatagen.",
        task_categories=("sentence-similarity", "text-retrieval"),
        task_ids=("document-retrieval",),
        columns="- `query` (string): a search query.\n"
        "- `positive` (string): the passage that answers it.\n"
        "- `negatives` (list of strings): hard negatives mined from the corpus.\n"
        "- `query_type` (string): what kind of query it is (`keyword`, `question`, "
        "`descriptive`, `partial`: the passage answers it only in part).\n"
        "- `passage_id` (string): the passage (splits never share one).\n\n"
        "Sentence-transformers' hard-negative layout: train with "
        "MultipleNegativesRankingLoss on (anchor=query, positive, negative_1..n).",
    )

    def matches(self, columns: set[str]) -> bool:
        """A foreign table with ``query`` and a single ``positive`` passage is retrieval data."""
        return {"query", "positive"} <= columns

    # -- filtering and review --------------------------------------------------------------

    def candidates(
        self, records: Sequence[dict[str, Any]], labels: Sequence[str] | None = None
    ) -> CandidateTable:
        """One ``answers`` candidate per record: (query, passage). The labels are fixed."""
        rows = (
            (record["id"], str(record.get("query") or ""), str(record.get("positive") or ""))
            for record in records
        )
        return CandidateTable.from_rows(
            LABELS, ((rid, query, passage, 0, 0, PASSAGE_FIELD) for rid, query, passage in rows)
        )

    def rebuild(self, record: Record, table: CandidateTable, rows: list[int]) -> list[Record]:
        """The record with the query and passage as the filters left them (if it survived)."""
        return [{**record, "query": table.anchor[row], "positive": table.text[row]} for row in rows]

    def rebuild_reviewed(self, record: Record, review: Review, rows: list[int]) -> list[Record]:
        """The record with its (corrected) query, unless it was discarded or does not answer."""
        table = review.table
        return [
            {
                **record,
                "query": table.anchor[row],
                "positive": table.text[row],
                **review.of_row(row),
                "review_label": table.label_of(row),
            }
            for row in rows
            if table.alive[row] and table.label_of(row) in KEPT_AFTER_REVIEW
        ]

    # -- publishing ------------------------------------------------------------------------

    def normalise(self, row: dict[str, Any]) -> dict[str, Any]:
        row["negatives"] = strings(row.get("negatives"))
        return row

    def check_row(self, row: dict[str, Any], index: int) -> None:
        if not row.get("query") or not row.get("positive"):
            raise RudatagenError(f"row {index}: retrieval rows need a query and a positive passage")
        if not row.get("passage_id"):
            raise RudatagenError(f"row {index}: retrieval rows need a passage_id (the split group)")
        if row["positive"] in (row.get("negatives") or []):
            raise RudatagenError(f"row {index}: the positive passage is among its own negatives")

    def split_stats(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        negatives = [n for r in rows for n in strings(r.get("negatives"))]
        return {
            "rows": len(rows),
            "passages": len({r["passage_id"] for r in rows}),
            "lengths": {
                "query": length_stats([r["query"] for r in rows]),
                "positive": length_stats(list({r["positive"] for r in rows})),
                "negatives": length_stats(negatives),
            },
            "labels": label_counts([str(r.get("query_type")) for r in rows]),
            "mean_negatives_per_row": round(len(negatives) / len(rows), 2) if rows else 0.0,
        }

    # -- training and evaluation -----------------------------------------------------------

    def training_rows(
        self, rows: list[dict[str, Any]], combinations: int, label_scores: dict[str, float]
    ) -> TrainingRows:
        """(anchor, positive, negative_1..n) n-tuples; see the module docstring for n."""
        out = TrainingRows()
        usable = []
        for row in rows:
            if not row.get("query") or not row.get("positive"):
                out.skipped["retrieval row without a query or a passage"] += 1
            else:
                usable.append((str(row["query"]), str(row["positive"]), _negatives(row)))
        width = min(combinations, max((len(neg) for _, _, neg in usable), default=0))
        columns: dict[str, list[str]] = {"anchor": [], "positive": []}
        columns |= {f"negative_{i + 1}": [] for i in range(width)}
        for query, passage, negatives in usable:
            if width and not negatives:
                out.skipped["retrieval row without mined negatives (others have them)"] += 1
                continue
            columns["anchor"].append(query)
            columns["positive"].append(passage)
            for i in range(width):
                columns[f"negative_{i + 1}"].append(negatives[i % len(negatives)])
        out.triplets = columns
        return out

    def prompt_roles(self, shape: str) -> dict[str, str]:
        """The query side against the passage side; ``negative`` covers ``negative_1..n``."""
        return {"anchor": "query", "positive": "document", "negative": "document"}

    def evaluation_pairs(self, rows: list[dict[str, Any]], name: str, source: str) -> PairSet:
        """As labelled pairs: a query with its passage (1) and with each negative (0)."""
        out = PairSet(name, self.name, source, role1="query", role2="document")
        for row in rows:
            query, passage = row.get("query"), row.get("positive")
            if not query or not passage:
                continue
            out.add(query, passage, 1)
            for negative in _negatives(row):
                out.add(query, negative, 0)
                out.triplets.append((query, passage, negative))
        return out

    def retrieval_set(self, rows: list[dict[str, Any]], name: str, source: str) -> RetrievalSet:
        """The split as an IR task: every query against every passage and mined negative of the
        split; a query's one relevant document is its passage. Passages and negatives are keyed
        by their text, so a passage shared by several queries (or mined as a negative of
        another) is one corpus document."""
        if rows and "positive" not in rows[0]:
            raise RudatagenError(
                f"{source}: retrieval data needs a 'positive' (passage) column; "
                f"it has {', '.join(rows[0])}"
            )
        out = RetrievalSet(name, self.name, source)
        for index, row in enumerate(rows):
            query, passage = row.get("query"), row.get("positive")
            if not query or not passage:
                out.skipped[EMPTY] = out.skipped.get(EMPTY, 0) + 1
                continue
            qid = f"q{index}"  # published rows have no id; the row's place names it
            out.queries[qid] = str(query)
            out.relevant[qid] = {out.document(str(passage))}
            for negative in _negatives(row):
                out.document(negative)
        if not out.queries:
            raise RudatagenError(f"{source}: no (query, passage) rows to evaluate")
        return out


def _negatives(row: dict[str, Any]) -> list[str]:
    """The row's mined negatives, without its own passage (a mining slip would make the one
    relevant document a negative)."""
    return [n for n in strings(row.get("negatives")) if n != row.get("positive")]
