"""Errors meant for the user: the CLI prints them as one line, without a traceback."""

from __future__ import annotations


class RudatagenError(Exception):
    """A problem the user can fix (bad input, bad recipe, unreachable server)."""


class MissingDependencyError(RudatagenError):
    """An optional dependency needed by the chosen backend or stage is not installed."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the '{package}' package: pip install 'rudatagen[{extra}]'"
        )
