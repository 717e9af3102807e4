"""Settings of human review (the ``annotate:`` section of a recipe).

``annotate push|status|pull`` read this section (``--recipe``/``--set``); their flags override it.
The tool's API key is never a setting: Label Studio's comes from ``LABEL_STUDIO_API_KEY`` only,
so it stays out of recipes, shell history and manifests.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, ValidationError, field_validator

from rudatagen.annotate.tools import TOOLS, unknown_tool
from rudatagen.errors import RudatagenError
from rudatagen.strict import StrictModel


def public_url(url: str) -> str:
    """``url`` without any ``user:password@`` part, for manifests and messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class AnnotateSettings(StrictModel):
    """Human review: the annotation tool, the sample pushed to it, the votes a decision needs."""

    tool: str = Field(
        "label-studio", description="The annotation tool (one of `annotate/tools.py`)."
    )
    url: str | None = Field(
        None, description="The tool's server URL (or `--url`); null: `$LABEL_STUDIO_URL`."
    )
    project: str | None = Field(
        None, description="The project's title (or `--project`); needed by every command."
    )
    sample: int | None = Field(
        None, ge=1, description="Items to push (or `--sample`); null: all of the run's items."
    )
    strategy: Literal["random", "stratified", "uncertain"] = Field(
        "random",
        description="The sample's order (or `--strategy`): seeded hash, by intended label in "
        "turn, or nearest to a filter threshold first.",
    )
    seed: int = Field(0, description="Sampling seed (or `--seed`); same seed: prefix-stable.")
    annotators_per_task: int = Field(
        2, ge=1, description="Annotations wanted per task (or `--annotators-per-task`)."
    )
    batch_size: int = Field(500, ge=1, description="Tasks per import request (or `--batch-size`).")
    min_annotations: int | None = Field(
        None,
        ge=1,
        description="Votes an item needs to be decided at pull (or `--min-annotations`); "
        "null: the project's annotators per task.",
    )
    timeout_s: float = Field(120.0, gt=0, description="Per request to the tool, in seconds.")

    @field_validator("tool")
    @classmethod
    def _known_tool(cls, value: str) -> str:
        if value not in TOOLS:
            raise ValueError(unknown_tool(value))
        return value

    def override(self, **flags: Any) -> AnnotateSettings:
        """These settings with the flags that were given (not None); errors name the flag."""
        given = {name: value for name, value in flags.items() if value is not None}
        if not given:
            return self
        try:
            return AnnotateSettings.model_validate({**self.model_dump(), **given})
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                flag = "--" + str(err["loc"][0]).replace("_", "-") if err["loc"] else "flags"
                problems.append(f"{flag}: {err['msg'].removeprefix('Value error, ')}")
            raise RudatagenError("; ".join(problems)) from None

    def require_project(self) -> str:
        """The project's title; without one, a one-line error."""
        if not self.project:
            raise RudatagenError("no project: pass --project or set annotate.project")
        return self.project

    def public_dict(self) -> dict[str, Any]:
        """The resolved settings as a manifest records them (a URL's credentials dropped)."""
        data = self.model_dump(mode="json")
        if self.url:
            data["url"] = public_url(self.url)
        return data
