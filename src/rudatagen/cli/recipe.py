"""``rudatagen recipe``: show or check a resolved recipe, and the reference of every key.

``recipe doc`` renders one Markdown table per section (dotted path as heading: key, type,
default, description), straight from the settings models' fields. README.md holds the output
between ``<!-- recipe-doc:begin SECTION... -->`` and ``<!-- recipe-doc:end -->``; each block
names the sections it shows (``top`` is the top-level keys; a section brings its subsections).
"""

from __future__ import annotations

import json
import re
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import typer
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from rudatagen.cli.common import RecipeOption, SetOption, say, user_errors
from rudatagen.config import Recipe, load_recipe
from rudatagen.errors import RudatagenError

TOP = "top"
BLOCK = re.compile(
    r"(?P<begin><!-- recipe-doc:begin(?P<sections>[^>\n]*?) -->\n)(?P<body>.*?)"
    r"(?P<end><!-- recipe-doc:end -->)",
    re.DOTALL,
)
BOUNDS = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<", "min_length": "length ≥"}


def _describe(resolved: Recipe) -> str:
    if resolved.task == "train" and resolved.train is not None:
        names = ", ".join(d.name for d in resolved.train.datasets)
        return f"task train, base model {resolved.train.model.base}, datasets {names}"
    return f"task {resolved.task}, backend {resolved.llm.backend}, model {resolved.llm.model}"


recipe_app = typer.Typer(help="Inspect recipes.", no_args_is_help=True)


@recipe_app.command("show")
def show(recipe: RecipeOption = None, set_: SetOption = None) -> None:
    """Print the resolved recipe (file + overrides + defaults) as YAML."""
    with user_errors():
        data = load_recipe(recipe, set_ or []).model_dump(mode="json")
        typer.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


@recipe_app.command("check")
def check(recipe: RecipeOption = None, set_: SetOption = None) -> None:
    """Validate a recipe; exit 0 and say so, or print the problem on one line."""
    with user_errors():
        say(f"ok: {_describe(load_recipe(recipe, set_ or []))}", err=False)


# -- the reference: settings models → Markdown tables ---------------------------------------


