"""The annotation tools, registered in one place: name → ``"module:Class"``.

A tool implements :class:`rudatagen.annotate.tool.AnnotationTool`. Its module is imported only
when the tool is used, so naming a tool in a recipe costs nothing until ``annotate`` runs.
Adding a tool is its module plus one line here.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from rudatagen.errors import RudatagenError

if TYPE_CHECKING:
    from rudatagen.annotate.settings import AnnotateSettings
    from rudatagen.annotate.tool import AnnotationTool

TOOLS: dict[str, str] = {
    "label-studio": "rudatagen.annotate.label_studio.tool:LabelStudioTool",
}


def unknown_tool(name: str) -> str:
    """The one-line message for a tool that is not registered."""
    return f"unknown annotation tool {name!r}; choose one of {', '.join(TOOLS)}"


def tool_class(name: str) -> type[AnnotationTool]:
    """The class registered as ``name``."""
    try:
        target = TOOLS[name]
    except KeyError:
        raise RudatagenError(unknown_tool(name)) from None
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def make_tool(settings: AnnotateSettings) -> AnnotationTool:
    """The tool ``settings.tool`` names, set up from the ``annotate:`` section."""
    return tool_class(settings.tool).from_settings(settings)
