"""The filter interface: score the live candidates, reject some with reasons.

A filter is one module with one class and one settings model; adding one is that module plus a
line in ``registry.py``. The pipeline counts what came in, went out and why.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from rudatagen.filters.candidates import CandidateTable
from rudatagen.strict import StrictModel


@dataclass
class FilterResult:
    """Scores for the rows a filter saw, and which of them it rejects, with reasons.

    ``rows`` are positions in the candidate table; every array in ``scores`` and ``reject`` is
    aligned with ``rows``; ``reasons`` holds one string per rejected row, in ``rows`` order.
    """

    rows: np.ndarray
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    reject: np.ndarray | None = None
    reasons: list[str] = field(default_factory=list)


class Filter(ABC):
    """Base class. Subclasses set ``name``, ``version`` and ``Settings``."""

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    Settings: ClassVar[type[StrictModel]]

    def __init__(self, settings: StrictModel) -> None:
        self.settings = settings

    @abstractmethod
    def apply(self, table: CandidateTable, rows: np.ndarray) -> FilterResult:
        """Score ``table`` at ``rows`` (the live candidates) and say which to reject."""

    def thresholds(self) -> dict[str, object]:
        """What the manifest records: the settings (no secrets live here)."""
        return self.settings.model_dump(mode="json")
