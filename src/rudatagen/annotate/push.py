"""``annotate push``: sample items, find or create the project, import only the missing tasks.

Idempotent: the keys already in the project are listed first and only the others are imported,
in batches (each batch is one request, committed as a whole by the server), so a push that died
half-way is completed by running it again, without duplicates.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from rudatagen.annotate.configs import TaskSpec
from rudatagen.annotate.connection import TASK_TAG, Connection
from rudatagen.annotate.items import Item, load_items
from rudatagen.annotate.sampling import sample
from rudatagen.errors import RudatagenError


@dataclass
class PushResult:
    project_id: int
    project_title: str
    created: bool
    sampled: int
    already: int
    imported: int
    seconds: float
    notes: list[str]

    def summary(self) -> str:
        made = "created" if self.created else "found"
        return (
            f"project {self.project_title!r} (id {self.project_id}, {made}): "
            f"{self.imported} new tasks, {self.already} of {self.sampled} sampled already there; "
            f"{self.seconds:.1f}s"
        )


def task_payload(item: Item, spec: TaskSpec, run_id: str) -> dict[str, Any]:
    """One Label Studio task: the item's data and the machine's opinion as a prediction."""
    task: dict[str, Any] = {"data": item.data}
    if item.intended in spec.choices:
        task["predictions"] = [
            {
                "model_version": run_id,
                "score": item.score,
                "result": [
                    {
                        "from_name": spec.choice_from,
                        "to_name": spec.choice_to,
                        "type": "choices",
                        "value": {"choices": [item.intended]},
                    }
                ],
            }
        ]
    return task


def ensure_project(
    conn: Connection, title: str, spec: TaskSpec, annotators: int, run_id: str
) -> tuple[Any, bool]:
    """The project titled ``title`` (checked to review ``spec``), created when missing."""
    project = conn.find_project(title)
    with conn.errors():
        if project is None:
            project = conn.client.projects.create(
                title=title,
                description=f"{TASK_TAG}{spec.name}",
                label_config=spec.label_config(),
                maximum_annotations=annotators,
                model_version=run_id,
                show_collab_predictions=True,
            )
            return project, True
        conn.check_task(project, spec)
        if project.maximum_annotations != annotators or project.model_version != run_id:
            conn.client.projects.update(
                id=project.id, maximum_annotations=annotators, model_version=run_id
            )
    return project, False


def existing_keys(conn: Connection, project_id: int) -> set[str]:
    """The ``item_key`` of every task in the project."""
    keys: set[str] = set()
    with conn.errors():
        pager = conn.client.tasks.list(
            project=project_id, fields="task_only", include="id,data", page_size=1000
        )
        for task in pager:
            key = (task.data or {}).get("item_key")
            if key is not None:
                keys.add(str(key))
    return keys


def push(
    conn: Connection,
    in_dir: Path,
    spec: TaskSpec,
    title: str,
    *,
    size: int | None,
    strategy: str,
    seed: int,
    annotators: int,
    batch_size: int = 500,
    progress: bool = True,
) -> PushResult:
    started = time.perf_counter()
    if annotators < 1:
        raise RudatagenError(f"--annotators-per-task must be at least 1, got {annotators}")
    if batch_size < 1:
        raise RudatagenError(f"--batch-size must be at least 1, got {batch_size}")
    run = load_items(in_dir, spec)
    chosen = sample(run, strategy, seed, size)
    project, created = ensure_project(conn, title, spec, annotators, run.run_id)
    have = set() if created else existing_keys(conn, project.id)
    missing = [item for item in chosen if item.key not in have]
    bar = tqdm(
        total=len(missing),
        desc="push",
        unit="task",
        disable=not progress,
        file=sys.stderr,
        mininterval=0.5 if sys.stderr.isatty() else 10.0,
    )
    try:
        for start in range(0, len(missing), batch_size):
            batch = missing[start : start + batch_size]
            payload = [task_payload(item, spec, run.run_id) for item in batch]
            with conn.errors():
                conn.client.projects.import_tasks(id=project.id, request=payload)
            bar.update(len(batch))
    finally:
        bar.close()
    return PushResult(
        project.id,
        title,
        created,
        len(chosen),
        len(chosen) - len(missing),
        len(missing),
        time.perf_counter() - started,
        run.notes,
    )
