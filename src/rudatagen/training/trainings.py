"""Every training of a ``train:`` section, one after the other, then its merge.

A section that makes one model trains it into ``OUT/`` (the single form, as before). One that
makes several (``trainings:``, ``split_by_symmetry``, or a ``merge:``) trains each into
``OUT/NAME/``, hands ``{NAME: OUT/NAME}`` to the merge (:func:`training.merge.run_merge_section`),
which saves the merged model into ``OUT/merged/``, and writes ``OUT/trainings.json``: the
resolved section, each training's report and the merge's. In the merge's ``models``, ``base`` is
the section's base model; the merged model's prompts, unless the merge gives them, are the
section's prefixes (it serves every task the trainings learnt).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rudatagen.core.manifest import InputRef, Manifest, write_json_atomic
from rudatagen.training.recipe import BASE, MERGED, TrainSettings
from rudatagen.training.run import TrainReport, saved_prompts, train


@dataclass
class TrainingsReport:
    """What ``rudatagen train`` made: each training's report (by name) and the merge's."""

    out: str
    reports: dict[str, TrainReport] = field(default_factory=dict)
    merged: Any = None  # what the merge returned (its report), None without a merge
    seconds: float = 0.0


def run_trainings(
    settings: TrainSettings,
    out: Path,
    *,
    progress: bool = True,
    say: Callable[[str], None] = lambda line: None,
) -> TrainingsReport:
    """Train every training of ``settings`` (see the module docstring); ``say`` gets one line
    before and after each training, and after the merge."""
    started = time.perf_counter()
    report = TrainingsReport(str(out))
    if not settings.several:
        say(_plan(settings))
        report.reports[settings.name] = single = train(settings, out, progress=progress)
        say(single.summary())
        report.seconds = round(time.perf_counter() - started, 3)
        return report
    trained: dict[str, Path] = {}
    for training in settings.resolved():
        say(_plan(training))
        folder = out / training.name
        report.reports[training.name] = done = train(training, folder, progress=progress)
        trained[training.name] = folder
        say(done.summary())
    if settings.merge is not None:
        from rudatagen.training.merge import run_merge_section

        named = {BASE: Path(settings.model.base), **trained}  # `base`: the base model
        merge = settings.merge
        if not merge.prompts:  # the merged model serves every task: the section's prefixes
            merge = merge.model_copy(update={"prompts": saved_prompts(settings)})
        report.merged = run_merge_section(merge, named, out / MERGED, log=say)
        say(report.merged.summary())
    report.seconds = round(time.perf_counter() - started, 3)
    manifest = Manifest(
        stage="train",
        inputs=[InputRef(path=p, kind=k) for p, k in _sources(report.reports.values()).items()],
        recipe=settings.model_dump(mode="json"),
        counts={name: r.train_rows for name, r in report.reports.items()},
        wall_s=report.seconds,
        trainings={name: asdict(r) for name, r in report.reports.items()},
        merge=asdict(report.merged) if report.merged is not None else None,
    )
    write_json_atomic(out / "trainings.json", manifest.to_json())
    return report


def _sources(reports: Any) -> dict[str, str]:
    """Every dataset the trainings read: path → kind, in order, once."""
    return {d["path"]: d["kind"] for r in reports for d in r.datasets}


def _plan(training: TrainSettings) -> str:
    which = {True: " (symmetric)", False: " (asymmetric)", None: ""}[training.symmetric]
    sources = ", ".join(f"{d.name} ({d.path})" for d in training.datasets)
    return f"training {training.name}{which}: {training.model.base} on {sources}"
