"""The filter interface: score the live candidates, reject some with reasons.

A filter is one module with one class and one settings model; adding one is that module plus a
line in ``registry.py``. The pipeline counts what came in, went out and why. A filter that only
makes sense for some dataset kinds names them in ``kinds``; the registry skips it for others.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar, get_args

import numpy as np

from rudatagen.kinds.candidates import CandidateTable
from rudatagen.strict import StrictModel

SettingsT = TypeVar("SettingsT", bound=StrictModel)


@dataclass
class FilterResult:
    """Scores for the rows a filter saw, and which of them it rejects, with reasons.

    ``rows`` are positions in the candidate table; every array in ``scores`` and ``reject`` is
    aligned with ``rows``; ``reasons`` holds one string per rejected row, in ``rows`` order. A
    filter that tidies texts returns ``anchors``/``texts`` (and what it did, ``flags``) aligned
    with ``rows``; the pipeline writes them back for the candidates it kept. ``skipped``: how
    many candidates the filter could not judge (and so kept), by reason; the funnel reports it.
    ``details``: figures of the run the funnel keeps under the filter's name (numbers add up
    when shards' funnels are combined).
    """

    rows: np.ndarray
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    reject: np.ndarray | None = None
    reasons: list[str] = field(default_factory=list)
    anchors: list[str] | None = None
    texts: list[str] | None = None
    flags: list[tuple[str, ...]] | None = None
    skipped: dict[str, int] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FilterContext:
    """What a run hands its filters besides their settings: facts of the run, not recipe keys.

    ``examples``: per record id, the in-context (premise, hypothesis) examples its prompt showed
    (the NLI heuristics reject copies of them). ``checkpoints``: the cartography run's
    checkpoints, with the ``device`` to score on and the ``max_length`` they were trained with
    (the max-variability filter). ``progress``: whether a slow filter may draw a progress bar.
    ``record_texts``: per record id, the texts of the record columns the filters read besides
    their candidates (:attr:`Filter.record_texts`: retrieval's mined negatives).
    """

    examples: Mapping[str, Sequence[tuple[str, str]]] = field(default_factory=dict)
    checkpoints: tuple[Path, ...] = ()
    device: str | None = None
    max_length: int | None = None
    progress: bool = False
    record_texts: Mapping[str, Mapping[str, Sequence[str]]] = field(default_factory=dict)


class Filter(ABC, Generic[SettingsT]):
    """Base class. A subclass names its settings model once, as the type argument
    (``class LexicalFilter(Filter[LexicalSettings])``: ``Settings`` is set from it), and sets
    ``name`` and, if not universal, ``kinds`` (the dataset kinds whose candidates it
    understands; empty: every kind). ``version`` (recorded in manifests) starts at "1": a filter
    sets its own when its logic changes. ``record_scores``: numeric record columns it reads (the
    filter stage copies them into the candidates' scores, NaN where a record lacks them).
    ``record_texts``: record columns (a string or a list of strings) whose texts it reads besides
    the candidates' (the filter stage hands them over in :attr:`FilterContext.record_texts`).
    ``row_local``: True when it judges a candidate from its own record alone, so the Ray
    executor may hand it chunks of whole records on several workers; False (the default) when it
    needs every candidate at once (dedup, max_variability's quota), so it runs on the driver."""

    name: ClassVar[str]
    version: ClassVar[str] = "1"
    Settings: ClassVar[type[StrictModel]]
    kinds: ClassVar[tuple[str, ...]] = ()
    record_scores: ClassVar[tuple[str, ...]] = ()
    record_texts: ClassVar[tuple[str, ...]] = ()
    row_local: ClassVar[bool] = False
    context: FilterContext = FilterContext()  # the registry sets the run's

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in cls.__dict__.get("__orig_bases__", ()):
            for argument in get_args(base):
                if isinstance(argument, type) and issubclass(argument, StrictModel):
                    cls.Settings = argument

    def __init__(self, settings: SettingsT) -> None:
        self.settings = settings

    @abstractmethod
    def apply(self, table: CandidateTable, rows: np.ndarray) -> FilterResult:
        """Score ``table`` at ``rows`` (the live candidates) and say which to reject."""

    def thresholds(self) -> dict[str, object]:
        """What the manifest records: the settings (no secrets live here)."""
        return self.settings.model_dump(mode="json")


class ModelFilter(Filter[SettingsT]):
    """A filter that scores with a model: loaded on first use (a run whose rows are all gone
    never loads it), or handed over already loaded (tests and benchmarks share one)."""

    def __init__(self, settings: SettingsT, model: Any | None = None) -> None:
        super().__init__(settings)
        self._model = model

    def __getstate__(self) -> dict[str, Any]:
        """A copy sent to another process (a Ray replica) loads its own model there."""
        return {**self.__dict__, "_model": None}

    @property
    def model(self) -> Any:
        """The model, loaded on first use."""
        if self._model is None:
            self._model = self.load_model()
        return self._model

    @abstractmethod
    def load_model(self) -> Any:
        """Load the model the settings name."""
