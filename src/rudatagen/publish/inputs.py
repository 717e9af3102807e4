"""Read a run directory for publishing: its rows in the kind's reference shape, and its history.

A run directory is a generation, filter, Label Studio ``pull`` or WANLI output: ``data/*.parquet``
plus ``manifest.json`` (which names the kind and the input run) and optionally ``funnel.json``
and ``agreement.json``. Extra columns are accepted and dropped; only the kind's reference columns
are published, and its optional columns (RuHNP's mined ``corpus_negatives``) when the run has
them. The manifests are followed back through ``inputs`` to the generation run.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from rudatagen.core.manifest import Manifest, generation_of, lineage, read_json
from rudatagen.core.rundir import read_run_table
from rudatagen.errors import RudatagenError
from rudatagen.kinds import Kind, kind_of_run


@dataclass
class RunInput:
    """The publishable rows of one run directory and what is known about how it was made."""

    kind: Kind
    rows: list[dict[str, Any]]
    rows_read: int
    dropped_unresolved: int
    schema: pa.Schema  # the published columns: the reference ones and the optional ones present
    manifests: list[Manifest] = field(default_factory=list)
    funnel: dict[str, Any] | None = None
    agreement: dict[str, Any] | None = None
    prompt_versions: dict[str, int] = field(default_factory=dict)
    review_status: dict[str, int] = field(default_factory=dict)

    @property
    def generation_manifest(self) -> Manifest | None:
        """The generation run behind this one (model, backend, prompt)."""
        return generation_of(self.manifests)

    def groups(self) -> list[str]:
        return [str(row[self.kind.group_column]) for row in self.rows]


def _history(run_dir: Path) -> tuple[list[Manifest], dict | None, dict | None]:
    """Manifests from this run back to the generation run; the nearest funnel and agreement."""
    chain = lineage(run_dir)
    funnel = agreement = None
    for directory in [run_dir, *(path for path, _ in chain[1:])]:
        funnel = funnel or read_json(directory / "funnel.json")
        agreement = agreement or read_json(directory / "agreement.json")
    return [manifest for _, manifest in chain], funnel, agreement


def read_run(run_dir: Path, kind: str | None = None, keep_unresolved: bool = False) -> RunInput:
    """The rows of ``run_dir`` in its kind's reference shape.

    The kind is the manifest's; ``kind`` (a flag) is for a foreign table that has no manifest.
    """
    table = read_run_table(run_dir)
    resolved = kind_of_run(run_dir, table.column_names, kind)
    missing = [c for c in resolved.reference_columns if c not in table.column_names]
    if missing:
        raise RudatagenError(
            f"{run_dir}: no column {', '.join(missing)} for kind {resolved.name} "
            f"(has {', '.join(table.column_names)})"
        )
    statuses = (
        table.column("review_status").to_pylist() if "review_status" in table.column_names else []
    )
    versions = (
        table.column("prompt_version").to_pylist() if "prompt_version" in table.column_names else []
    )
    reference, dropped = resolved.reference_rows(table, keep_unresolved)
    rows: list[dict[str, Any]] = []
    for index, row in enumerate(reference):
        row = resolved.normalise(row)
        resolved.check_row(row, index)
        rows.append(row)
    manifests, funnel, agreement = _history(run_dir)
    return RunInput(
        kind=resolved,
        rows=rows,
        rows_read=table.num_rows,
        dropped_unresolved=dropped,
        schema=resolved.published_schema(table.column_names),
        manifests=manifests,
        funnel=funnel,
        agreement=agreement,
        prompt_versions=dict(Counter(str(v) for v in versions if v is not None)),
        review_status=dict(Counter(str(s) for s in statuses)),
    )
