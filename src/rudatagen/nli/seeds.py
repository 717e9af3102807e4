"""Seed NLI data: read premise/hypothesis/label rows, map labels, fingerprint the set.

Column names and raw label values are mapped by the recipe (``wanli.seeds``). A raw label that
is neither in ``label_map`` nor a canonical label name is an error naming the value and how many
rows carry it; so is a label set with a label no row carries.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from rudatagen.core.tables import iter_rows
from rudatagen.errors import RudatagenError
from rudatagen.nli.settings import SeedDataSettings
from rudatagen.text import normalise_text


@dataclass(frozen=True)
class Seed:
    """One mapped seed example; ``label_id`` indexes the recipe's ``labels``."""

    guid: str
    premise: str
    hypothesis: str
    label: str
    label_id: int


def _canonical(raw: object, settings: SeedDataSettings) -> str | None:
    key = str(raw).strip()
    if key in settings.label_map:
        return settings.label_map[key]
    if not settings.label_map and key.lower() in settings.labels:
        return key.lower()
    return None


def read_seeds(path: Path, settings: SeedDataSettings) -> list[Seed]:
    """All usable rows of the seed set, labels mapped; empty texts are errors, not skips.

    The file is read by ``core.tables`` (format, split and missing columns are its errors).
    """
    columns = (settings.premise_column, settings.hypothesis_column, settings.label_column)
    wanted = [*columns, settings.id_column] if settings.id_column else list(columns)
    rows = iter_rows(
        path,
        wanted,
        format=settings.format,
        split=settings.split,
        format_setting="wanli.seeds.format",
    )
    raw_rows: list[tuple[str, str, str, object]] = []
    for index, row in enumerate(rows):
        guid = str(row[settings.id_column]) if settings.id_column else str(index)
        premise = normalise_text(str(row[columns[0]] or ""))
        hypothesis = normalise_text(str(row[columns[1]] or ""))
        if not premise or not hypothesis:
            raise RudatagenError(f"{path}: row {index} has an empty premise or hypothesis")
        raw_rows.append((guid, premise, hypothesis, row[columns[2]]))
    if not raw_rows:
        raise RudatagenError(f"no rows in seed data {path}")

    unmapped = Counter(str(raw) for *_, raw in raw_rows if _canonical(raw, settings) is None)
    if unmapped:
        value, count = unmapped.most_common(1)[0]
        others = f" (and {len(unmapped) - 1} more values)" if len(unmapped) > 1 else ""
        raise RudatagenError(
            f"{path}: label {value!r} ({count} rows){others} is not in wanli.seeds.label_map "
            f"and not one of {', '.join(settings.labels)}"
        )
    guids = Counter(guid for guid, *_ in raw_rows)
    duplicated = [g for g, n in guids.items() if n > 1]
    if duplicated:
        raise RudatagenError(
            f"{path}: id {duplicated[0]!r} appears {guids[duplicated[0]]} times "
            f"(wanli.seeds.id_column must be unique)"
        )
    seeds = []
    for guid, premise, hypothesis, raw in raw_rows:
        label = _canonical(raw, settings)
        assert label is not None
        seeds.append(Seed(guid, premise, hypothesis, label, settings.labels.index(label)))
    if settings.limit is not None and settings.limit < len(seeds):
        chosen = sorted(
            random.Random(settings.sample_seed).sample(range(len(seeds)), settings.limit)
        )
        seeds = [seeds[i] for i in chosen]
    counts = Counter(seed.label for seed in seeds)
    absent = [label for label in settings.labels if not counts[label]]
    if absent:
        raise RudatagenError(
            f"{path}: no rows with label {', '.join(absent)} "
            f"(counts: {', '.join(f'{k} {v}' for k, v in sorted(counts.items()))})"
        )
    return seeds


def label_counts(seeds: list[Seed]) -> dict[str, int]:
    return dict(sorted(Counter(seed.label for seed in seeds).items()))


def fingerprint(seeds: list[Seed], labels: list[str]) -> str:
    """A hash of the mapped rows (id, texts, label) in order and of the label set."""
    digest = hashlib.sha256(json.dumps(labels, ensure_ascii=False).encode("utf-8"))
    for seed in seeds:
        line = json.dumps(
            [seed.guid, seed.premise, seed.hypothesis, seed.label], ensure_ascii=False
        )
        digest.update(line.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()[:16]


def check_size(seeds: list[Seed], labels: list[str], quantile: float, k: int) -> None:
    """Each label must leave at least ``k + 1`` ambiguous examples above the quantile."""
    counts = Counter(seed.label for seed in seeds)
    for label in labels:
        ambiguous = int(counts[label] * (1 - quantile))
        if ambiguous < k + 1:
            raise RudatagenError(
                f"seed set too small: label '{label}' has {counts[label]} rows, the top "
                f"{1 - quantile:.0%} by variability is ~{ambiguous} examples, but k={k} "
                f"neighbours need at least {k + 1} (more rows, a lower "
                f"wanli.selection.quantile or a smaller k)"
            )
