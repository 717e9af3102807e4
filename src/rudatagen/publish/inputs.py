"""Read a run directory for publishing: its rows in the reference shape, and its history.

A run directory is a generation, filter, Label Studio ``pull`` or WANLI output: ``data/*.parquet``
plus optional ``manifest.json``, ``funnel.json`` and ``agreement.json``. Extra columns are
accepted and dropped; only the reference columns are published (RuHNP: ``query``, ``pos``,
``neg``; WANLI: ``premise``, ``hypothesis``, ``label``). A filter (or pull) manifest names its
``input`` run, which is followed back to the generation manifest.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rudatagen.errors import RudatagenError
from rudatagen.rundir import read_json, read_run_table

Task = Literal["ruhnp", "wanli"]
COLUMNS: dict[str, tuple[str, ...]] = {
    "ruhnp": ("query", "pos", "neg"),
    "wanli": ("premise", "hypothesis", "label"),
}
GROUP_COLUMN = {"ruhnp": "query", "wanli": "premise"}
WANLI_LABELS = ("entailment", "neutral", "contradiction", "not_entailment")
DROPPED_REVIEW_STATUS = "unresolved"


@dataclass
class RunInput:
    """The publishable rows of one run directory and what is known about how it was made."""

    task: Task
    rows: list[dict[str, Any]]
    rows_read: int
    dropped_unresolved: int
    manifests: list[dict[str, Any]] = field(default_factory=list)
    funnel: dict[str, Any] | None = None
    agreement: dict[str, Any] | None = None
    prompt_versions: dict[str, int] = field(default_factory=dict)
    review_status: dict[str, int] = field(default_factory=dict)

    @property
    def generation_manifest(self) -> dict[str, Any] | None:
        """The first manifest in the chain that is not a filter/pull step."""
        for manifest in self.manifests:
            if manifest.get("task") not in ("filter", "pull", "review"):
                return manifest
        return None

    def groups(self) -> list[str]:
        return [str(row[GROUP_COLUMN[self.task]]) for row in self.rows]


def detect_task(columns: list[str]) -> Task:
    for task in ("ruhnp", "wanli"):
        if set(COLUMNS[task]) <= set(columns):
            return task  # type: ignore[return-value]
    raise RudatagenError(
        f"cannot tell the task from the columns ({', '.join(columns)}): "
        "RuHNP needs query, pos, neg; WANLI needs premise, hypothesis, label"
    )


def _history(run_dir: Path) -> tuple[list[dict[str, Any]], dict | None, dict | None]:
    """Manifests from this run back to the generation run; the nearest funnel and agreement."""
    manifests: list[dict[str, Any]] = []
    funnel = agreement = None
    current: Path | None = run_dir
    seen: set[Path] = set()
    while current is not None and current.is_dir() and current.resolve() not in seen:
        seen.add(current.resolve())
        funnel = funnel or read_json(current / "funnel.json")
        agreement = agreement or read_json(current / "agreement.json")
        manifest = read_json(current / "manifest.json")
        if manifest is None:
            break
        manifests.append(manifest)
        upstream = manifest.get("input")
        current = Path(upstream) if isinstance(upstream, str) else None
    return manifests, funnel, agreement


def _check_row(task: Task, row: dict[str, Any], index: int) -> None:
    if task == "ruhnp":
        if not row["query"] or not isinstance(row["pos"], list) or not isinstance(row["neg"], list):
            raise RudatagenError(f"row {index}: RuHNP rows need a query and pos/neg lists")
        return
    if not row["premise"] or not row["hypothesis"]:
        raise RudatagenError(f"row {index}: empty premise or hypothesis")
    if row["label"] not in WANLI_LABELS:
        raise RudatagenError(
            f"row {index}: label {row['label']!r} is not one of {', '.join(WANLI_LABELS)}"
        )


def _drop_unresolved_candidates(
    rows: list[dict[str, Any]],
    pos_status: list[list[str] | None],
    neg_status: list[list[str] | None],
) -> tuple[list[dict[str, Any]], int]:
    """Remove the candidates whose review tied; a record left with no candidate goes too."""
    kept_rows, dropped = [], 0
    for row, pos_marks, neg_marks in zip(rows, pos_status, neg_status, strict=True):
        for column, marks in (("pos", pos_marks), ("neg", neg_marks)):
            items = row[column] or []
            marks = marks or [None] * len(items)
            keep = [
                item
                for item, mark in zip(items, marks, strict=False)
                if mark != DROPPED_REVIEW_STATUS
            ]
            dropped += len(items) - len(keep)
            row[column] = keep
        if row["pos"] or row["neg"]:
            kept_rows.append(row)
    return kept_rows, dropped


def read_run(run_dir: Path, task: Task | None = None, keep_unresolved: bool = False) -> RunInput:
    """The rows of ``run_dir`` in the reference shape of ``task`` (detected when None)."""
    table = read_run_table(run_dir)
    detected = task or detect_task(table.column_names)
    missing = [c for c in COLUMNS[detected] if c not in table.column_names]
    if missing:
        raise RudatagenError(
            f"{run_dir}: no column {', '.join(missing)} for task {detected} "
            f"(has {', '.join(table.column_names)})"
        )
    statuses = (
        table.column("review_status").to_pylist() if "review_status" in table.column_names else []
    )
    versions = (
        table.column("prompt_version").to_pylist() if "prompt_version" in table.column_names else []
    )
    reference = table.select(list(COLUMNS[detected])).to_pylist()
    rows_read, status_counts = len(reference), Counter(str(s) for s in statuses)
    dropped = 0
    if detected == "ruhnp" and {"pos_status", "neg_status"} <= set(table.column_names):
        statuses = []  # a reviewed RuHNP run marks each candidate: drop the tied ones only
        if not keep_unresolved:
            pos_status = table.column("pos_status").to_pylist()
            neg_status = table.column("neg_status").to_pylist()
            reference, dropped = _drop_unresolved_candidates(reference, pos_status, neg_status)
    rows: list[dict[str, Any]] = []
    for index, row in enumerate(reference):
        if statuses and statuses[index] == DROPPED_REVIEW_STATUS and not keep_unresolved:
            dropped += 1
            continue
        if detected == "wanli" and isinstance(row["label"], str):
            row["label"] = row["label"].strip().lower()
        _check_row(detected, row, index)
        rows.append(row)
    manifests, funnel, agreement = _history(run_dir)
    return RunInput(
        task=detected,
        rows=rows,
        rows_read=rows_read,
        dropped_unresolved=dropped,
        manifests=manifests,
        funnel=funnel,
        agreement=agreement,
        prompt_versions=dict(Counter(str(v) for v in versions if v is not None)),
        review_status=dict(status_counts),
    )
