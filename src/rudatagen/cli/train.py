"""``rudatagen train``, ``rudatagen evaluate`` and ``rudatagen shift``: the encoder stage."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from rudatagen.cli.common import RecipeOption, SetOption, recipe_section, say, user_errors
from rudatagen.config import load_recipe
from rudatagen.errors import RudatagenError
from rudatagen.evaluation.settings import EvaluateSettings
from rudatagen.training.recipe import TrainSettings

DataOption = Annotated[
    list[str] | None,
    typer.Option(
        "--data", help="Published dataset folder (or run dir / Parquet / Hub id); repeatable."
    ),
]
SplitOption = Annotated[
    str | None, typer.Option("--split", help="Split of --data to use (default: test).")
]
ExtraOption = Annotated[
    list[str] | None,
    typer.Option(
        "--extra",
        help="Labelled pair file, PATH[:text1=..,text2=..,label=..|score=..,positive=..,"
        "negative=..,pos_min=..,neg_max=..,name=..,limit=..]; repeatable.",
    ),
]
QueryPrefix = Annotated[
    str | None, typer.Option(help="Prefix of queries (default: the model's saved prompt).")
]
DocumentPrefix = Annotated[
    str | None, typer.Option(help="Prefix of documents/candidates (default: the model's).")
]
SymmetricPrefix = Annotated[
    str | None, typer.Option(help="Prefix of both sides of symmetric pairs (default: model's).")
]
BatchOption = Annotated[int | None, typer.Option(min=1, help="Encoding batch size (default: 64).")]
SeqOption = Annotated[int | None, typer.Option(min=8, help="Truncate inputs to N tokens.")]
NoProgress = Annotated[bool, typer.Option("--no-progress", help="No progress bars.")]


def train_command(
    recipe: Annotated[Path, typer.Option("--recipe", "-r", help="Training recipe YAML.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where the trained model goes.")],
    set_: SetOption = None,
    no_progress: NoProgress = False,
) -> None:
    """Train a bi-encoder with sentence-transformers' trainer from a recipe (recipes/train.yaml)."""
    with user_errors():
        from rudatagen.training.run import train

        settings = _train_section(recipe, list(set_ or []))
        say(
            f"training {settings.model.base} on "
            + ", ".join(f"{d.name} ({d.path})" for d in settings.datasets)
        )
        report = train(settings, out, progress=not no_progress)
        say(report.summary())


def _train_section(path: Path, overrides: list[str]) -> TrainSettings:
    """The recipe's ``train:`` section; a recipe without one is a one-line error."""
    resolved = load_recipe(path, overrides)
    if resolved.train is None:
        raise RudatagenError(f"recipe {path} has no 'train:' section (see recipes/train.yaml)")
    return resolved.train


def _load_encoder(name: str, prefixes: dict[str, str | None], settings: EvaluateSettings) -> Any:
    from rudatagen.evaluation.encode import Encoder

    return Encoder.load(
        name, prefixes, settings.device, settings.batch_size, settings.max_seq_length
    )


def _pair_sets(data: list[str], split: str, extra: list[str]) -> list:
    from rudatagen.evaluation.pairsets import from_file, from_published

    if not data and not extra:
        raise RudatagenError(
            "nothing to evaluate on: give --data and/or --extra (or evaluate.data/extra)"
        )
    sets = [from_published(path, split) for path in data]
    sets += [from_file(spec) for spec in extra]
    for pairs in sets:
        skipped = f"; skipped {pairs.skipped}" if pairs.skipped else ""
        say(
            f"{pairs.name}: {len(pairs.text1)} pairs ({pairs.positives} positive, "
            f"{pairs.negatives} negative), {len(pairs.triplets)} triplets{skipped}"
        )
    return sets


def _prefix_overrides(
    settings: EvaluateSettings, query: str | None, document: str | None, symmetric: str | None
) -> dict[str, str | None]:
    """The prefixes to use: a ``--*-prefix`` flag, else the recipe's, else (None) the model's."""
    recipe = settings.prefixes
    return {
        "query": query if query is not None else recipe.query,
        "document": document if document is not None else recipe.document,
        "symmetric": symmetric if symmetric is not None else recipe.symmetric,
    }


