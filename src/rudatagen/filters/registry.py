"""Filter stages by name, in the order they run (cheapest first). One line per filter."""

from __future__ import annotations

from importlib import import_module

from rudatagen.filters.base import Filter
from rudatagen.filters.settings import FilterSettings

STAGES: dict[str, str] = {
    "heuristic": "rudatagen.filters.heuristic:HeuristicFilter",
    "lexical": "rudatagen.filters.lexical:LexicalFilter",
    "dedup": "rudatagen.filters.dedup:DedupFilter",
    "biencoder": "rudatagen.filters.biencoder:BiEncoderFilter",
    "cross_encoder": "rudatagen.filters.crossencoder:CrossEncoderFilter",
}


def filter_class(name: str) -> type[Filter]:
    module, attribute = STAGES[name].split(":")
    cls: type[Filter] = getattr(import_module(module), attribute)
    return cls


def build_filters(settings: FilterSettings) -> list[Filter]:
    """The enabled stages, each built from its section of the recipe."""
    filters = []
    for name in STAGES:
        stage_settings = getattr(settings, name)
        if stage_settings.enabled:
            filters.append(filter_class(name)(stage_settings))
    return filters
