"""Merge weights tuned on a few examples of the target tasks, as LM-Cocktail does.

Source: Xiao et al., "LM-Cocktail: Resilient Tuning of Language Models via Model Merging"
(arXiv:2311.13534) and its code, FlagEmbedding's ``LM_Cocktail`` (``utils.compute_weights`` and
``embedder_loss``): each candidate model's contrastive loss on a few examples, with in-batch
negatives, then ``weights = softmax(-loss / temperature)`` (temperature 5 by default), so a model
that already does the target tasks well weighs more.

Why not the ``LM_Cocktail`` package (0.0.4, checked on 2026-11-26): it installs here without
touching torch or transformers and runs offline, but it embeds with CLS pooling and no prefixes
whatever the model, and saves the merge as a CLS-pooled model: for mean-pooled models
(all-MiniLM-L6-v2, USER-base) that is another model than the parents. Its tuning also needs at
least seven negatives per example (``random.sample``). Here the loss is sentence-transformers'
``MultipleNegativesRankingLoss`` (the loss the trainings minimise, same scale 20 = 1 / 0.05 as
LM-Cocktail's), run through each model's own modules (pooling, normalisation) with its own prompts.

Several tasks: a task's loss is the mean over its batches, a model's loss the mean over tasks
(every task counts the same however many examples it has). LM-Cocktail's single list of examples
from every task gives the same when the tasks have as many batches each.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from typing import Any

import numpy as np

from rudatagen.errors import RudatagenError
from rudatagen.training.merge_settings import TuneSet


@dataclass
class TuneExamples:
    """The examples of one task: training columns (anchor, positive[, negative…]) and the prefix
    role (query / document / symmetric) of each column."""

    label: str
    path: str
    split: str
    kind: str
    columns: dict[str, list[str]]
    roles: dict[str, str]

    @property
    def rows(self) -> int:
        return len(self.columns["anchor"])

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.label,
            "path": self.path,
            "split": self.split,
            "kind": self.kind,
            "examples": self.rows,
        }


def _distinct_rows(columns: dict[str, list[str]], count: int, seed: int) -> list[int]:
    """Up to ``count`` rows, in a seeded random order, no text of which is in another chosen row:
    a repeated text would be an in-batch false negative (what the trainer's NO_DUPLICATES
    sampler avoids)."""
    order = list(range(len(columns["anchor"])))
    random.Random(seed).shuffle(order)
    seen: set[str] = set()
    chosen: list[int] = []
    for index in order:
        texts = {values[index] for values in columns.values()}
        if texts & seen:
            continue
        seen |= texts
        chosen.append(index)
        if len(chosen) == count:
            break
    return chosen


def tune_examples(tune: TuneSet, count: int, seed: int) -> TuneExamples:
    """``count`` examples of ``tune``, read and turned into training rows exactly as a training
    dataset of the same path, kind and columns would be (one (positive, negative) per query)."""
    from rudatagen.training.build import prompt_roles
    from rudatagen.training.data import kind_of_dataset, read_split
    from rudatagen.training.recipe import DatasetSettings

    as_dataset = DatasetSettings(
        name="tune",
        path=tune.path,
        split=tune.split,
        kind=tune.kind,
        columns=tune.columns,
        symmetric=tune.symmetric,
        combinations_per_query=1,
    )
    rows = read_split(tune.path, tune.split)
    source = kind_of_dataset(tune.path, rows, tune.kind, tune.columns)
    triplets = source.training_rows(rows, 1, as_dataset.label_scores).triplets
    if not triplets or not triplets.get("anchor"):
        raise RudatagenError(
            f"tune set {tune.label}: no (anchor, positive) rows to tune on ({source.name} data)"
        )
    chosen = _distinct_rows(triplets, count, seed)
    if len(chosen) < 2:
        raise RudatagenError(
            f"tune set {tune.label}: {len(chosen)} distinct example(s); in-batch negatives need 2+"
        )
    columns = {name: [values[i] for i in chosen] for name, values in triplets.items()}
    roles = prompt_roles(source, "triplets", list(columns), as_dataset, None)
    return TuneExamples(tune.label, tune.path, tune.split, source.name, columns, roles)


def batches(rows: int, batch_size: int) -> list[range]:
    """Near-equal batches of at most ``batch_size`` rows (no last batch of one row, whose loss
    has no in-batch negative)."""
    count = -(-rows // batch_size)
    bounds = np.linspace(0, rows, count + 1).round().astype(int)
    return [range(int(a), int(b)) for a, b in itertools.pairwise(bounds)]


def task_loss(model: Any, examples: TuneExamples, batch_size: int, scale: float) -> float:
    """The mean MNRL loss of ``model`` over the batches of ``examples``, every text with the
    prefix of its role from the model's own prompts (as ``evaluate`` encodes them)."""
    import torch
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from sentence_transformers.util import batch_to_device

    loss = MultipleNegativesRankingLoss(model, scale=scale)
    prompts = getattr(model, "prompts", None) or {}
    model.eval()
    values = []
    with torch.no_grad():
        for rows in batches(examples.rows, batch_size):
            features = []
            for column, texts in examples.columns.items():
                prompt = prompts.get(examples.roles[column]) or None
                inputs = model.preprocess([texts[i] for i in rows], prompt=prompt)
                features.append(batch_to_device(inputs, model.device))
            values.append(float(loss(features, None)))
    return float(np.mean(values))


def mean_losses(losses: dict[str, list[float]]) -> list[float]:
    """Each model's loss averaged over tasks; ``losses``: task → one loss per model."""
    return [float(x) for x in np.mean(np.array(list(losses.values()), dtype=np.float64), axis=0)]


def cocktail_weights(losses: list[float], temperature: float) -> list[float]:
    """LM-Cocktail's weights: softmax(−loss / temperature), one per model."""
    from scipy.special import softmax

    return [float(w) for w in softmax(-np.array(losses, dtype=np.float64) / temperature)]
