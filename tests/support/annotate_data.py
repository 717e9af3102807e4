"""Run directories for the annotate tests and bench, from real Russian data in ../shared/data.

RuHNP: ParaPhraser pairs grouped by either text (the query; records that have both kinds):
strict paraphrases (class 1) become ``pos``, non-paraphrases (class -1) ``neg``; optionally
passed through the real ``rudatagen filter`` (default recipe: heuristic, lexical, dedup), which
writes the
``candidates.parquet`` with scores and the manifest with thresholds. WANLI: TERRa rows with the
agreed columns (``id``, ``premise``, ``hypothesis``, ``label``, ``seed_id``, ``neighbour_ids``,
``max_variability``, ``heuristic_flags``); ``max_variability`` is a seeded stand-in.
"""

from __future__ import annotations

import csv
import json
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq


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
    (root / "data").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(records), root / "data" / "shard-00000.parquet")
    manifest = {
        "stage": "generate",
        "kind": "ruhnp",
        "fingerprint": "fixture0001",
        "counts": {"records": len(records)},
    }
    (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return root


def filtered_ruhnp_run(generated: Path, out: Path) -> Path:
    """The real filter stage (default recipe) over ``generated``."""
    from rudatagen.filters.job import FilterStage
    from rudatagen.filters.settings import FilterSettings

    FilterStage(FilterSettings(min_pos=0, min_neg=0)).run([generated], out, progress=False)
    return out


def wanli_rows(shared_data: Path, limit: int, seed: int = 0) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    with (shared_data / "terra_train.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            item = json.loads(line)
            rows.append(
                {
                    "id": f"wanli-{len(rows):05d}",
                    "premise": item["premise"],
                    "hypothesis": item["hypothesis"],
                    "label": item["label"] if item["label"] == "entailment" else "contradiction",
                    "seed_id": f"terra-{item['idx']}",
                    "neighbour_ids": [f"terra-{item['idx'] + 1}"],
                    "max_variability": round(rng.uniform(0.0, 0.5), 4),
                    "heuristic_flags": [],
                }
            )
            if len(rows) >= limit:
                break
    return rows


def write_wanli_run(root: Path, rows: list[dict[str, Any]]) -> Path:
    (root / "data").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), root / "data" / "shard-00000.parquet")
    manifest = {"stage": "generate", "kind": "wanli", "fingerprint": "fixturewanli"}
    (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return root
