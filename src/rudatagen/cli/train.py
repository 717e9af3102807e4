"""``rudatagen train`` and ``rudatagen evaluate``: the encoder stage (``shift`` is in shift.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rudatagen.cli.common import RecipeOption, SetOption, say, user_errors
from rudatagen.cli.evaluation_inputs import (
    BatchOption,
    DataOption,
    DeviceOption,
    DocumentPrefix,
    ExtraOption,
    NoProgress,
    QueryPrefix,
    SeqOption,
    SplitOption,
    SymmetricPrefix,
    evaluation_inputs,
)
from rudatagen.config import load_recipe
from rudatagen.errors import RudatagenError
from rudatagen.training.recipe import TrainSettings


def train_command(
    recipe: Annotated[Path, typer.Option("--recipe", "-r", help="Training recipe YAML.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where the trained model goes.")],
    set_: SetOption = None,
    no_progress: NoProgress = False,
) -> None:
    """Train a bi-encoder with sentence-transformers' trainer from a recipe (recipes/train.yaml);
    a recipe with several trainings (recipes/user.yaml) trains each into OUT/NAME/, then merges."""
    with user_errors():
        from rudatagen.training.trainings import run_trainings

        settings = _train_section(recipe, list(set_ or []))
        run_trainings(settings, out, progress=not no_progress, say=say)


def _train_section(path: Path, overrides: list[str]) -> TrainSettings:
    """The recipe's ``train:`` section; a recipe without one is a one-line error."""
    resolved = load_recipe(path, overrides)
    if resolved.train is None:
        raise RudatagenError(f"recipe {path} has no 'train:' section (see recipes/train.yaml)")
    return resolved.train


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
    device: DeviceOption = None,
    no_progress: NoProgress = False,
    recipe: RecipeOption = None,
    set_: SetOption = None,
) -> None:
    """Pair classification (AP/F1/accuracy), triplet accuracy and STS Spearman per dataset, and
    retrieval metrics (nDCG@10, MRR@10, Recall@10/100, MAP) for retrieval data and BEIR folders,
    with bootstrap intervals; each later --model is compared with the first on the same pairs."""
    with user_errors():
        from rudatagen.evaluation.evaluate import evaluate_model, markdown_table, unique_slugs

        flags = {"data": data, "extra": extra, "split": split, "device": device}
        flags |= {"batch_size": batch_size, "max_seq_length": max_seq_length}
        prefixes = (query_prefix, document_prefix, symmetric_prefix)
        inputs = evaluation_inputs(recipe, set_, flags, prefixes)
        settings, sets = inputs.settings, inputs.pair_sets(retrieval=True)
        baseline = None
        for name, slug in zip(model, unique_slugs(model), strict=True):
            encoder = inputs.encoder(name)
            report, scores = evaluate_model(
                encoder, sets, out, not no_progress, settings.bootstrap, baseline, slug
            )
            typer.echo(markdown_table(name, report["datasets"]))
            if "merge" in report:
                say(f"{name} is a merge, {report['merge']['summary']}")
            for rows in report.get("comparison", {}).get("datasets", {}).values():
                for row in rows.values():
                    say(row["statement"])
            say(
                f"evaluated {name} on {len(sets)} dataset(s) in {report['seconds']:.1f}s → "
                f"{out / slug}.json, .md"
            )
            baseline = baseline or scores
