"""Merge sentence-transformers models of one architecture into one (``rudatagen merge-models``
and the ``merge:`` section of a training recipe).

``linear``: the weighted average of every parameter, with weights that are given, equal, or
tuned as LM-Cocktail does on a few examples of the target tasks (:mod:`.merge_tuning`);
``slerp``: spherical interpolation of two models, tensor by tensor (each tensor flattened into one
vector; linear where the two are nearly parallel). Both are sentence-transformers'
``SentenceTransformer.merge`` (mergekit's ``linear`` and ``slerp``), which also checks that the
models have the same modules, configurations and tokenizer; parameter names and shapes are
checked here first, before any tuning, so a wrong model is a one-line error at once.

The merged model is a sentence-transformers folder (configuration and tokenizer of the first
model) whose prompts are the parents' (for a role two parents prefix differently, the first's),
with a model card naming its parents and weights (``merge_card.md.j2``) and ``merge.json``: the
method, weights, tuning sets and each parent's losses, which ``evaluate`` reports beside the
scores.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rudatagen.core.manifest import InputRef, Manifest, read_json, write_json_atomic
from rudatagen.core.recipe_io import validate
from rudatagen.encoders import load_sentence_transformer, resolve_device
from rudatagen.errors import MissingDependencyError, RudatagenError
from rudatagen.training.merge_settings import MergeMethod, MergeSettings, TuneSet

MERGE_JSON = "merge.json"
CARD_TEMPLATE = Path(__file__).with_name("merge_card.md.j2")
Log = Callable[[str], None]


@dataclass
class MergeResult:
    """What a merge made: the parents (in order), the weights or ``t``, and the tuning figures
    (``losses``: task → one MNRL loss per parent; ``mean_losses``: one per parent)."""

    out: str
    method: str
    models: list[str]
    weights: list[float] | None = None
    t: float | None = None
    tuned: bool = False
    temperature: float | None = None
    tune_sets: list[dict[str, Any]] = field(default_factory=list)
    losses: dict[str, list[float]] = field(default_factory=dict)
    mean_losses: list[float] = field(default_factory=list)
    prompts: dict[str, str] = field(default_factory=dict)
    prompt_conflicts: list[str] = field(default_factory=list)
    tune_seconds: float = 0.0
    merge_seconds: float = 0.0
    seconds: float = 0.0

    def describe(self) -> str:
        """``linear: A 0.412, B 0.588 (tuned on ruhnp:validation)`` / ``slerp t=0.5: A → B``."""
        if self.method == "slerp":
            return f"slerp t={self.t:g}: {self.models[0]} → {self.models[1]}"
        weights = self.weights or []
        parts = ", ".join(f"{m} {w:.3f}" for m, w in zip(self.models, weights, strict=True))
        how = ""
        if self.tuned:
            how = f" (tuned on {', '.join(s['name'] for s in self.tune_sets)})"
        return f"linear: {parts}{how}"

    def summary(self) -> str:
        return (
            f"merged {len(self.models)} models, {self.describe()}; in {self.seconds:.1f}s "
            f"(tuning {self.tune_seconds:.1f}s, merge {self.merge_seconds:.1f}s) → {self.out}"
        )


def _merge_api() -> Any:
    """``SentenceTransformer`` with its ``merge`` (sentence-transformers >= 6.2 with mergekit)."""
    try:
        import mergekit.merge_methods  # noqa: F401 - SentenceTransformer.merge imports it lazily
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise MissingDependencyError("mergekit", "train", "Merging models") from exc
    if not hasattr(SentenceTransformer, "merge"):
        raise MissingDependencyError("sentence-transformers>=6.2", "train", "Merging models")
    return SentenceTransformer


def check_same_parameters(names: Sequence[str], models: Sequence[Any]) -> None:
    """Every model has the first's parameter names and shapes, else one line saying which
    parameter differs and how many do."""
    reference = {k: tuple(v.shape) for k, v in models[0].state_dict().items()}
    for name, model in zip(names[1:], models[1:], strict=True):
        shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        differing = sorted(
            k for k in reference.keys() | shapes.keys() if reference.get(k) != shapes.get(k)
        )
        if not differing:
            continue
        key = differing[0]
        first, other = reference.get(key, "absent"), shapes.get(key, "absent")
        raise RudatagenError(
            f"cannot merge {name} with {names[0]}: different architectures ({len(differing)} of "
            f"{len(reference)} parameters differ, e.g. {key}: {other} vs {first})"
        )


def merged_prompts(
    models: Sequence[Any], names: Sequence[str], chosen: dict[str, str]
) -> tuple[dict[str, str], list[str]]:
    """The merged model's prompts: ``chosen`` (role → prefix, given with the merge) over the
    parents' together (for a role two parents prefix differently, the first's: a conflict); an
    empty prompt (sentence-transformers saves ``query: ""`` by default) is no prompt."""
    prompts: dict[str, str] = {}
    owner: dict[str, str] = {}
    conflicts = []
    for name, model in zip(names, models, strict=True):
        for role, text in (getattr(model, "prompts", None) or {}).items():
            if not text or role in chosen:
                continue
            if role not in prompts:
                prompts[role], owner[role] = text, name
            elif prompts[role] != text:
                conflicts.append(
                    f"prompt {role!r}: {text!r} of {name} differs from {prompts[role]!r} of "
                    f"{owner[role]} (kept)"
                )
    return {role: text for role, text in (prompts | chosen).items() if text}, conflicts


def _tuned_weights(
    settings: MergeSettings, names: list[str], models: list[Any], result: MergeResult, log: Log
) -> list[float]:
    from rudatagen.training.merge_tuning import (
        cocktail_weights,
        mean_losses,
        task_loss,
        tune_examples,
    )

    started = time.perf_counter()
    for tune in settings.tune_on:
        examples = tune_examples(tune, settings.examples_per_task, settings.seed)
        result.tune_sets.append(examples.describe())
        losses = [task_loss(m, examples, settings.batch_size, settings.scale) for m in models]
        result.losses[examples.label] = losses
        log(
            f"tuning on {examples.label} ({examples.rows} examples): MNRL loss "
            + ", ".join(f"{n} {value:.4f}" for n, value in zip(names, losses, strict=True))
        )
    result.mean_losses = mean_losses(result.losses)
    weights = cocktail_weights(result.mean_losses, settings.temperature)
    result.tuned, result.temperature = True, settings.temperature
    result.tune_seconds = round(time.perf_counter() - started, 3)
    return weights


def merge(settings: MergeSettings, out: Path, *, log: Log | None = None) -> MergeResult:
    """Load ``settings.models``, tune the weights when asked, merge, save to ``out``."""
    log = log or (lambda _message: None)
    api = _merge_api()
    started = time.perf_counter()
    names = list(settings.models)
    device = resolve_device(settings.device)
    models = []
    for name in names:
        log(f"loading {name}")
        models.append(load_sentence_transformer(name, device))
    check_same_parameters(names, models)
    result = MergeResult(str(out), settings.method, names)
    if settings.method == "slerp":
        result.t = settings.t
        parameters: dict[str, Any] = {"t": settings.t}
    else:
        weights = settings.given_weights() or _tuned_weights(settings, names, models, result, log)
        result.weights = [round(w, 6) for w in weights]
        parameters = {"weight": weights}
    log(f"merging {len(names)} models ({settings.method})")
    merge_started = time.perf_counter()
    try:
        merged = api.merge(models, method=settings.method, parameters=parameters, device=device)
    except (ValueError, TypeError) as exc:
        raise RudatagenError(f"cannot merge {', '.join(names)}: {exc}") from None
    result.merge_seconds = round(time.perf_counter() - merge_started, 3)
    result.prompts, result.prompt_conflicts = merged_prompts(models, names, settings.prompts)
    for conflict in result.prompt_conflicts:
        log(f"warning: {conflict} (set the merge's prompts to choose)")
    merged.prompts = dict(result.prompts)
    merged.default_prompt_name = None
    out.mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(str(out), create_model_card=False)
    result.seconds = round(time.perf_counter() - started, 3)
    (out / "README.md").write_text(render_card(result), encoding="utf-8")
    manifest = Manifest(
        stage="merge",
        inputs=[InputRef(path=name) for name in names],
        recipe=settings.model_dump(mode="json"),
        counts={
            "models": len(names),
            "tune_examples": sum(s["examples"] for s in result.tune_sets),
        },
        wall_s=result.seconds,
        **asdict(result),
    )
    write_json_atomic(out / MERGE_JSON, manifest.to_json())
    return result


def merge_models(
    models: Sequence[str | Path],
    *,
    out: Path,
    weights: Sequence[float] | None = None,
    tune_on: Sequence[TuneSet | str] | None = None,
    method: MergeMethod = "linear",
    t: float = 0.5,
    log: Log | None = None,
    **options: Any,
) -> MergeResult:
    """Merge ``models`` into ``out``; ``options``: the other keys of :class:`MergeSettings`
    (``temperature``, ``examples_per_task``, ``batch_size``, ``scale``, ``seed``, ``device``).
    Bad combinations (SLERP of three models, weights and tune_on together, negative weights, a
    weight count that is not the model count) are one-line errors."""
    data = {
        "models": [str(m) for m in models],
        "weights": list(weights) if weights is not None else None,
        "tune_on": list(tune_on or []),
        "method": method,
        "t": t,
        **options,
    }
    return merge(validate(MergeSettings, data, "merge options"), out, log=log)


def run_merge_section(
    settings: MergeSettings, trained: dict[str, Path], out: Path, *, log: Log | None = None
) -> MergeResult:
    """The recipe's ``merge:`` after its trainings: a model named like a training is that
    training's output folder (``trained``: name → folder); any other is a folder or Hub id."""
    resolved = [str(trained[name]) if name in trained else name for name in settings.models]
    return merge(settings.model_copy(update={"models": resolved}), out, log=log)


