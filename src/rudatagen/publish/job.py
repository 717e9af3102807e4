"""One ``publish`` invocation: run directory in, Hub dataset folder out (and optionally pushed)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from rudatagen.core.manifest import Manifest, input_ref, write_json_atomic
from rudatagen.publish.card import render_card
from rudatagen.publish.inputs import read_run
from rudatagen.publish.layout import write_splits
from rudatagen.publish.splits import split_by_group


@dataclass
class PublishResult:
    out: Path
    kind: str
    counts: dict[str, int]
    rows_read: int
    dropped_unresolved: int
    files: dict[str, list[str]]
    seconds: float

    def summary(self) -> str:
        counts = ", ".join(f"{k} {v}" for k, v in self.counts.items())
        dropped = (
            f", {self.dropped_unresolved} unresolved dropped" if self.dropped_unresolved else ""
        )
        return (
            f"published {self.kind}: {self.rows_read} rows read{dropped}; {counts}; "
            f"{self.seconds:.1f}s → {self.out}"
        )


def publish(
    in_dir: Path,
    out: Path,
    *,
    sizes: dict[str, float],
    seed: int = 0,
    kind: str | None = None,
    keep_unresolved: bool = False,
    license_id: str = "apache-2.0",
    pretty_name: str | None = None,
    repo_id: str | None = None,
    source_note: str | None = None,
) -> PublishResult:
    """Split ``in_dir`` by group and write the Hub layout and card into ``out``."""
    started = time.perf_counter()
    run = read_run(in_dir, kind, keep_unresolved)
    indices = split_by_group(run.groups(), sizes, seed)
    splits = {name: [run.rows[i] for i in rows] for name, rows in indices.items()}
    out.mkdir(parents=True, exist_ok=True)
    files, num_bytes = write_splits(out, run.kind.reference_schema, splits)
    counts = {name: len(rows) for name, rows in splits.items()}
    stats = {name: run.kind.split_stats(rows) for name, rows in splits.items()}
    card = render_card(
        run,
        counts,
        stats,
        seed=seed,
        sizes=sizes,
        license_id=license_id,
        pretty_name=pretty_name,
        repo_id=repo_id,
        source_note=source_note,
        num_bytes=num_bytes,
    )
    (out / "README.md").write_text(card, encoding="utf-8")
    seconds = time.perf_counter() - started
    latest = run.manifests[0] if run.manifests else None
    record = Manifest(
        stage="publish",
        kind=run.kind.name,
        inputs=[input_ref(in_dir, latest)],
        counts=counts,
        wall_s=round(seconds, 3),
        seed=seed,
        sizes=sizes,
        keep_unresolved=keep_unresolved,
        rows_read=run.rows_read,
        dropped_unresolved=run.dropped_unresolved,
        files=files,
        stats=stats,
    )
    write_json_atomic(out / "rudatagen.json", record.to_json())
    return PublishResult(
        out=out,
        kind=run.kind.name,
        counts=counts,
        rows_read=run.rows_read,
        dropped_unresolved=run.dropped_unresolved,
        files=files,
        seconds=seconds,
    )
