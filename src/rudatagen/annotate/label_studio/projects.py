"""Label Studio projects: find or create one for a task, import tasks idempotently, progress.

A project's description records the task it reviews (``rudatagen task: ruhnp``), so a pull of
WANLI votes from a RuHNP project is refused. Every task carries its item's key in ``item_key``:
the keys already in the project are listed first and only the others are imported, in batches
(each batch is one request, committed as a whole by the server), so a push that died half-way is
completed by running it again, without duplicates.
"""

from __future__ import annotations

import sys
from collections import Counter
from typing import Any

from tqdm import tqdm

from rudatagen.annotate.configs import TaskSpec
from rudatagen.annotate.items import Item
from rudatagen.annotate.label_studio.connection import TASK_TAG, Connection
from rudatagen.annotate.label_studio.export import snapshot
from rudatagen.annotate.tool import ProjectStatus


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


def import_tasks(
    conn: Connection, project_id: int, tasks: list[dict[str, Any]], batch_size: int, progress: bool
) -> None:
    """Import ``tasks`` in batches of ``batch_size``, with a progress bar on stderr."""
    bar = tqdm(
        total=len(tasks),
        desc="push",
        unit="task",
        disable=not progress,
        file=sys.stderr,
        mininterval=0.5 if sys.stderr.isatty() else 10.0,
    )
    try:
        for start in range(0, len(tasks), batch_size):
            batch = tasks[start : start + batch_size]
            with conn.errors():
                conn.client.projects.import_tasks(id=project_id, request=batch)
            bar.update(len(batch))
    finally:
        bar.close()


def project_status(conn: Connection, title: str) -> ProjectStatus:
    """Tasks, how far each is annotated, and annotations per annotator (from a snapshot)."""
    project = conn.project(title)
    tasks = snapshot(conn, project.id)
    names = conn.user_names()
    per: Counter[str] = Counter()
    complete = started = pending = total = 0
    need = project.maximum_annotations or 1
    for task in tasks:
        done = [a for a in task.get("annotations") or [] if not a.get("was_cancelled")]
        for annotation in done:
            who = annotation.get("completed_by")
            who = who.get("id") if isinstance(who, dict) else who
            per[names.get(who, f"user-{who}")] += 1
        total += len(done)
        if not done:
            pending += 1
        elif len(done) >= need:
            complete += 1
        else:
            started += 1
    return ProjectStatus(
        title, project.id, need, len(tasks), complete, started, pending, total, dict(per)
    )
