"""Apply the decisions to a run's records: the reviewed dataset, same shape as the input.

The decisions are applied to the run's candidates (the items that were pushed), the same for
every kind: a reviewed final label becomes the candidate's label, the discard choice
(*broken*/*discard*) removes it, an accepted revision replaces the text it revises (its
``anchor`` or ``text``); pending, unresolved and unsampled candidates keep their label. The kind
then makes the reviewed records from its candidates (:meth:`Kind.apply_review`), with its review
columns: RuHNP moves a relabelled candidate to the other list and marks each item
(``pos_status``, ``neg_labels``, …) and the record (``review_status``: the worst of its pushed
items, unresolved > pending > reviewed; ``not_sampled`` when none was pushed); WANLI marks each
row (``review_status``, ``intended_label``, ``annotator_labels``, ``annotators``).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from rudatagen.annotate.aggregate import REVIEWED, Decision
from rudatagen.annotate.items import RunItems
from rudatagen.kinds.review import Review


def _schema(base: pa.Schema, extra: dict[str, pa.DataType]) -> pa.Schema:
    fields = [f for f in base if f.name not in extra]
    return pa.schema([*fields, *(pa.field(name, kind) for name, kind in extra.items())])


def apply_decisions(
    run: RunItems, decisions: dict[str, Decision]
) -> tuple[pa.Table, dict[str, int]]:
    """The reviewed records of ``run`` and how many candidates were removed, relabelled and
    revised (under the names of the kind's ``AnnotationSpec.count_names``)."""
    kind, spec = run.kind, run.kind.annotation
    review = Review(kind.candidates(run.rows, kind.candidate_labels))
    table = review.table
    removed, relabelled, revised = spec.count_names
    counts = dict.fromkeys(spec.count_names, 0)
    for row, item in enumerate(run.items):
        decision = decisions.get(item.key)
        if decision is None:
            continue
        review.status[row] = decision.status
        review.labels[row] = decision.labels
        review.annotators[row] = decision.annotators
        for target, text in decision.revisions.items():
            getattr(table, spec.item_data[target])[row] = text  # the anchor or the text
        counts[revised] += bool(decision.revisions)
        if decision.final == spec.discard:
            table.reject(np.array([row]), "review", [spec.discard])
            counts[removed] += 1
        elif decision.status == REVIEWED and decision.final is not None:
            code = table.code(decision.final)
            counts[relabelled] += code != int(table.label[row])
            table.label[row] = code
    records = kind.apply_review(review, run.rows)
    return pa.Table.from_pylist(records, schema=_schema(run.schema, kind.review_columns)), counts
