"""The annotation-tool interface: push items, report progress, hand back the votes.

The rest of the review does not depend on the tool: items (``items.py``), sampling
(``sampling.py``), aggregation (``aggregate.py``), agreement (``agreement.py``) and the applying
of decisions (``apply.py``) see only the types below. A tool is registered in
``annotate/tools.py``; Label Studio's lives in ``annotate/label_studio/``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from rudatagen.annotate.configs import TaskSpec
from rudatagen.annotate.items import Item

if TYPE_CHECKING:
    from rudatagen.annotate.settings import AnnotateSettings


@dataclass
class Vote:
    """One annotator's answer on one item."""

    annotator: str
    label: str | None  # a code from the spec's choices; None when no (known) choice was made
    revisions: dict[str, str] = field(default_factory=dict)  # data field -> revised text
    annotation_id: int = 0  # orders the votes of an item (later = larger)


@dataclass
class Exported:
    """A project's votes by item key, what could not be mapped, and where they came from.

    ``tasks`` counts every task of the project; ``without_key`` those that carry no item key,
    ``duplicate_tasks`` items pushed twice (their votes are merged), ``unknown_choices`` answers
    that are none of the spec's codes. ``annotators_per_task`` is what the project asks for (the
    default number of votes a decision needs); ``where`` is what a manifest records about the
    project (no credentials).
    """

    votes: dict[str, list[Vote]]
    tasks: int
    without_key: int
    duplicate_tasks: int
    unknown_choices: int
    annotators_per_task: int = 1
    where: dict[str, Any] = field(default_factory=dict)


@dataclass
class PushReport:
    """What one push did in the tool: the project, and the tasks already there or imported."""

    project: str
    project_id: int | str
    created: bool
    already: int
    imported: int


@dataclass
class ProjectStatus:
    """A project's progress: tasks, how far each is annotated, annotations per annotator."""

    title: str
    project_id: int | str
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


@dataclass(frozen=True)
class PushPlan:
    """What one push asks of the tool, beyond the items."""

    project: str  # the project's title
    spec: TaskSpec  # the review task (the kind's)
    annotators: int  # annotations wanted per task
    run_id: str  # the version of the machine's labels (the pre-annotations)
    batch_size: int  # tasks per import request
    progress: bool = True


class OpenedProject(NamedTuple):
    """A project found or created for a push, and the item keys already in it."""

    project_id: int | str
    created: bool
    keys: set[str]


class AnnotationTool(ABC):
    """A server where people label items. Errors are one-line :class:`RudatagenError`;
    credentials come from the environment and never reach a message or a manifest.

    A push is the same for every tool (:meth:`push`: only the items whose keys the project does
    not hold yet are added); a tool supplies the project (:meth:`open_project`) and the import
    (:meth:`add_items`).
    """

    name: ClassVar[str]
    manifest_key: ClassVar[str]  # the key of ``Exported.where`` in a pull's manifest

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: AnnotateSettings) -> AnnotationTool:
        """The tool as the ``annotate:`` section configures it (connecting may wait for use)."""

    def push(
        self,
        project: str,
        items: list[Item],
        spec: TaskSpec,
        *,
        annotators: int,
        run_id: str,
        batch_size: int,
        progress: bool = True,
    ) -> PushReport:
        """Find or create the project for ``spec`` and add the items not in it yet, in batches
        (idempotent: an interrupted push is completed by pushing again). Each task carries the
        machine's label as a pre-annotation of version ``run_id``."""
        plan = PushPlan(project, spec, annotators, run_id, batch_size, progress)
        opened = self.open_project(plan)
        missing = [item for item in items if item.key not in opened.keys]
        self.add_items(opened.project_id, missing, plan)
        already = len(items) - len(missing)
        return PushReport(project, opened.project_id, opened.created, already, len(missing))

    @abstractmethod
    def open_project(self, plan: PushPlan) -> OpenedProject:
        """The project titled ``plan.project``, created when missing (checked to review
        ``plan.spec``'s kind when found) and set to ``plan.annotators`` per task and predictions
        of version ``plan.run_id``; with the item keys already in it."""

    @abstractmethod
    def add_items(self, project_id: int | str, items: list[Item], plan: PushPlan) -> None:
        """Import ``items`` into the project in batches of ``plan.batch_size``, each with the
        machine's label as a pre-annotation of version ``plan.run_id``."""

    @abstractmethod
    def status(self, project: str) -> ProjectStatus:
        """The project's progress."""

    @abstractmethod
    def votes(self, project: str, spec: TaskSpec) -> Exported:
        """Every vote in the project, by item key; a project made for another kind is refused."""
