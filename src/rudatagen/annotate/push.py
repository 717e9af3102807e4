"""``annotate push``: read a run's items, sample them, hand the sample to the annotation tool.

The tool makes the push idempotent (only items not yet in the project are imported), so the same
sample pushed again adds nothing and a larger sample with the same seed adds only the new items.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from rudatagen.annotate.configs import TaskSpec
from rudatagen.annotate.items import load_items
from rudatagen.annotate.sampling import sample
from rudatagen.annotate.settings import AnnotateSettings
from rudatagen.annotate.tool import AnnotationTool, PushReport


@dataclass
class PushResult:
    report: PushReport
    sampled: int
    seconds: float
    notes: list[str]

    def summary(self) -> str:
        r = self.report
        made = "created" if r.created else "found"
        return (
            f"project {r.project!r} (id {r.project_id}, {made}): {r.imported} new tasks, "
            f"{r.already} of {self.sampled} sampled already there; {self.seconds:.1f}s"
        )


def push(
    tool: AnnotationTool,
    in_dir: Path,
    spec: TaskSpec,
    settings: AnnotateSettings,
    *,
    progress: bool = True,
) -> PushResult:
    """Sample ``in_dir``'s items as ``settings`` say and push them to ``settings.project``.

    The run is read and sampled before the tool is first used, so a bad run or strategy fails
    without contacting the server.
    """
    started = time.perf_counter()
    project = settings.require_project()
    run = load_items(in_dir, spec)
    chosen = sample(run, settings.strategy, settings.seed, settings.sample)
    report = tool.push(
        project,
        chosen,
        spec,
        annotators=settings.annotators_per_task,
        run_id=run.run_id,
        batch_size=settings.batch_size,
        progress=progress,
    )
    return PushResult(report, len(chosen), time.perf_counter() - started, run.notes)
