"""Turn a run directory into annotation items: one per RuHNP candidate, one per WANLI row.

Every item has a stable ``key`` (RuHNP ``<record id>/pos/<index>`` or ``/neg/``; WANLI the row
id) that travels in the task data and makes push idempotent and pull able to map back. The
machine's label is the intended one (``pos`` → paraphrase, ``neg`` → non_paraphrase, WANLI
``label``). ``distance`` is how far the item's filter scores lie from the filter thresholds, each
normalised by that score's standard deviation over the run (smaller = less certain; scores that
are constant over the run are ignored; ``None`` when the run has no scores); WANLI uses
``-max_variability``, so more ambiguous rows come first.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from rudatagen.annotate.configs import TaskSpec
from rudatagen.core.manifest import Manifest, read_manifest
from rudatagen.core.rundir import read_run_table
from rudatagen.errors import RudatagenError

RUHNP_COLUMNS = ("id", "query", "pos", "neg")
WANLI_COLUMNS = ("id", "premise", "hypothesis", "label")
KINDS = {"pos": "paraphrase", "neg": "non_paraphrase"}

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
    """The items of one run directory, its records/rows as read, and its run id."""

    task: str
    items: list[Item]
    rows: list[dict[str, Any]]
    run_id: str
    has_scores: bool
    schema: pa.Schema
    notes: list[str]


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
    if spec.name == "ruhnp":
        return _ruhnp_items(run_dir)
    return _wanli_items(run_dir)


def _ruhnp_items(run_dir: Path) -> RunItems:
    rows, schema = read_rows(run_dir, RUHNP_COLUMNS)
    manifest = read_manifest(run_dir)
    notes: list[str] = []
    scores = _candidate_scores(run_dir, notes)
    items: list[Item] = []
    for row in rows:
        rid = str(row["id"])
        for kind, label in KINDS.items():
            for index, text in enumerate(row[kind] or ()):
                key = f"{rid}/{kind}/{index}"
                data = {
                    "item_key": key,
                    "record_id": rid,
                    "kind": kind,
                    "index": index,
                    "query": row["query"],
                    "text": "" if text is None else str(text),
                }
                item = Item(key, data, label)
                found = scores.get((rid, label))
                if found is not None and index < len(found) and found[index][0] == data["text"]:
                    item.data["scores"] = found[index][1]
                items.append(item)
    has_scores = any("scores" in item.data for item in items)
    if scores and not has_scores:
        notes.append("candidates.parquet does not match data/ (no scores used)")
    if has_scores:
        _set_distances(items, (manifest.extra("filters") if manifest else None) or [])
    return RunItems("ruhnp", items, rows, run_id_of(run_dir, manifest), has_scores, schema, notes)


def _candidate_scores(
    run_dir: Path, notes: list[str]
) -> dict[tuple[str, str], list[tuple[str, dict[str, float]]]]:
    """Kept candidates by (record id, label), in output order, with their score columns."""
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
    score_columns = [c for c in table.column_names if c in THRESHOLDS]
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


def _wanli_items(run_dir: Path) -> RunItems:
    rows, schema = read_rows(run_dir, WANLI_COLUMNS)
    manifest = read_manifest(run_dir)
    items: list[Item] = []
    has_scores = "max_variability" in schema.names
    for row in rows:
        key = str(row["id"])
        data = {
            "item_key": key,
            "premise": row["premise"],
            "hypothesis": row["hypothesis"],
            "intended_label": row["label"],
        }
        variability = row.get("max_variability")
        item = Item(key, data, str(row["label"]))
        if variability is not None and math.isfinite(float(variability)):
            item.distance = -float(variability)
            item.score = round(min(max(1.0 - float(variability), 0.0), 1.0), 4)
            data["max_variability"] = float(variability)
        items.append(item)
    has_scores = has_scores and any(i.distance is not None for i in items)
    return RunItems("wanli", items, rows, run_id_of(run_dir, manifest), has_scores, schema, [])
