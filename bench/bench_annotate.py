"""Benchmark of the Label Studio bridge against a real local server (prints figures; not a test).

1. ``push``: 10,000 RuHNP candidates (ParaPhraser records; repeated under new ids until there
   are enough) into a new project, with predictions, through :func:`rudatagen.annotate.push.push`
   and the Label Studio tool (batches of 500); then the same push again (nothing to import: the
   idempotency check alone).
2. ``pull``: 10,000 annotations (5,000 tasks × 2 annotators) made fast by importing the tasks
   *with* their annotations (``completed_by`` = each annotator's user id) into a second project,
   then the ``annotate-pull`` stage (:class:`rudatagen.annotate.pull.AnnotatePull`): snapshot
   export, aggregation, agreement, Parquet.

    .venv/bin/python bench/bench_annotate.py [--items 10000] [--batch-size 500]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import SHARED_DATA  # puts the repository on sys.path, for tests.support

# isort: split
from tests.support import label_studio
from tests.support.annotate_data import ruhnp_records, write_ruhnp_run

from rudatagen.annotate.configs import RUHNP
from rudatagen.annotate.items import load_items
from rudatagen.annotate.label_studio.tool import LabelStudioTool
from rudatagen.annotate.pull import AnnotatePull
from rudatagen.annotate.push import push
from rudatagen.annotate.settings import AnnotateSettings

GOAL_S = 60.0


def bench_records(items: int) -> list[dict[str, Any]]:
    base = ruhnp_records(SHARED_DATA, 100_000)
    records: list[dict[str, Any]] = []
    total, copy = 0, 0
    while total < items:
        for record in base:
            records.append({**record, "id": f"{record['id']}-c{copy}"})
            total += len(record["pos"]) + len(record["neg"])
            if total >= items:
                break
        copy += 1
    return records


def annotated_tasks(run_items: list[Any], users: list[int], seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    choices = ("paraphrase", "non_paraphrase", "broken")
    tasks = []
    for item in run_items:
        annotations = []
        for user in users:
            label = item.intended if rng.random() < 0.8 else rng.choice(choices)
            result = [
                {
                    "from_name": "label",
                    "to_name": "candidate",
                    "type": "choices",
                    "value": {"choices": [label]},
                }
            ]
            annotations.append({"result": result, "completed_by": user})
        tasks.append({"data": item.data, "annotations": annotations})
    return tasks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args()
    if not label_studio.available():
        raise SystemExit(
            f"no Label Studio venv at {label_studio.LS_VENV}: make install-label-studio"
        )
    with tempfile.TemporaryDirectory(prefix="bench-annotate-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        server = label_studio.start_server(work)
        print(f"server ready in {time.perf_counter() - started:.1f} s at {server.url}")
        try:
            os.environ["LABEL_STUDIO_API_KEY"] = server.token
            tool = LabelStudioTool(server.url, timeout=600)
            conn = tool.conn
            run_dir = write_ruhnp_run(work / "run", bench_records(args.items))
            run = load_items(run_dir, RUHNP)
            print(f"run: {len(run.rows)} records, {len(run.items)} candidates")

            settings = AnnotateSettings(
                project="bench push",
                sample=args.items,
                strategy="random",
                seed=0,
                annotators_per_task=2,
                batch_size=args.batch_size,
            )
            pushed = push(tool, run_dir, RUHNP, settings, progress=False)
            imported = pushed.report.imported
            print(f"push {imported} tasks: {pushed.seconds:.1f} s (goal < {GOAL_S:.0f} s)")
            again = push(tool, run_dir, RUHNP, settings, progress=False)
            print(f"re-push (0 new of {again.sampled}): {again.seconds:.1f} s")

            users = sorted(conn.user_names())[:2]
            half = run.items[: args.items // 2]
            project = conn.client.projects.create(
                title="bench pull",
                description="rudatagen task: ruhnp",
                label_config=RUHNP.label_config(),
                maximum_annotations=2,
            )
            made = time.perf_counter()
            tasks = annotated_tasks(half, users, seed=0)
            for start in range(0, len(tasks), 1000):
                conn.client.projects.import_tasks(
                    id=project.id, request=tasks[start : start + 1000]
                )
            annotations = len(tasks) * len(users)
            print(
                f"setup: {len(tasks)} tasks with {annotations} annotations imported in "
                f"{time.perf_counter() - made:.1f} s"
            )
            stage = AnnotatePull(AnnotateSettings(project="bench pull"), kind="ruhnp", tool=tool)
            result = stage.run([run_dir], work / "reviewed")
            seconds = result.manifest.wall_s or 0.0
            print(f"pull {annotations} annotations: {seconds:.1f} s (goal < {GOAL_S:.0f} s)")
            print(f"  {result.summary}")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
