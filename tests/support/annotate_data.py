"""Run directories for the annotate tests and bench, from real Russian data in ../shared/data.

RuHNP: ParaPhraser pairs grouped by either text (the query; records that have both kinds):
strict paraphrases (class 1) become ``pos``, non-paraphrases (class -1) ``neg``; optionally
passed through the real ``rudatagen filter`` (default recipe: heuristic, lexical, dedup), which
writes the ``candidates.parquet`` with scores and the manifest with thresholds. WANLI: TERRa
rows (:func:`tests.support.run_dirs.wanli_records`) with the agreed columns (``id``,
``premise``, ``hypothesis``, ``label``, ``seed_id``, ``neighbour_ids``, ``max_variability``,
``heuristic_flags``); ``max_variability`` is a seeded stand-in.
"""

from __future__ import annotations

import csv
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

from tests.support.run_dirs import wanli_records, write_run


def ruhnp_records(shared_data: Path, limit: int, per_list: int = 3) -> list[dict[str, Any]]:
    groups: dict[str, dict[str, list[str]]] = defaultdict(lambda: {"pos": [], "neg": []})
    with (shared_data / "paraphraser_train.tsv").open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            kind = {"1": "pos", "-1": "neg"}.get(row["class"])
            if kind:
                groups[row["text_1"]][kind].append(row["text_2"])
                groups[row["text_2"]][kind].append(row["text_1"])
    records = []
    for query, lists in groups.items():
        if not (lists["pos"] and lists["neg"]):
            continue
        records.append(
            {
                "id": f"pp-{len(records):05d}",
                "query": query,
                "pos": lists["pos"][:per_list],
                "neg": lists["neg"][:per_list],
                "source_id": f"paraphraser:{len(records)}",
            }
        )
        if len(records) >= limit:
            break
    return records


def write_ruhnp_run(root: Path, records: list[dict[str, Any]]) -> Path:
    manifest = {"stage": "generate", "kind": "ruhnp", "fingerprint": "fixture0001"}
    return write_run(root, records, {**manifest, "counts": {"records": len(records)}})


def filtered_ruhnp_run(generated: Path, out: Path) -> Path:
    """The real filter stage (default recipe) over ``generated``."""
    from rudatagen.filters.job import FilterStage
    from rudatagen.filters.settings import FilterSettings

    FilterStage(FilterSettings(min_pos=0, min_neg=0)).run([generated], out, progress=False)
    return out


def wanli_rows(shared_data: Path, limit: int, seed: int = 0) -> list[dict[str, Any]]:
    """TERRa rows as a 3-way WANLI run: not_entailment becomes contradiction; a seeded
    ``max_variability``."""
    rng = random.Random(seed)
    return [
        {
            **row,
            "id": f"wanli-{index:05d}",
            "label": row["label"] if row["label"] == "entailment" else "contradiction",
            "seed_id": f"terra-{row['seed_id']}",
            "neighbour_ids": [f"terra-{int(row['seed_id']) + 1}"],
            "max_variability": round(rng.uniform(0.0, 0.5), 4),
        }
        for index, row in enumerate(wanli_records(shared_data, limit))
    ]


def write_wanli_run(root: Path, rows: list[dict[str, Any]]) -> Path:
    return write_run(
        root, rows, {"stage": "generate", "kind": "wanli", "fingerprint": "fixturewanli"}
    )
