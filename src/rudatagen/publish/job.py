"""``publish`` as a stage: run directory in, Hub dataset folder out (the push is ``hub.py``).

The folder gets ``data/{split}-*.parquet``, ``README.md`` (the card) and ``rudatagen.json`` (the
publish step's manifest: kind, lineage, counts, files, per-split statistics).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from rudatagen.core.manifest import Manifest, input_ref, write_json_atomic
from rudatagen.core.stage import Stage, StageResult
from rudatagen.publish.card import render_card
from rudatagen.publish.inputs import read_run
from rudatagen.publish.layout import write_splits
from rudatagen.publish.settings import PublishSettings
from rudatagen.publish.splits import split_by_group


class PublishStage(Stage[PublishSettings]):
    """Split a run by group and write the Hub layout and card (``rudatagen publish``)."""

    name = "publish"

    def __init__(self, settings: PublishSettings, kind: str | None = None) -> None:
        super().__init__(settings)
        self.kind = kind  # only for a table without a manifest

    def run(self, inputs: Sequence[Path], out: Path, *, progress: bool = True) -> StageResult:
        (in_dir,) = inputs
        started = time.perf_counter()
        settings = self.settings
        run = read_run(in_dir, self.kind, settings.keep_unresolved)
        indices = split_by_group(run.groups(), settings.splits, settings.seed)
        splits = {name: [run.rows[i] for i in rows] for name, rows in indices.items()}
        out.mkdir(parents=True, exist_ok=True)
        files, num_bytes = write_splits(out, run.schema, splits)
        counts = {name: len(rows) for name, rows in splits.items()}
        stats = {name: run.kind.split_stats(rows) for name, rows in splits.items()}
        card = render_card(run, counts, stats, settings=settings, num_bytes=num_bytes)
        (out / "README.md").write_text(card, encoding="utf-8")
        seconds = time.perf_counter() - started
        latest = run.manifests[0] if run.manifests else None
        manifest = Manifest(
            stage=self.name,
            kind=run.kind.name,
            inputs=[input_ref(in_dir, latest)],
            recipe={"publish": settings.model_dump(mode="json")},
            counts=counts,
            wall_s=round(seconds, 3),
            rows_read=run.rows_read,
            dropped_unresolved=run.dropped_unresolved,
            files=files,
            stats=stats,
        )
        write_json_atomic(out / "rudatagen.json", manifest.to_json())
        listed = ", ".join(f"{k} {v}" for k, v in counts.items())
        dropped = f", {run.dropped_unresolved} unresolved dropped" if run.dropped_unresolved else ""
        summary = (
            f"published {run.kind.name}: {run.rows_read} rows read{dropped}; {listed}; "
            f"{seconds:.1f}s → {out}"
        )
        return StageResult(out, manifest, summary)
