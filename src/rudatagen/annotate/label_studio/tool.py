"""Label Studio as an :class:`~rudatagen.annotate.tool.AnnotationTool`.

Connects on first use (URL from ``annotate.url``/``--url`` or ``LABEL_STUDIO_URL``, the key from
``LABEL_STUDIO_API_KEY``, checked with one ``whoami`` call), so settings errors come before any
network traffic.
"""

from __future__ import annotations

from typing import ClassVar

from rudatagen.annotate.configs import TaskSpec
from rudatagen.annotate.items import Item
from rudatagen.annotate.label_studio.connection import Connection, connect
from rudatagen.annotate.label_studio.export import parse, snapshot
from rudatagen.annotate.label_studio.projects import (
    ensure_project,
    existing_keys,
    import_tasks,
    project_status,
    task_payload,
)
from rudatagen.annotate.settings import AnnotateSettings
from rudatagen.annotate.tool import (
    AnnotationTool,
    Exported,
    OpenedProject,
    ProjectStatus,
    PushPlan,
)


class LabelStudioTool(AnnotationTool):
    """A Label Studio server (tested against 1.23.2), through ``label-studio-sdk``."""

    name: ClassVar[str] = "label-studio"
    manifest_key: ClassVar[str] = "label_studio"

    def __init__(self, url: str | None = None, *, timeout: float = 120.0) -> None:
        self.url = url
        self.timeout = timeout
        self._conn: Connection | None = None

    @classmethod
    def from_settings(cls, settings: AnnotateSettings) -> LabelStudioTool:
        return cls(settings.url, timeout=settings.timeout_s)

    @property
    def conn(self) -> Connection:
        """The authenticated connection (made on first use)."""
        if self._conn is None:
            self._conn = connect(self.url, timeout=self.timeout)
        return self._conn

    def open_project(self, plan: PushPlan) -> OpenedProject:
        found, created = ensure_project(
            self.conn, plan.project, plan.spec, plan.annotators, plan.run_id
        )
        keys = set() if created else existing_keys(self.conn, found.id)
        return OpenedProject(found.id, created, keys)

    def add_items(self, project_id: int | str, items: list[Item], plan: PushPlan) -> None:
        tasks = [task_payload(item, plan.spec, plan.run_id) for item in items]
        import_tasks(self.conn, int(project_id), tasks, plan.batch_size, plan.progress)

    def status(self, project: str) -> ProjectStatus:
        return project_status(self.conn, project)

    def votes(self, project: str, spec: TaskSpec) -> Exported:
        found = self.conn.project(project)
        self.conn.check_task(found, spec)
        exported = parse(snapshot(self.conn, found.id), spec, self.conn.user_names())
        exported.annotators_per_task = found.maximum_annotations or 1
        exported.where = {"url": self.conn.public_url, "project": project, "project_id": found.id}
        return exported
