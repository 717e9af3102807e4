"""Read a project's annotations through the snapshot export API and map them back to items.

A snapshot export holds every task (annotated or not) with its data, so tasks without an
annotation are seen, and stay *pending*. Cancelled (skipped) annotations are ignored; when one
annotator left several annotations on a task, the latest counts. A config's choices carry
Russian text for the annotators and an English ``alias``; Label Studio stores the alias in the
results, so the codes are what is read back (Russian values are mapped, for projects made with a
config without aliases).
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any
from xml.etree import ElementTree

from rudatagen.annotate.configs import TaskSpec
from rudatagen.annotate.label_studio.connection import Connection
from rudatagen.annotate.tool import Exported, Vote
from rudatagen.errors import RudatagenError


def choice_codes(spec: TaskSpec) -> dict[str, str]:
    """The Russian value → code (``alias``) of each choice in the spec's labelling config, for a
    project whose config has no aliases (its results hold the values)."""
    choices = ElementTree.fromstring(spec.label_config()).iter("Choice")
    return {c.attrib["value"]: c.attrib["alias"] for c in choices if "alias" in c.attrib}


def snapshot(conn: Connection, project_id: int, *, timeout: float = 600.0) -> list[dict[str, Any]]:
    """Create a JSON snapshot of the whole project, wait for it, download and parse it."""
    exports = conn.client.projects.exports
    with conn.errors():
        created = exports.create(id=project_id, title="rudatagen pull")
        deadline = time.monotonic() + timeout
        status = created.status
        while status not in ("completed", "failed"):
            if time.monotonic() > deadline:
                raise RudatagenError(f"the export of project {project_id} took over {timeout:.0f}s")
            time.sleep(0.2)
            status = exports.get(id=project_id, export_pk=created.id).status
        if status == "failed":
            raise RudatagenError(f"Label Studio failed to export project {project_id}")
        raw = b"".join(exports.download(id=project_id, export_pk=created.id, export_type="JSON"))
        with contextlib.suppress(Exception):  # a leftover snapshot is harmless
            exports.delete(id=project_id, export_pk=created.id)
    try:
        tasks = json.loads(raw)
    except json.JSONDecodeError:
        raise RudatagenError(f"the export of project {project_id} is not JSON") from None
    if not isinstance(tasks, list):
        raise RudatagenError(f"the export of project {project_id} is not a list of tasks")
    return tasks


def _choice(
    result: list[dict[str, Any]], spec: TaskSpec, codes: dict[str, str]
) -> tuple[str | None, bool]:
    for region in result:
        if region.get("from_name") == spec.choice_from and region.get("type") == "choices":
            values = (region.get("value") or {}).get("choices") or []
            if values:
                value = codes.get(values[0], values[0])
                return (value, False) if value in spec.choices else (None, True)
    return None, False


def _revisions(
    result: list[dict[str, Any]], spec: TaskSpec, data: dict[str, Any]
) -> dict[str, str]:
    revised: dict[str, str] = {}
    for region in result:
        target = spec.revisions.get(region.get("from_name", ""))
        if target is None:
            continue
        texts = [t.strip() for t in (region.get("value") or {}).get("text") or [] if t]
        texts = [t for t in texts if t]
        if texts and texts[-1] != str(data.get(target, "")).strip():
            revised[target] = texts[-1]
    return revised


def parse(tasks: list[dict[str, Any]], spec: TaskSpec, names: dict[int, str]) -> Exported:
    """The votes by item key (the task data's ``item_key``), annotators named by ``names``."""
    votes: dict[str, list[Vote]] = {}
    without_key = duplicates = unknown = 0
    codes = choice_codes(spec)
    for task in tasks:
        data = task.get("data") or {}
        key = data.get("item_key")
        if key is None:
            without_key += 1
            continue
        key = str(key)
        if key in votes:
            duplicates += 1  # the same item pushed twice: merge the annotations
        latest: dict[str, Vote] = {}
        for annotation in task.get("annotations") or []:
            if annotation.get("was_cancelled"):
                continue
            who = annotation.get("completed_by")
            if isinstance(who, dict):
                who = who.get("id")
            name = names.get(who, f"user-{who}") if isinstance(who, int) else str(who)
            result = annotation.get("result") or []
            label, bad = _choice(result, spec, codes)
            unknown += bad
            vote = Vote(name, label, _revisions(result, spec, data), int(annotation.get("id", 0)))
            if name not in latest or vote.annotation_id > latest[name].annotation_id:
                latest[name] = vote
        merged = {v.annotator: v for v in votes.get(key, [])}
        merged.update(latest)
        votes[key] = sorted(merged.values(), key=lambda v: v.annotation_id)
    return Exported(votes, len(tasks), without_key, duplicates, unknown)
