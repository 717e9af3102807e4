"""Prompt sets: files under ``prompts/<task>/``, loaded and checked before any LLM call.

A set is described by ``prompt.yaml`` (name, version, template files, schema, examples). Jinja2
templates run with ``StrictUndefined``; at load time each template's variables are checked
against what the task provides, so a typo in a template fails at start, not after an hour.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import jinja2.meta
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rudatagen.errors import RudatagenError

if TYPE_CHECKING:
    from rudatagen.llm.types import Message

PACKAGED_PROMPTS = Path(__file__).parent / "_prompts"
REPO_PROMPTS = Path(__file__).resolve().parents[2] / "prompts"


class PromptSpec(BaseModel):
    """The contents of ``prompt.yaml``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str
    version: str
    description: str = ""
    system: str
    user: str
    completion: str
    schema_file: str = Field(alias="schema")
    examples: str


@dataclass(frozen=True)
class PromptSet:
    spec: PromptSpec
    directory: Path
    templates: dict[str, jinja2.Template]
    examples: list[dict[str, Any]]
    digest: str
    sources: dict[str, str] = field(default_factory=dict, repr=False)  # the templates' text

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as the templates' text (compiled templates do not pickle): a Ray replica
        gets the very prompts the driver checked, without reading the files again."""
        args = (self.spec, self.directory, self.sources, self.examples, self.digest)
        return (_from_sources, args)

    @property
    def version(self) -> str:
        return f"{self.spec.name}/{self.spec.version}+{self.digest[:8]}"

    def render(self, part: str, **variables: Any) -> str:
        try:
            return self.templates[part].render(**variables)
        except jinja2.UndefinedError as exc:
            raise RudatagenError(f"prompt {self.directory}/{part}: {exc}") from None

    def schema(self, **variables: Any) -> dict[str, Any]:
        text = self.render("schema", **variables)
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RudatagenError(
                f"prompt {self.directory}: {self.spec.schema_file} does not render to JSON ({exc})"
            ) from None
        if not isinstance(value, dict):
            raise RudatagenError(f"prompt {self.directory}: the schema must be a JSON object")
        return value


def default_prompt_dir(task: str) -> Path:
    """The prompts shipped with rudatagen: inside the wheel, or the repository's ``prompts/``."""
    for root in (PACKAGED_PROMPTS, REPO_PROMPTS):
        candidate = root / task
        if (candidate / "prompt.yaml").is_file():
            return candidate
    raise RudatagenError(f"no packaged prompts for task '{task}' (looked in {REPO_PROMPTS})")


def load_prompt_set(directory: Path, variables: dict[str, set[str]]) -> PromptSet:
    """Load ``directory/prompt.yaml`` and check each template uses only ``variables[part]``.

    ``variables`` maps a part ("system", "user", "completion", "schema") to the names the task
    provides for it; a template naming anything else is an error reported at load time.
    """
    manifest = directory / "prompt.yaml"
    if not manifest.is_file():
        raise RudatagenError(f"not a prompt directory (no prompt.yaml): {directory}")
    try:
        spec = PromptSpec.model_validate(yaml.safe_load(manifest.read_text(encoding="utf-8")))
    except (ValidationError, yaml.YAMLError) as exc:
        detail = " ".join(str(exc).split())[:300]
        raise RudatagenError(f"invalid {manifest}: {detail}") from None

    env = _environment()
    digest = hashlib.sha256()
    templates: dict[str, jinja2.Template] = {}
    sources: dict[str, str] = {}
    files = {
        "system": spec.system,
        "user": spec.user,
        "completion": spec.completion,
        "schema": spec.schema_file,
    }
    for part, filename in files.items():
        source = sources[part] = _read(directory / filename)
        digest.update(source.encode("utf-8"))
        templates[part] = _compile(env, source, directory / filename, variables.get(part, set()))

    examples_text = _read(directory / spec.examples)
    digest.update(examples_text.encode("utf-8"))
    try:
        examples = yaml.safe_load(examples_text) or []
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise RudatagenError(f"{directory / spec.examples} is not valid YAML{where}") from None
    if not isinstance(examples, list) or not all(isinstance(e, dict) for e in examples):
        raise RudatagenError(f"{directory / spec.examples} must be a YAML list of mappings")
    return PromptSet(spec, directory, templates, examples, digest.hexdigest(), sources)


def _from_sources(
    spec: PromptSpec,
    directory: Path,
    sources: dict[str, str],
    examples: list[dict[str, Any]],
    digest: str,
) -> PromptSet:
    """A :class:`PromptSet` compiled again from its templates' text (see ``__reduce__``)."""
    env = _environment()
    templates = {part: env.from_string(source) for part, source in sources.items()}
    return PromptSet(spec, directory, templates, examples, digest, sources)


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False
    )


def _compile(
    env: jinja2.Environment, source: str, path: Path, allowed: set[str]
) -> jinja2.Template:
    """Compile one template; syntax errors, unknown filters and unknown variables are errors."""
    try:
        parsed = env.parse(source)
        unknown = jinja2.meta.find_undeclared_variables(parsed) - allowed
        template = env.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise RudatagenError(f"{path}:{exc.lineno}: {exc.message}") from None
    except jinja2.TemplateError as exc:
        raise RudatagenError(f"{path}: {exc}") from None
    if unknown:
        raise RudatagenError(
            f"{path} uses variables the task does not provide: {', '.join(sorted(unknown))} "
            f"(available: {', '.join(sorted(allowed))})"
        )
    return template


def _read(path: Path) -> str:
    if not path.is_file():
        raise RudatagenError(f"prompt file missing: {path}")
    return path.read_text(encoding="utf-8")


def few_shot_turns(
    system: str, examples: Iterable[Any], user: Callable[[str], str], text: str
) -> tuple[Message, ...]:
    """A chat prompt: the system turn, each worked example as an earlier user/assistant exchange
    (``example.text`` rendered by ``user``, ``example.answer_json`` the answer), then ``text``."""
    turns: list[Message] = [{"role": "system", "content": system}]
    for example in examples:
        turns.append({"role": "user", "content": user(example.text)})
        turns.append({"role": "assistant", "content": example.answer_json})
    turns.append({"role": "user", "content": user(text)})
    return tuple(turns)
