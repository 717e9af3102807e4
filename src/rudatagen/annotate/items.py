"""Turn a run directory into annotation items, one per candidate of its kind.

The candidates are the ones the filters see (:meth:`Kind.candidates`): one per RuHNP ``pos`` or
``neg`` item, one per WANLI row. Each item has a stable ``key`` (the kind's
``AnnotationSpec.item_key``: RuHNP ``<record id>/pos/<index>`` or ``/neg/``, WANLI the row id)
that travels in the task data and makes push idempotent and pull able to map back; the task data
are the candidate columns the spec's ``item_data`` names. The machine's label is the candidate's
intended one (``pos`` → paraphrase, ``neg`` → non_paraphrase, WANLI ``label``).

``distance`` says how sure the machine is (smaller = less sure). By default it is how far the
item's filter scores (``candidates.parquet``) lie from the filter thresholds, each normalised by
that score's standard deviation over the run (scores that are constant over the run are ignored;
``None`` when the run has no scores). A kind whose spec names ``uncertainty_scores`` counts only
those columns (retrieval: ``answerability_prob``, since review judges the answer); a run without
any of them has no scores. A kind whose spec names an ``ambiguity_column`` (WANLI:
``max_variability``) uses minus that column instead, so the most ambiguous records come first.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from string import Formatter
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from rudatagen.annotate.configs import TaskSpec
from rudatagen.core.manifest import Manifest, read_manifest
from rudatagen.core.rundir import read_run_table
from rudatagen.errors import RudatagenError
from rudatagen.kinds import Kind, get_kind
from rudatagen.kinds.candidates import CandidateTable

# score column -> (filter name, {intended label: setting names holding its threshold(s)})
THRESHOLDS: dict[str, tuple[str, dict[str, tuple[str, ...]]]] = {
    "lexical_similarity": (
        "lexical",
        {
            "paraphrase": ("paraphrase_max_similarity",),
            "non_paraphrase": ("non_paraphrase_min_similarity",),
        },
    ),
    "lexical_lemma_overlap": (
        "lexical",
        {
            "paraphrase": ("paraphrase_max_lemma_overlap",),
            "non_paraphrase": ("non_paraphrase_min_lemma_overlap",),
        },
    ),
    "biencoder_cosine": (
        "biencoder",
        {
            "paraphrase": ("paraphrase_min", "paraphrase_max"),
            "non_paraphrase": ("non_paraphrase_min", "non_paraphrase_max"),
        },
    ),
    "cross_encoder_paraphrase_prob": (
        "cross_encoder",
        {"paraphrase": ("paraphrase_min",), "non_paraphrase": ("non_paraphrase_max",)},
    ),
    "dedup_max_jaccard": ("dedup", {"*": ("threshold",)}),
    "heuristic_length_ratio": ("heuristic", {"*": ("min_length_ratio", "max_length_ratio")}),
    "heuristic_cyrillic": ("heuristic", {"*": ("min_cyrillic",)}),
    "answerability_prob": ("answerability", {"answers": ("min_probability",)}),
}


@dataclass
class Item:
    key: str
    data: dict[str, Any]  # what the Label Studio task shows and carries
    intended: str  # the machine's label
    distance: float | None = None  # to the nearest threshold; smaller = less certain
    score: float = 1.0  # the pre-annotation's confidence (1.0 when the run has no scores)


@dataclass
class RunItems:
    """The items of one run directory (one per candidate, in the candidates' order), its
    records/rows as read, its kind and its run id."""

    task: str
    items: list[Item]
    rows: list[dict[str, Any]]
    run_id: str
    has_scores: bool
    schema: pa.Schema
    notes: list[str]
    kind: Kind


def read_rows(run_dir: Path, required: tuple[str, ...]) -> tuple[list[dict[str, Any]], pa.Schema]:
    table = read_run_table(run_dir, required, hint="; is --task right?")
    rows = table.to_pylist()
    ids = [str(r["id"]) for r in rows]
    if len(set(ids)) != len(ids):
        raise RudatagenError(f"{run_dir}: duplicate ids in data/*.parquet")
    return rows, table.schema


def run_id_of(run_dir: Path, manifest: Manifest | None) -> str:
    """``<dir name>`` plus the generation fingerprint when known: the predictions' version."""
    name = run_dir.resolve().name
    fingerprint = None
    if manifest is not None:
        upstream = manifest.inputs[0].fingerprint if manifest.inputs else None
        fingerprint = manifest.fingerprint or upstream
    return f"{name}@{fingerprint}" if fingerprint else name


def load_items(run_dir: Path, spec: TaskSpec) -> RunItems:
    """The items of the run at ``run_dir``, whose kind reviews with ``spec``."""
    kind = get_kind(spec.name)
    rows, schema = read_rows(run_dir, kind.record_columns)
    manifest = read_manifest(run_dir)
    table = kind.candidates(rows, kind.candidate_labels)
    items = [
        Item(key, data, table.label_of(row)) for row, (key, data) in enumerate(_keyed(table, spec))
    ]
    notes: list[str] = []
    if spec.ambiguity_column is not None:
        has_scores = spec.ambiguity_column in schema.names and _ambiguity(
            items, table, rows, spec.ambiguity_column
        )
    else:
        columns = spec.uncertainty_scores or tuple(THRESHOLDS)
        scores = _candidate_scores(run_dir, columns, notes)
        has_scores = _filter_scores(items, table, scores, notes)
        if has_scores:
            _set_distances(items, (manifest.extra("filters") if manifest else None) or [])
    run_id = run_id_of(run_dir, manifest)
    return RunItems(spec.name, items, rows, run_id, has_scores, schema, notes, kind)


def _keyed(table: CandidateTable, spec: TaskSpec) -> list[tuple[str, dict[str, Any]]]:
    """Each candidate's item key and task data, as ``spec`` says; a one-line error when two
    candidates would share a key."""
    key_columns = [name for _, name, _, _ in Formatter().parse(spec.item_key) if name]
    out = []
    for row in range(len(table)):
        key = spec.item_key.format(**{column: table.cell(row, column) for column in key_columns})
        data = {name: table.cell(row, column) for name, column in spec.item_data.items()}
        out.append((key, {"item_key": key, **data}))
    if len({key for key, _ in out}) != len(out):
        raise RudatagenError(f"two {spec.name} candidates share an item key ({spec.item_key})")
    return out


def _ambiguity(
    items: list[Item], table: CandidateTable, rows: list[dict[str, Any]], column: str
) -> bool:
    """Distance (minus the value) and pre-annotation score (1 - value) from a record column."""
    record_of = {row["id"]: row for row in rows}
    found = False
    for row, item in enumerate(items):
        value = record_of[table.record_id[row]].get(column)
        if value is not None and math.isfinite(float(value)):
            item.distance = -float(value)
            item.score = round(min(max(1.0 - float(value), 0.0), 1.0), 4)
            item.data[column] = float(value)
            found = True
    return found


def _filter_scores(
    items: list[Item],
    table: CandidateTable,
    scores: dict[tuple[str, str], list[tuple[str, dict[str, float]]]],
    notes: list[str],
) -> bool:
    """Give each item the scores of its kept candidate in ``candidates.parquet`` (same record,
    label, position and text), in ``data["scores"]``; whether any item got a score."""
    for row, item in enumerate(items):
        found = scores.get((str(table.record_id[row]), item.intended))
        index = int(table.position[row])
        if found is not None and index < len(found) and found[index][0] == table.text[row]:
            item.data["scores"] = found[index][1]
    has_scores = any(item.data.get("scores") for item in items)
    if scores and not any("scores" in item.data for item in items):
        notes.append("candidates.parquet does not match data/ (no scores used)")
    return has_scores


def _candidate_scores(
    run_dir: Path, columns: tuple[str, ...], notes: list[str]
) -> dict[tuple[str, str], list[tuple[str, dict[str, float]]]]:
    """Kept candidates by (record id, label), in output order, with those of their score
    ``columns`` that the filters wrote (and that have a threshold in :data:`THRESHOLDS`)."""
    path = run_dir / "candidates.parquet"
    if not path.is_file():
        return {}
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise RudatagenError(f"unreadable {path}: {exc}") from None
    needed = {"record_id", "label", "position", "text", "kept"}
    if not needed <= set(table.column_names):
        notes.append(f"{path.name} lacks {sorted(needed - set(table.column_names))}; no scores")
        return {}
    score_columns = [c for c in table.column_names if c in THRESHOLDS and c in columns]
    grouped: dict[tuple[str, str], list[tuple[int, str, dict[str, float]]]] = defaultdict(list)
    for row in table.to_pylist():
        if not row["kept"]:
            continue
        values = {
            c: float(row[c])
            for c in score_columns
            if row[c] is not None and math.isfinite(float(row[c]))
        }
        grouped[(str(row["record_id"]), row["label"])].append(
            (int(row["position"]), row["text"], values)
        )
    return {
        key: [(text, values) for _, text, values in sorted(group, key=lambda g: g[0])]
        for key, group in grouped.items()
    }


def _set_distances(items: list[Item], filters: list[dict[str, Any]]) -> None:
    settings = {f.get("name"): f.get("settings") or {} for f in filters if isinstance(f, dict)}
    spread: dict[str, float] = {}
    for column in THRESHOLDS:
        values = [i.data["scores"][column] for i in items if column in i.data.get("scores", {})]
        std = float(np.std(values)) if len(values) >= 2 else 0.0
        if std > 1e-9:  # a score that is the same everywhere says nothing about uncertainty
            spread[column] = std
    for item in items:
        best = math.inf
        for column, value in item.data.get("scores", {}).items():
            name, by_label = THRESHOLDS[column]
            keys = by_label.get(item.intended) or by_label.get("*") or ()
            for key in keys:
                threshold = settings.get(name, {}).get(key)
                if isinstance(threshold, int | float) and column in spread:
                    best = min(best, abs(value - float(threshold)) / spread[column])
        item.distance = best
        if math.isfinite(best):
            item.score = round(0.5 + 0.5 * math.tanh(best), 4)
