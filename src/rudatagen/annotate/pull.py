"""``annotate pull``, a stage: votes from the annotation tool → decisions → the reviewed run.

The tool hands back the votes per item key; aggregation, agreement and the applying of the
decisions do not depend on the tool. ``OUT/`` gets ``data/shard-00000.parquet`` (the input's
records/rows with the human decisions applied, see :mod:`rudatagen.annotate.apply`),
``review.parquet`` (one row per pushed item: votes, final label, status, revisions),
``agreement.json`` / ``agreement.md`` and ``manifest.json`` (stage ``annotate-pull``, the run's
kind, the input, the ``annotate:`` settings, where the votes came from; never the API key).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa

from rudatagen.annotate.aggregate import Decision, decide
from rudatagen.annotate.agreement import agreement
from rudatagen.annotate.apply import apply_decisions
from rudatagen.annotate.items import Item, load_items
from rudatagen.annotate.reports import agreement_markdown
from rudatagen.annotate.settings import AnnotateSettings
from rudatagen.annotate.tool import AnnotationTool
from rudatagen.annotate.tools import make_tool
from rudatagen.core.manifest import (
    Manifest,
    input_ref,
    read_manifest,
    write_json_atomic,
    write_manifest,
)
from rudatagen.core.rundir import prepare_output, write_parquet_atomic, write_records
from rudatagen.core.stage import Stage, StageResult
from rudatagen.errors import RudatagenError
from rudatagen.kinds import kind_of_run

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


def summary(report: dict[str, Any], seconds: float) -> str:
    """One line: the items' statuses, discards, kappa and alpha, wall time."""
    kappa, alpha = report["cohen_kappa"]["value"], report["krippendorff_alpha"]["value"]
    return (
        f"{report['items']} pushed items: {report['reviewed']} reviewed, "
        f"{report['unresolved']} unresolved, {report['pending']} pending; "
        f"{report['discarded']} discarded; kappa {'—' if kappa is None else f'{kappa:.3f}'}, "
        f"alpha {'—' if alpha is None else f'{alpha:.3f}'}; {seconds:.1f}s"
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


class AnnotatePull(Stage[AnnotateSettings]):
    """Pull the votes of ``settings.project`` for the items of one pushed run.

    ``kind`` overrides the kind the run's manifest records (``--kind``); ``tool`` replaces the
    one ``settings.tool`` names (an already connected tool, e.g. in the benchmark).
    """

    name: ClassVar[str] = "annotate-pull"

    def __init__(
        self,
        settings: AnnotateSettings,
        *,
        kind: str | None = None,
        tool: AnnotationTool | None = None,
    ) -> None:
        super().__init__(settings)
        self.kind = kind
        self.tool = tool

    def run(self, inputs: Sequence[Path], out: Path, *, progress: bool = True) -> StageResult:
        started = time.perf_counter()
        if len(inputs) != 1:
            raise RudatagenError(f"annotate pull reads one run, got {len(inputs)}")
        in_dir = inputs[0]
        title = self.settings.require_project()
        if out.resolve() == in_dir.resolve():
            raise RudatagenError("--out must differ from --in (the input run is left untouched)")
        if out.exists() and not out.is_dir():
            raise RudatagenError(f"--out {out} exists and is not a directory")
        spec = kind_of_run(in_dir, explicit=self.kind).annotation
        run = load_items(in_dir, spec)
        tool = self.tool or make_tool(self.settings)
        exported = tool.votes(title, spec)
        needed = self.settings.min_annotations or exported.annotators_per_task

        items = {item.key: item for item in run.items}
        decisions = [
            decide(key, votes, spec, items[key].data, needed)
            for key, votes in exported.votes.items()
            if key in items
        ]
        by_key = {d.key: d for d in decisions}
        table, applied = apply_decisions(run, by_key)
        report = agreement(decisions, {k: i.intended for k, i in items.items()}, spec)

        prepare_output(out, [in_dir])
        write_records(out, table)
        write_parquet_atomic(out / "review.parquet", _review_rows(decisions, items))
        write_json_atomic(out / "agreement.json", report)
        (out / "agreement.md").write_text(agreement_markdown(report, title), encoding="utf-8")
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
            stage=self.name,
            kind=spec.name,
            inputs=[input_ref(in_dir, read_manifest(in_dir))],
            recipe={"annotate": self.settings.public_dict()},
            counts=counts,
            wall_s=round(seconds, 3),
            input_run_id=run.run_id,
            annotation_tool=tool.name,
            min_annotations=needed,
            aggregation="rudatagen.annotate.aggregate (see README: aggregation rules)",
            review={k: report[k] for k in ("items", "reviewed", "unresolved", "pending")},
            **{tool.manifest_key: exported.where},
        )
        write_manifest(out, manifest)
        return StageResult(out, manifest, summary(report, seconds))
