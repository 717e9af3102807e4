"""``rudatagen calibrate`` and ``rudatagen train-cross-encoder``: thresholds and filter models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer

from rudatagen.cli.common import RecipeOption, SetOption, recipe_section, say, user_errors
from rudatagen.config import load_recipe
from rudatagen.errors import RudatagenError

PairsOption = Annotated[
    Path, typer.Option("--pairs", help="Labelled pairs: tsv, csv, jsonl, parquet.")
]
Text1Option = Annotated[str, typer.Option("--text1", help="Column of the first text.")]
Text2Option = Annotated[str, typer.Option("--text2", help="Column of the second text.")]
LabelOption = Annotated[str, typer.Option("--label", help="Column of the label.")]
PositiveOption = Annotated[
    list[str], typer.Option("--positive", help="Label value(s) of positive pairs (repeatable).")
]
NegativeOption = Annotated[
    list[str], typer.Option("--negative", help="Label value(s) of negative pairs (repeatable).")
]


def calibrate_command(
    pairs: PairsOption,
    text1: Text1Option = "text_1",
    text2: Text2Option = "text_2",
    label: LabelOption = "class",
    positive: PositiveOption = ["1"],  # noqa: B006 - typer reads the default
    negative: NegativeOption = ["-1"],  # noqa: B006
    scorer: Annotated[
        Literal["cross_encoder", "biencoder", "lexical"] | None,
        typer.Option(help="What scores the pairs (default: calibrate.scorer, cross_encoder)."),
    ] = None,
    target_precision: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="Precision to reach (default 0.95).")
    ] = None,
    rule: Annotated[
        Literal["lower_bound", "point"] | None,
        typer.Option(
            help="Judge a threshold by the lower end of its precision's interval (default) or "
            "by the point estimate."
        ),
    ] = None,
    confidence: Annotated[
        float | None, typer.Option(min=0.5, max=0.999, help="Level of the intervals (0.95).")
    ] = None,
    interval: Annotated[
        Literal["wilson", "clopper_pearson"] | None,
        typer.Option(help="Interval for proportions (default wilson)."),
    ] = None,
    folds: Annotated[
        int | None,
        typer.Option(min=0, help="Folds of the held-out estimate, by group (0: none; default 5)."),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the fold split (default 0).")] = None,
    model: Annotated[
        str | None, typer.Option(help="Model of the scorer (else the recipe's).")
    ] = None,
    snippet: Annotated[
        Path | None, typer.Option(help="Write the recipe snippet here (default: print only).")
    ] = None,
    recipe: RecipeOption = None,
    set_: SetOption = None,
) -> None:
    """Precision/recall of a scorer on labelled pairs; the threshold reaching a target precision.

    Prints precision and recall with intervals in-sample and held out (k folds split by groups of
    pairs that share a text), and warns when the scorer model was trained on these pairs.
    """
    with user_errors():
        from rudatagen.filters.calibration import calibrate, load_labelled_pairs
        from rudatagen.training.seen_pairs import training_overlap

        flags = {"scorer": scorer, "target_precision": target_precision, "rule": rule}
        flags |= {"confidence": confidence, "interval": interval, "folds": folds, "seed": seed}
        choice = recipe_section(recipe, set_, "calibrate", flags)
        scorer = choice.scorer
        overrides = list(set_ or [])
        if model is not None and scorer != "lexical":
            overrides.append(f"filters.{scorer}.model={model}")
        resolved = load_recipe(recipe, overrides)
        settings = getattr(resolved.filters, scorer) if scorer != "lexical" else None
        labelled = load_labelled_pairs(
            pairs, text_1=text1, text_2=text2, label=label, positive=positive, negative=negative
        )
        say(
            f"pairs: {len(labelled)} ({int(labelled.labels.sum())} positive); "
            f"skipped by label: {labelled.skipped or 'none'}"
        )
        overlap = training_overlap(
            settings.model if settings is not None else None, labelled.text_1, labelled.text_2
        )
        if overlap is not None and overlap.warning():
            say(str(overlap.warning()), color="yellow")
        result = calibrate(
            labelled,
            choice.target_precision,
            scorer,
            settings,
            rule=choice.rule,
            confidence=choice.confidence,
            method=choice.interval,
            folds=choice.folds,
            seed=choice.seed,
            overlap=overlap,
        )
        for line in result.summary_lines():
            typer.echo(line)
        typer.echo(
            "curve: "
            + "; ".join(
                f"{name} → threshold {p.threshold:.4f}, "
                f"precision {p.precision:.3f}, recall {p.recall:.3f}"
                for name, p in result.points.items()
            )
        )
        text = result.recipe_yaml()
        typer.echo(text)
        if snippet is not None:
            snippet.write_text(text, encoding="utf-8")
            snippet.with_suffix(".json").write_text(
                json.dumps(result.as_dict(), ensure_ascii=False, indent=2, default=str),
                encoding="utf-8",
            )
            say(f"wrote {snippet} and {snippet.with_suffix('.json')}")


def train_cross_encoder_command(
    pairs: PairsOption,
    out: Annotated[Path, typer.Option("--out", "-o", help="Where the trained model goes.")],
    base: Annotated[
        str | None, typer.Option("--base", help="Base encoder (Hub id or folder).")
    ] = None,
    text1: Annotated[str | None, typer.Option("--text1", help="Column of the first text.")] = None,
    text2: Annotated[str | None, typer.Option("--text2", help="Column of the second text.")] = None,
    label: Annotated[str | None, typer.Option("--label", help="Column of the label.")] = None,
    positive: Annotated[
        list[str] | None, typer.Option("--positive", help="Label value(s) of positive pairs.")
    ] = None,
    negative: Annotated[
        list[str] | None, typer.Option("--negative", help="Label value(s) of negative pairs.")
    ] = None,
    kind: Annotated[Literal["paraphrase", "nli"] | None, typer.Option()] = None,
    epochs: Annotated[float | None, typer.Option(min=0.01)] = None,
    batch_size: Annotated[int | None, typer.Option(min=1)] = None,
    learning_rate: Annotated[float | None, typer.Option(min=0.0)] = None,
    max_length: Annotated[int | None, typer.Option(min=8)] = None,
    eval_fraction: Annotated[float | None, typer.Option(min=0.0, max=0.5)] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Train on at most N pairs.")] = None,
    seed: Annotated[int | None, typer.Option()] = None,
    recipe: RecipeOption = None,
    set_: SetOption = None,
) -> None:
    """Train a paraphrase (or 3-way NLI) cross-encoder that loads as the filter's model.

    Settings come from the recipe's ``cross_encoder_training:`` section; flags override them.
    For ``--kind nli`` the label column holds entailment / neutral / contradiction.
    """
    with user_errors():
        from rudatagen.training.cross_encoder import train_cross_encoder

        columns = {"text1": text1, "text2": text2, "label": label}
        columns |= {"positive": positive, "negative": negative}
        flags = {
            "base": base, "kind": kind, "epochs": epochs, "batch_size": batch_size,
            "learning_rate": learning_rate, "max_length": max_length,
            "eval_fraction": eval_fraction, "limit": limit, "seed": seed,
        }  # fmt: skip
        settings = recipe_section(recipe, set_, "cross_encoder_training", flags)
        given = {key: value for key, value in columns.items() if value is not None}
        if given:
            settings.columns = settings.columns.model_validate(
                {**settings.columns.model_dump(), **given}
            )
        c = settings.columns
        triples = _training_pairs(
            pairs, c.text1, c.text2, c.label, c.positive, c.negative, settings.kind
        )
        if settings.limit is not None:
            triples = triples[: settings.limit]
        say(
            f"training a {settings.kind} cross-encoder on {len(triples)} pairs from {settings.base}"
        )
        report = train_cross_encoder(
            triples,
            settings.base,
            out,
            kind=settings.kind,
            epochs=settings.epochs,
            batch_size=settings.batch_size,
            learning_rate=settings.learning_rate,
            max_length=settings.max_length,
            seed=settings.seed,
            eval_fraction=settings.eval_fraction,
            inputs=[str(pairs)],
        )
        say(
            f"done in {report.seconds:.0f}s: {report.train_pairs} train / {report.eval_pairs} "
            f"eval pairs; metrics {report.metrics}; model in {out}"
        )
        say(
            "use it: --set filters.cross_encoder.enabled=true "
            f"--set filters.cross_encoder.model={out}"
            f" --set filters.cross_encoder.kind={settings.kind}"
        )


def _training_pairs(
    path: Path,
    text1: str,
    text2: str,
    label: str,
    positive: list[str],
    negative: list[str],
    kind: str,
) -> list[tuple[str, str, int | str]]:
    from rudatagen.core.tables import iter_rows
    from rudatagen.filters.calibration import load_labelled_pairs

    if kind == "paraphrase":
        labelled = load_labelled_pairs(
            path, text_1=text1, text_2=text2, label=label, positive=positive, negative=negative
        )
        return [(a, b, int(y)) for a, b, y in labelled.triples()]
    rows = iter_rows(path, [text1, text2, label])
    triples = [(str(r[text1]), str(r[text2]), str(r[label])) for r in rows if r[text1] and r[text2]]
    if not triples:
        raise RudatagenError(f"{path}: no labelled pairs")
    return triples
