"""Every filter by name, in the order they run (cheapest first). One line per filter.

A recipe section hands over the settings of its filters as ``{name: settings}``
(``FilterSettings.sections()`` for ``filters:``, ``WanliFilterSettings.sections()`` for
``wanli.filter``); :func:`build_filters` makes the enabled ones that understand the run's kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import import_module

from rudatagen.errors import RudatagenError
from rudatagen.filters.base import Filter, FilterContext
from rudatagen.strict import StrictModel

FILTERS: dict[str, str] = {
    "decontaminate": "rudatagen.filters.decontaminate:DecontaminateFilter",
    "heuristic": "rudatagen.filters.heuristic:HeuristicFilter",
    "lexical": "rudatagen.filters.lexical:LexicalFilter",
    "dedup": "rudatagen.filters.dedup:DedupFilter",
    "biencoder": "rudatagen.filters.biencoder:BiEncoderFilter",
    "cross_encoder": "rudatagen.filters.crossencoder:CrossEncoderFilter",
    "easiness": "rudatagen.filters.easiness:EasinessFilter",
    "copying": "rudatagen.filters.copying:CopyingFilter",
    "answerability": "rudatagen.filters.answerability:AnswerabilityFilter",
    "semantic_dedup": "rudatagen.filters.semantic_dedup:SemanticDedupFilter",
    "nli_heuristic": "rudatagen.filters.nli_heuristic:NLIHeuristicFilter",
    "max_variability": "rudatagen.filters.variability:VariabilityFilter",
}


def filter_class(name: str) -> type[Filter]:
    module, attribute = FILTERS[name].split(":")
    cls: type[Filter] = getattr(import_module(module), attribute)
    return cls


def serves(name: str, kind: str) -> bool:
    """Whether the filter ``name`` understands candidates of ``kind``."""
    kinds = filter_class(name).kinds
    return not kinds or kind in kinds


def build_filters(
    sections: Mapping[str, StrictModel], kind: str, context: FilterContext | None = None
) -> list[Filter]:
    """The enabled filters of ``sections`` for ``kind``, in registry order, given ``context``.

    A section without ``enabled`` is always on. A filter for other kinds is skipped when its
    section is at its default, and is a one-line error when the recipe enabled it explicitly.
    """
    unknown = sorted(set(sections) - set(FILTERS))
    if unknown:
        raise RudatagenError(f"unknown filter(s) {', '.join(unknown)}; known: {', '.join(FILTERS)}")
    filters = []
    for name in FILTERS:
        settings = sections.get(name)
        if settings is None or not getattr(settings, "enabled", True):
            continue
        cls = filter_class(name)
        if not serves(name, kind):
            if "enabled" in settings.model_fields_set:
                raise RudatagenError(
                    f"filter {name} works on {', '.join(cls.kinds)} candidates, not {kind}; "
                    f"set {name}.enabled=false"
                )
            continue
        instance = cls(settings)
        if context is not None:
            instance.context = context
        filters.append(instance)
    return filters