def _evaluate_section(
    recipe: Path | None,
    overrides: list[str] | None,
    data: list[str] | None,
    extra: list[str] | None,
    **flags: Any,
) -> EvaluateSettings:
    """The recipe's ``evaluate:`` section with the flags on top (``--data``/``--extra`` replace)."""
    return recipe_section(
        recipe, overrides, "evaluate", {"data": data or None, "extra": extra or None, **flags}
    )


def evaluate_command(
    model: Annotated[
        list[str], typer.Option("--model", "-m", help="Model folder or Hub id; repeatable.")
    ],
    data: DataOption = None,
    split: SplitOption = None,
    extra: ExtraOption = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the JSON/Markdown.")] = Path(
        "reports/evaluate"
    ),
    query_prefix: QueryPrefix = None,
    document_prefix: DocumentPrefix = None,
    symmetric_prefix: SymmetricPrefix = None,
    batch_size: BatchOption = None,
    max_seq_length: SeqOption = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda, ... (default: auto).")] = None,
    no_progress: NoProgress = False,
    recipe: RecipeOption = None,
    set_: SetOption = None,
) -> None:
    """Pair classification (AP/F1/accuracy), triplet accuracy and STS Spearman per dataset."""
    with user_errors():
        from rudatagen.evaluation.evaluate import evaluate_model, markdown_table, model_slug

        flags = {"split": split, "batch_size": batch_size, "max_seq_length": max_seq_length}
        settings = _evaluate_section(recipe, set_, data, extra, device=device, **flags)
        sets = _pair_sets(settings.data, settings.split, settings.extra)
        prefixes = (query_prefix, document_prefix, symmetric_prefix)
        overrides = _prefix_overrides(settings, *prefixes)
        for name in model:
            encoder = _load_encoder(name, overrides, settings)
            report = evaluate_model(encoder, sets, out, progress=not no_progress)
            typer.echo(markdown_table(name, report["datasets"]))
            say(
                f"evaluated {name} on {len(sets)} dataset(s) in {report['seconds']:.1f}s → "
                f"{out / model_slug(name)}.json, .md"
            )


def shift_command(
    before: Annotated[str, typer.Option("--before", help="The model before training.")],
    after: Annotated[str, typer.Option("--after", help="The model after training.")],
    data: DataOption = None,
    split: SplitOption = None,
    extra: ExtraOption = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Report folder.")] = Path(
        "reports/shift"
    ),
    query_prefix: QueryPrefix = None,
    document_prefix: DocumentPrefix = None,
    symmetric_prefix: SymmetricPrefix = None,
    batch_size: BatchOption = None,
    max_seq_length: SeqOption = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda, ... (default: auto).")] = None,
    no_progress: NoProgress = False,
    recipe: RecipeOption = None,
    set_: SetOption = None,
) -> None:
    """Cosine distributions of positive vs negative pairs before and after training."""
    with user_errors():
        from rudatagen.evaluation.shift import run_shift

        flags = {"split": split, "batch_size": batch_size, "max_seq_length": max_seq_length}
        settings = _evaluate_section(recipe, set_, data, extra, device=device, **flags)
        sets = _pair_sets(settings.data, settings.split, settings.extra)
        prefixes = (query_prefix, document_prefix, symmetric_prefix)
        overrides = _prefix_overrides(settings, *prefixes)
        first = _load_encoder(before, overrides, settings)
        second = _load_encoder(after, overrides, settings)
        result = run_shift(first, second, sets, out, progress=not no_progress)
        for name, item in result["datasets"].items():
            say(
                f"{name}: negatives {item['negative_mean_moved']:+.3f} (mean), gap "
                f"{item['before']['gap']:.3f} → {item['after']['gap']:.3f}, ROC-AUC "
                f"{item['before']['roc_auc']:.3f} → {item['after']['roc_auc']:.3f}: "
                + ("moved away" if item["negatives_moved_away"] else "did NOT move away")
            )
        say(
            f"shift report: {out / 'report.md'} "
            f"({len(result['datasets'])} figure(s) in {out / 'figures'})"
        )