def read_merge(folder: str | Path) -> dict[str, Any] | None:
    """What ``merge.json`` of a model folder says (method, parents, weights or t, tuning, and a
    one-line ``summary``), or None for a model that is not a merge (or a Hub id)."""
    path = Path(folder).expanduser() / MERGE_JSON
    recorded = read_json(path) if path.is_file() else None
    if not recorded:
        return None
    keys = ("method", "models", "weights", "t", "tuned", "temperature", "tune_sets", "mean_losses")
    facts = {key: recorded.get(key) for key in keys}
    fields_ = {k: v for k, v in facts.items() if k in MergeResult.__dataclass_fields__}
    facts["summary"] = MergeResult(out=str(folder), **fields_).describe()
    return facts


def render_card(result: MergeResult) -> str:
    """The model card: a YAML header (the Hub parents as ``base_model``, relation ``merge``)
    and ``merge_card.md.j2`` filled with the parents, weights and tuning figures."""
    import jinja2
    import yaml

    hub_parents = [m for m in result.models if _looks_like_hub_id(m)]
    header: dict[str, Any] = {
        "language": ["ru"],
        "library_name": "sentence-transformers",
        "pipeline_tag": "sentence-similarity",
        "tags": ["sentence-transformers", "rudatagen", "merge"]
        + (["lm-cocktail"] if result.tuned else []),
    }
    if hub_parents:
        header |= {"base_model": hub_parents, "base_model_relation": "merge"}
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(CARD_TEMPLATE.parent)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    return env.get_template(CARD_TEMPLATE.name).render(
        header=yaml.safe_dump(header, allow_unicode=True, sort_keys=False),
        result=result,
        description=result.describe(),
        rows=list(zip(result.models, result.weights or [None] * len(result.models), strict=True)),
    )


def _looks_like_hub_id(name: str) -> bool:
    return (
        not Path(name).expanduser().exists()
        and name.count("/") == 1
        and not name.startswith((".", "/", "~"))
    )
