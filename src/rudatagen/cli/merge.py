"""``rudatagen merge-models``: one model from several (weighted average, LM-Cocktail, SLERP)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from rudatagen.cli.common import say, user_errors
from rudatagen.errors import RudatagenError


def _prompt_options(values: list[str]) -> dict[str, str]:
    prompts = {}
    for value in values:
        role, equals, text = value.partition("=")
        if not equals or not role:
            raise RudatagenError(f"--prompt {value!r}: expected ROLE=TEXT (query='query: ')")
        prompts[role] = text
    return prompts


def merge_models_command(
    model: Annotated[
        list[str],
        typer.Option("--model", "-m", help="Model folder or Hub id to merge; repeat, in order."),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where the merged model goes.")],
    weight: Annotated[
        list[float] | None,
        typer.Option("--weight", "-w", help="Weight of each --model, in order (normalised)."),
    ] = None,
    tune_on: Annotated[
        list[str] | None,
        typer.Option(
            "--tune-on",
            help="PATH[:SPLIT] (default split validation): tune the weights on a few examples "
            "of this dataset, as LM-Cocktail does; repeatable, one per task.",
        ),
    ] = None,
    method: Annotated[
        Literal["linear", "slerp"] | None,
        typer.Option(help="linear: weighted average (default); slerp: two models."),
    ] = None,
    t: Annotated[float | None, typer.Option("--t", help="slerp: 0 = A, 1 = B (0.5).")] = None,
    temperature: Annotated[
        float | None, typer.Option(help="LM-Cocktail's softmax temperature (5).")
    ] = None,
    examples_per_task: Annotated[
        int | None, typer.Option(help="Examples taken from each --tune-on dataset (16).")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(help="Examples per batch of the tuning loss (16).")
    ] = None,
    prompt: Annotated[
        list[str] | None,
        typer.Option("--prompt", help="ROLE=TEXT: a prompt of the merged model (repeatable)."),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the examples' sample (0).")] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda, ... (default: auto).")] = None,
) -> None:
    """Merge models of one architecture into one: the weighted average of their parameters
    (--weight, or tuned with --tune-on as LM-Cocktail does, else equal), or SLERP of two.

    The merged folder loads with SentenceTransformer(OUT); its README.md names the parents and
    weights, and merge.json keeps the tuning losses (evaluate reports them)."""
    with user_errors():
        from rudatagen.training.merge import merge_models

        options = {"method": method, "t": t, "temperature": temperature, "seed": seed}
        options |= {"examples_per_task": examples_per_task, "batch_size": batch_size}
        options |= {"device": device, "prompts": _prompt_options(list(prompt or []))}
        result = merge_models(
            model,
            out=out,
            weights=weight or None,
            tune_on=list(tune_on or []),
            log=say,
            **{key: value for key, value in options.items() if value is not None},
        )
        say(result.summary())
