"""The stage interface: every command that reads runs (or sources) and writes a run directory.

A stage has a ``name`` (what its manifest says in ``stage``), a settings model (its recipe
section: a stage receives only that, never the whole recipe) and a ``run`` method that returns a
:class:`StageResult`: the output directory, the manifest it wrote, its funnel when it filters,
and a one-line summary for the terminal. The CLI builds the settings from ``--recipe``/``--set``
and flags, makes the stage and prints the summary; it holds no logic of its own.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Generic, TypeVar

from pydantic import BaseModel

from rudatagen.core.funnel import Funnel
from rudatagen.core.manifest import Manifest

SettingsT = TypeVar("SettingsT", bound=BaseModel)


@dataclass
class StageResult:
    """What a stage's run produced."""

    out: Path
    manifest: Manifest
    summary: str
    funnel: Funnel | None = None


class Stage(ABC, Generic[SettingsT]):
    """Base class. Subclasses set ``name`` and implement :meth:`run`."""

    name: ClassVar[str]

    def __init__(self, settings: SettingsT) -> None:
        self.settings = settings

    @abstractmethod
    def run(self, inputs: Sequence[Path], out: Path, *, progress: bool = True) -> StageResult:
        """Read ``inputs`` (run directories or source files), write the run ``out``."""
