"""What ``evaluate`` and ``shift`` share: their data/prefix/encoding options and how those become
settings, labelled pair sets and encoders (recipe ``evaluate:`` < ``--set`` < flags)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from rudatagen.cli.common import recipe_section, say
from rudatagen.errors import RudatagenError
from rudatagen.evaluation.settings import EvaluateSettings

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
        "negative=..,pos_min=..,neg_max=..,name=..,limit=..], or (evaluate) a BEIR-style folder "
        "(corpus.jsonl, queries.jsonl, qrels/test.tsv); repeatable.",
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
DeviceOption = Annotated[str | None, typer.Option(help="cpu, cuda, ... (default: auto).")]
NoProgress = Annotated[bool, typer.Option("--no-progress", help="No progress bars.")]


@dataclass(frozen=True)
class EvaluationInputs:
    """The resolved ``evaluate:`` section and the prefixes to encode with."""

    settings: EvaluateSettings
    prefixes: dict[str, str | None]

    def pair_sets(self, retrieval: bool = False) -> list[Any]:
        """The labelled pair sets the settings name, each announced with its counts.

        ``retrieval``: retrieval data and BEIR-style ``--extra`` folders become retrieval sets
        (queries against a corpus: ``evaluate``); else everything is pairs (``shift``)."""
        return _pair_sets(self.settings, retrieval)

    def encoder(self, name: str) -> Any:
        """Load model ``name`` with these prefixes and encoding settings."""
        from rudatagen.evaluation.encode import Encoder

        settings = self.settings
        return Encoder.load(
            name, self.prefixes, settings.device, settings.batch_size, settings.max_seq_length
        )


def evaluation_inputs(
    recipe: Path | None,
    overrides: list[str] | None,
    flags: dict[str, Any],
    prefixes: tuple[str | None, str | None, str | None],
) -> EvaluationInputs:
    """Settings from recipe < ``--set`` < flags (``--data``/``--extra`` replace the recipe's)
    and the prefixes: a ``--*-prefix`` flag, else the recipe's, else (None) the model's own."""
    flags = {**flags, "data": flags.get("data") or None, "extra": flags.get("extra") or None}
    settings: EvaluateSettings = recipe_section(recipe, overrides, "evaluate", flags)
    query, document, symmetric = prefixes
    recipe_prefixes = settings.prefixes
    chosen = {
        "query": query if query is not None else recipe_prefixes.query,
        "document": document if document is not None else recipe_prefixes.document,
        "symmetric": symmetric if symmetric is not None else recipe_prefixes.symmetric,
    }
    return EvaluationInputs(settings, chosen)


def _pair_sets(settings: EvaluateSettings, retrieval: bool) -> list[Any]:
    from rudatagen.evaluation.pairsets import evaluation_set, from_file, from_published
    from rudatagen.evaluation.retrieval import from_beir, is_beir_folder
    from rudatagen.kinds.shapes import RetrievalSet

    if not settings.data and not settings.extra:
        raise RudatagenError(
            "nothing to evaluate on: give --data and/or --extra (or evaluate.data/extra)"
        )
    read = evaluation_set if retrieval else from_published
    sets = [read(path, settings.split) for path in settings.data]
    for spec in settings.extra:
        folder = Path(spec)
        sets.append(from_beir(folder) if retrieval and is_beir_folder(folder) else from_file(spec))
    for pairs in sets:
        if isinstance(pairs, RetrievalSet):
            skipped = f"; skipped {pairs.skipped}" if pairs.skipped else ""
            say(
                f"{pairs.name}: {len(pairs.queries)} queries against {len(pairs.corpus)} "
                f"documents{skipped}"
            )
            continue
        skipped = f"; skipped {pairs.skipped}" if pairs.skipped else ""
        say(
            f"{pairs.name}: {len(pairs.text1)} pairs ({pairs.positives} positive, "
            f"{pairs.negatives} negative), {len(pairs.triplets)} triplets{skipped}"
        )
    return sets
