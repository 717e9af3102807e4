"""The two review tasks under the names the annotate modules use for them.

Each kind's review task (its labelling config ``annotation/*.xml``, label codes, discard code and
revisable fields) is part of the kind: :class:`rudatagen.kinds.AnnotationSpec`.
"""

from __future__ import annotations

from rudatagen.kinds import AnnotationSpec, get_kind

TaskSpec = AnnotationSpec
RUHNP = get_kind("ruhnp").annotation
WANLI = get_kind("wanli").annotation


def task_spec(name: str) -> TaskSpec:
    return get_kind(name).annotation
