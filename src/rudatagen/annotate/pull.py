"""``annotate pull``: export, aggregate, apply, measure agreement; write the reviewed run.

``OUT/`` gets ``data/shard-00000.parquet`` (the input's records/rows with the human decisions
applied, see :mod:`rudatagen.annotate.apply`), ``review.parquet`` (one row per pushed item: votes,
final label, status, revisions), ``agreement.json`` / ``agreement.md`` and ``manifest.json``
(never the API key).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from rudatagen.annotate.aggregate import Decision, decide
from rudatagen.annotate.agreement import agreement
from rudatagen.annotate.apply import apply_ruhnp, apply_wanli
from rudatagen.annotate.configs import TaskSpec
from rudatagen.annotate.connection import Connection
from rudatagen.annotate.export import parse, snapshot
from rudatagen.annotate.items import Item, load_items
from rudatagen.annotate.reports import agreement_markdown
from rudatagen.core.manifest import (
    Manifest,
    input_ref,
    read_manifest,
    write_json_atomic,
    write_manifest,
)
from rudatagen.errors import RudatagenError

REVIEW_SCHEMA = pa.schema(
    [
        ("item_key", pa.string()),
        ("intended_label", pa.string()),
        ("review_status", pa.string()),
        ("final_label", pa.string()),
        ("annotators", pa.list_(pa.string())),
        ("annotator_labels", pa.list_(pa.string())),
        ("revisions_applied", pa.string()),  # JSON {field: text}
        ("revisions_proposed", pa.string()),  # JSON {annotator: {field: text}}
    ]
)


@dataclass
class PullResult:
    out: Path
    report: dict[str, Any]
    counts: dict[str, int]
    seconds: float

    def summary(self) -> str:
        r = self.report
        kappa, alpha = r["cohen_kappa"]["value"], r["krippendorff_alpha"]["value"]
        return (
            f"{r['items']} pushed items: {r['reviewed']} reviewed, {r['unresolved']} unresolved, "
            f"{r['pending']} pending; {r['discarded']} discarded; kappa "
            f"{'—' if kappa is None else f'{kappa:.3f}'}, alpha "
            f"{'—' if alpha is None else f'{alpha:.3f}'}; {self.seconds:.1f}s"
        )


def _review_rows(decisions: list[Decision], items: dict[str, Item]) -> pa.Table:
    rows = [
        {
            "item_key": d.key,
            "intended_label": items[d.key].intended,
            "review_status": d.status,
            "final_label": d.final,
            "annotators": d.annotators,
            "annotator_labels": d.labels,
            "revisions_applied": json.dumps(d.revisions, ensure_ascii=False),
            "revisions_proposed": json.dumps(
                {v.annotator: v.revisions for v in d.votes if v.revisions}, ensure_ascii=False
            ),
        }
        for d in decisions
    ]
    return pa.Table.from_pylist(rows, schema=REVIEW_SCHEMA)


def pull(
    conn: Connection,
    title: str,
    in_dir: Path,
    out_dir: Path,
    spec: TaskSpec,
    *,
    min_votes: int | None = None,
) -> PullResult:
    started = time.perf_counter()
    if out_dir.resolve() == in_dir.resolve():
        raise RudatagenError("--out must differ from --in (the input run is left untouched)")
    if out_dir.exists() and not out_dir.is_dir():
        raise RudatagenError(f"--out {out_dir} exists and is not a directory")
    if min_votes is not None and min_votes < 1:
        raise RudatagenError(f"--min-annotations must be at least 1, got {min_votes}")
    run = load_items(in_dir, spec)
    project = conn.project(title)
    conn.check_task(project, spec)
    needed = min_votes or project.maximum_annotations or 1
    exported = parse(snapshot(conn, project.id), spec, conn.user_names())

    items = {item.key: item for item in run.items}
    decisions = [
        decide(key, votes, spec, items[key].data, needed)
        for key, votes in exported.votes.items()
        if key in items
    ]
    by_key = {d.key: d for d in decisions}
    if spec.name == "ruhnp":
        table, applied = apply_ruhnp(run.rows, by_key, run.schema)
    else:
        table, applied = apply_wanli(run.rows, by_key, run.schema, spec)
    report = agreement(decisions, {k: i.intended for k, i in items.items()}, spec)

    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(out_dir / "data", ignore_errors=True)
    (out_dir / "data").mkdir()
    pq.write_table(table, out_dir / "data" / "shard-00000.parquet", compression="zstd")
    pq.write_table(_review_rows(decisions, items), out_dir / "review.parquet", compression="zstd")
    write_json_atomic(out_dir / "agreement.json", report)
    (out_dir / "agreement.md").write_text(agreement_markdown(report, title), encoding="utf-8")
    counts = {
        "tasks_in_project": exported.tasks,
        "tasks_of_this_run": len(decisions),
        "tasks_of_other_runs": len(exported.votes) - len(decisions),
        "tasks_without_item_key": exported.without_key,
        "duplicate_tasks": exported.duplicate_tasks,
        "unknown_choices": exported.unknown_choices,
        "rows_in": len(run.rows),
        "rows_out": table.num_rows,
        **applied,
    }
    seconds = time.perf_counter() - started
    manifest = Manifest(
        stage="annotate-pull",
        kind=spec.name,
        inputs=[input_ref(in_dir, read_manifest(in_dir))],
        counts=counts,
        wall_s=round(seconds, 3),
        input_run_id=run.run_id,
        label_studio={"url": conn.public_url, "project": title, "project_id": project.id},
        min_annotations=needed,
        aggregation="rudatagen.annotate.aggregate (see README: aggregation rules)",
        review={k: report[k] for k in ("items", "reviewed", "unresolved", "pending")},
    )
    write_manifest(out_dir, manifest)
    return PullResult(out_dir, report, counts, seconds)
