"""``rudatagen shift``: did negatives move away from positives after training?"""

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
from rudatagen.errors import RudatagenError
from rudatagen.evaluation.settings import BootstrapSettings, EvaluateSettings


def _bootstrap(settings: EvaluateSettings) -> BootstrapSettings:
    """``evaluate.bootstrap``; the verdict needs intervals, so 0 resamples (which ``evaluate``
    accepts: no intervals) is a one-line error here."""
    if settings.bootstrap.n_resamples < 1:
        raise RudatagenError(
            "shift needs intervals for its verdict: evaluate.bootstrap.n_resamples must be ≥ 1"
        )
    return settings.bootstrap


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
    device: DeviceOption = None,
    no_progress: NoProgress = False,
    recipe: RecipeOption = None,
    set_: SetOption = None,
) -> None:
    """Separation of positive and negative pairs before and after training: ROC-AUC, Cohen's d
    and KS with paired bootstrap intervals (evaluate.bootstrap), the verdict, histograms and ROC
    curves."""
    with user_errors():
        from rudatagen.evaluation.shift import ci, moved, run_shift

        flags = {"data": data, "extra": extra, "split": split, "device": device}
        flags |= {"batch_size": batch_size, "max_seq_length": max_seq_length}
        prefixes = (query_prefix, document_prefix, symmetric_prefix)
        inputs = evaluation_inputs(recipe, set_, flags, prefixes)
        settings = inputs.settings
        bootstrap = _bootstrap(settings)
        sets = inputs.pair_sets()
        first, second = inputs.encoder(before), inputs.encoder(after)
        result = run_shift(first, second, sets, out, not no_progress, bootstrap)
        level = f"{bootstrap.confidence_level:.0%}"
        for name, item in result["datasets"].items():
            auc, where = item["scale_free"]["roc_auc"], item["scale_dependent"]
            say(
                f"{name}: ROC-AUC {auc['before']['value']:.3f} → {auc['after']['value']:.3f}, "
                f"change {ci(auc['change'], signed=True)} ({level}): {item['verdict']}; "
                f"scale-dependent: negatives {moved(where['negative_mean']['change'])} (mean)"
            )
        say(
            f"shift report: {out / 'report.md'} "
            f"({len(result['datasets'])} dataset(s), figures in {out / 'figures'})"
        )
