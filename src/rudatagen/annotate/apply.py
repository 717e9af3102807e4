"""Apply the decisions to a run's records: the reviewed dataset, same shape as the input.

RuHNP (one row per record): a reviewed candidate goes to the list its final human label names
(``pos`` for paraphrase, ``neg`` for non_paraphrase; candidates keep their order, ones moved from
the other list come after), *broken* removes it, an accepted correction replaces its text;
pending, unresolved and unsampled candidates stay where they were. Per candidate, aligned with the
new lists: ``pos_status``/``neg_status``, ``pos_labels``/``neg_labels`` and
``pos_annotators``/``neg_annotators`` (the votes). The record's ``review_status`` is the worst of
its pushed candidates: unresolved > pending > reviewed; ``not_sampled`` when none was pushed.

WANLI (one row per pair): ``label`` becomes the final human label, *discard* removes the row,
accepted revisions replace ``premise``/``hypothesis``; unresolved rows stay with their machine
label; plus ``review_status``, ``intended_label``, ``annotator_labels``, ``annotators``.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from rudatagen.annotate.aggregate import NOT_SAMPLED, PENDING, REVIEWED, UNRESOLVED, Decision
from rudatagen.annotate.configs import TaskSpec

KIND_OF = {"paraphrase": "pos", "non_paraphrase": "neg"}
_RANK = {UNRESOLVED: 3, PENDING: 2, REVIEWED: 1}
STRINGS = pa.list_(pa.string())
NESTED = pa.list_(STRINGS)

RUHNP_EXTRA = {
    "review_status": pa.string(),
    "pos_status": STRINGS,
    "neg_status": STRINGS,
    "pos_labels": NESTED,
    "neg_labels": NESTED,
    "pos_annotators": NESTED,
    "neg_annotators": NESTED,
}
WANLI_EXTRA = {
    "review_status": pa.string(),
    "intended_label": pa.string(),
    "annotator_labels": STRINGS,
    "annotators": STRINGS,
}


def _schema(base: pa.Schema, extra: dict[str, pa.DataType]) -> pa.Schema:
    fields = [f for f in base if f.name not in extra]
    return pa.schema([*fields, *(pa.field(name, kind) for name, kind in extra.items())])


def apply_ruhnp(
    rows: list[dict[str, Any]], decisions: dict[str, Decision], schema: pa.Schema
) -> tuple[pa.Table, dict[str, int]]:
    out: list[dict[str, Any]] = []
    counts = {"removed": 0, "moved": 0, "corrected": 0}
    for row in rows:
        rid = str(row["id"])
        lists: dict[str, list[tuple[str, str, Decision | None]]] = {"pos": [], "neg": []}
        moved: dict[str, list[tuple[str, str, Decision | None]]] = {"pos": [], "neg": []}
        pushed: list[str] = []
        for kind in ("pos", "neg"):
            for index, text in enumerate(row[kind] or ()):
                decision = decisions.get(f"{rid}/{kind}/{index}")
                text = "" if text is None else str(text)
                if decision is None:
                    lists[kind].append((text, NOT_SAMPLED, None))
                    continue
                pushed.append(decision.status)
                text = decision.revisions.get("text", text)
                counts["corrected"] += "text" in decision.revisions
                if decision.status != REVIEWED:
                    lists[kind].append((text, decision.status, decision))
                elif decision.final in KIND_OF:
                    target = KIND_OF[decision.final]
                    (lists if target == kind else moved)[target].append((text, REVIEWED, decision))
                    counts["moved"] += target != kind
                else:
                    counts["removed"] += 1
        new = dict(row)
        for kind in ("pos", "neg"):
            entries = lists[kind] + moved[kind]
            new[kind] = [text for text, _, _ in entries]
            new[f"{kind}_status"] = [status for _, status, _ in entries]
            new[f"{kind}_labels"] = [d.labels if d else [] for _, _, d in entries]
            new[f"{kind}_annotators"] = [d.annotators if d else [] for _, _, d in entries]
        new["review_status"] = max(pushed, key=_RANK.__getitem__) if pushed else NOT_SAMPLED
        out.append(new)
    return pa.Table.from_pylist(out, schema=_schema(schema, RUHNP_EXTRA)), counts


def apply_wanli(
    rows: list[dict[str, Any]], decisions: dict[str, Decision], schema: pa.Schema, spec: TaskSpec
) -> tuple[pa.Table, dict[str, int]]:
    out: list[dict[str, Any]] = []
    counts = {"removed": 0, "relabelled": 0, "revised": 0}
    for row in rows:
        decision = decisions.get(str(row["id"]))
        new = dict(row)
        new["intended_label"] = row["label"]
        new["annotator_labels"] = decision.labels if decision else []
        new["annotators"] = decision.annotators if decision else []
        if decision is None:
            new["review_status"] = NOT_SAMPLED
            out.append(new)
            continue
        if decision.final == spec.discard:
            counts["removed"] += 1
            continue
        new["review_status"] = decision.status
        if decision.status in (REVIEWED, UNRESOLVED):
            for target, text in decision.revisions.items():
                new[target] = text
            counts["revised"] += bool(decision.revisions)
        if decision.status == REVIEWED and decision.final:
            counts["relabelled"] += decision.final != row["label"]
            new["label"] = decision.final
        out.append(new)
    return pa.Table.from_pylist(out, schema=_schema(schema, WANLI_EXTRA)), counts