@dataclass
class Table:
    """One section's keys: ``path`` is dotted (``""``: the top level; ``[]``: a list item)."""

    path: str
    model: type[BaseModel]
    blurb: str
    rows: list[tuple[str, str, str, str]]
    variant: str = ""  # "backend: openai": the keys one variant of a section adds

    def markdown(self) -> str:
        heading = f"#### `{self.path}`" if self.path else "#### top level"
        if self.variant:
            heading += f" (`{self.variant}`)"
        lines = [heading, "", self.blurb, "", "| key | type | default | description |"]
        lines.append("|---|---|---|---|")
        lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in self.rows]
        return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _section_of(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The settings model a field holds (directly, optionally or as list items), and whether
    it is a list of them."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is list:
        return _section_of(args[0])[0], True
    if origin in (Union, types.UnionType):
        for arg in args:
            found = _section_of(arg)
            if found[0] is not None:
                return found
    return None, False


def _type_name(annotation: Any) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if annotation is type(None):
        return "null"
    if annotation is Any:
        return "any"
    if origin is Literal:
        return " | ".join(str(a) for a in args)
    if origin in (Union, types.UnionType):
        if len(_variants(annotation)) == len(args):
            return "section"
        return " | ".join(_type_name(a) for a in args)
    if origin in (list, dict):
        return f"{origin.__name__}[{', '.join(_type_name(a) for a in args)}]"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "section"
    if annotation is Path:
        return "path"
    return getattr(annotation, "__name__", str(annotation))


def _type_text(field: FieldInfo) -> str:
    bounds = [
        f"{sign} {getattr(m, attr)}"
        for m in field.metadata
        for attr, sign in BOUNDS.items()
        if getattr(m, attr, None) is not None
    ]
    text = _type_name(field.annotation)
    return f"{text} ({', '.join(bounds)})" if bounds else text


def _default_text(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return ""
    if isinstance(value, Path):
        value = str(value)
    return f"`{json.dumps(value, ensure_ascii=False)}`"


def _variants(annotation: Any) -> list[type[BaseModel]]:
    """The settings models of a union of several (a section whose keys depend on a tag)."""
    if get_origin(annotation) not in (Union, types.UnionType):
        return []
    models = [a for a in get_args(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
    return models if len(models) > 1 else []


def _blurb(model: type[BaseModel]) -> str:
    return (model.__doc__ or "").split("\n\n")[0].strip()


def tables(
    model: type[BaseModel], path: str = "", blurb: str = "", keys: list[str] | None = None
) -> list[Table]:
    """The section ``model`` at ``path`` (only ``keys``, if given) and, depth first, every
    section under it. A union of sections (``llm``, tagged by ``backend``) gives the keys all
    variants share, then one table per variant with the keys it adds."""
    table = Table(path, model, blurb or _blurb(model), [])
    below: list[Table] = []
    for name, field in model.model_fields.items():
        if keys is not None and name not in keys:
            continue
        row = (f"`{name}`", _type_text(field), _default_text(field), field.description or "")
        table.rows.append(row)
        dotted = f"{path}.{name}" if path else name
        variants = _variants(field.annotation)
        if variants and isinstance(field.discriminator, str):
            below += _variant_tables(field, field.discriminator, variants, dotted)
            continue
        section, is_list = _section_of(field.annotation)
        if section is not None:
            below += tables(section, dotted + ("[]" if is_list else ""), field.description or "")
    return [table, *below]


def _variant_tables(
    field: FieldInfo, tag: str, variants: list[type[BaseModel]], path: str
) -> list[Table]:
    """The shared keys of a tagged union (the tag's type: every variant's value), then each
    variant's own keys under a heading that names its tag."""
    default = field.get_default(call_default_factory=True)
    base = type(default) if isinstance(default, BaseModel) else variants[0]
    shared = [n for n in base.model_fields if all(n in v.model_fields for v in variants)]
    common = tables(base, path, field.description or "", shared)
    values = [v.model_fields[tag].default for v in variants]
    common[0].rows = [
        (r[0], " | ".join(map(str, values)), f'`"{getattr(default, tag)}"`', r[3])
        if r[0] == f"`{tag}`"
        else r
        for r in common[0].rows
    ]
    for variant, value in zip(variants, values, strict=True):
        own = [n for n in variant.model_fields if n not in shared]
        found = tables(variant, path, _blurb(variant), own)
        found[0].variant = f"{tag}: {value}"
        common += found
    return common


def _selected(path: str, sections: list[str]) -> bool:
    for section in sections:
        if section == TOP and not path:
            return True
        if path.startswith(section) and path[len(section) : len(section) + 1] in ("", ".", "["):
            return True
    return False


def render_doc(sections: list[str] | None = None) -> str:
    """The reference tables of ``sections`` (dotted paths; ``top``; none: all), as Markdown."""
    every = tables(Recipe)
    chosen = [t for t in every if not sections or _selected(t.path, sections)]
    unknown = [s for s in sections or [] if not any(_selected(t.path, [s]) for t in every)]
    if unknown:
        raise RudatagenError(f"no recipe section {', '.join(map(repr, unknown))}")
    return "\n\n".join(t.markdown() for t in chosen)


def refresh_blocks(text: str) -> tuple[str, list[str]]:
    """``text`` with every recipe-doc block re-rendered, and the blocks that changed."""
    changed: list[str] = []

    def replace(match: re.Match[str]) -> str:
        sections = match["sections"].split()
        body = f"\n{render_doc(sections)}\n\n"
        if body != match["body"]:
            changed.append(" ".join(sections) or "all")
        return match["begin"] + body + match["end"]

    return BLOCK.sub(replace, text), changed


def _uncovered(text: str) -> list[str]:
    """Sections that no block of ``text`` shows."""
    blocks = [m["sections"].split() for m in BLOCK.finditer(text)]
    return [
        t.path or TOP
        for t in tables(Recipe)
        if not any(not block or _selected(t.path, block) for block in blocks)
    ]


def _read_doc_file(path: Path) -> str:
    if not path.is_file():
        raise RudatagenError(f"not found: {path}")
    text = path.read_text(encoding="utf-8")
    if not BLOCK.search(text):
        raise RudatagenError(f"{path} has no <!-- recipe-doc:begin --> ... end block")
    return text


def _check(path: Path) -> None:
    text = _read_doc_file(path)
    _, changed = refresh_blocks(text)
    if changed:
        say(
            f"{path}: recipe reference out of date ({'; '.join(changed)}); "
            f"run: rudatagen recipe doc --write {path}"
        )
        raise typer.Exit(1)
    missing = _uncovered(text)
    if missing:
        say(f"{path}: no recipe-doc block shows section(s) {', '.join(missing)}")
        raise typer.Exit(1)
    say(f"{path}: recipe reference is up to date")


def _write(path: Path) -> None:
    refreshed, changed = refresh_blocks(_read_doc_file(path))
    if changed:
        path.write_text(refreshed, encoding="utf-8")
    say(f"{path}: {len(changed)} recipe-doc block(s) rewritten")


SectionsArg = Annotated[
    list[str] | None,
    typer.Argument(help="Sections to print (dotted, e.g. llm wanli.seeds; 'top': top-level keys)."),
]
CheckOption = Annotated[
    Path | None, typer.Option("--check", help="Exit 1 if FILE's recipe-doc blocks are stale.")
]
WriteOption = Annotated[
    Path | None, typer.Option("--write", help="Rewrite FILE's recipe-doc blocks.")
]


@recipe_app.command("doc")
def doc(
    sections: SectionsArg = None, check_file: CheckOption = None, write_file: WriteOption = None
) -> None:
    """Print the recipe reference (Markdown tables from the settings models), or keep a file's
    recipe-doc blocks (<!-- recipe-doc:begin SECTION... --> ... end) in step with it."""
    with user_errors():
        if check_file is not None and write_file is not None:
            raise RudatagenError("give --check or --write, not both")
        if check_file is not None:
            _check(check_file)
        elif write_file is not None:
            _write(write_file)
        else:
            typer.echo(render_doc(list(sections or [])))
