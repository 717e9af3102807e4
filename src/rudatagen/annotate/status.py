"""``annotate status``: tasks, annotated, pending, per annotator (from a snapshot export)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from rudatagen.annotate.connection import Connection
from rudatagen.annotate.export import snapshot


@dataclass
class ProjectStatus:
    title: str
    project_id: int
    annotators_per_task: int
    tasks: int
    complete: int  # with at least ``annotators_per_task`` annotations
    started: int  # with some, but fewer
    pending: int  # with none
    annotations: int
    per_annotator: dict[str, int]

    def lines(self) -> list[str]:
        out = [
            f"project {self.title!r} (id {self.project_id}): {self.tasks} tasks, "
            f"{self.annotators_per_task} annotator(s) per task",
            f"  annotated: {self.complete} complete, {self.started} started, "
            f"{self.pending} pending; {self.annotations} annotations",
        ]
        out += [f"  {name}: {count}" for name, count in sorted(self.per_annotator.items())]
        return out

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def project_status(conn: Connection, title: str) -> ProjectStatus:
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
