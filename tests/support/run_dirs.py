"""Run directories shaped like rudatagen's outputs, built from real labelled Russian data.

RuHNP: ParaPhraser pairs grouped by text (each side of a pair is a query): strict paraphrases
(class 1) are ``pos``, non-paraphrases (class -1) are ``neg``. WANLI: TERRa premises/hypotheses
with their entailment / not_entailment labels.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from rudatagen.core.tables import iter_rows


def ruhnp_records(shared_data: Path, both_only: bool = True) -> list[dict[str, Any]]:
    """Queries with their ParaPhraser paraphrases and non-paraphrases (at most 5 of each)."""
    rows = iter_rows(shared_data / "paraphraser_train.tsv", ["text_1", "text_2", "class"])
    groups: dict[str, dict[str, list[str]]] = defaultdict(lambda: {"pos": [], "neg": []})
    for row in rows:
        for a, b in ((row["text_1"], row["text_2"]), (row["text_2"], row["text_1"])):
            if row["class"] == "1":  # TSV cells are strings
                groups[a]["pos"].append(b)
            elif row["class"] == "-1":
                groups[a]["neg"].append(b)
    records = []
    for query in sorted(groups):
        pos, neg = groups[query]["pos"][:5], groups[query]["neg"][:5]
        if both_only and not (pos and neg):
            continue
        records.append({"id": f"pp-{len(records)}", "query": query, "pos": pos, "neg": neg})
    return records


def write_run(root: Path, records: list[dict[str, Any]], manifest: dict | None = None) -> Path:
    """``root/data/shard-00000.parquet`` (+ ``manifest.json``)."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(records), root / "data" / "shard-00000.parquet")
    if manifest is not None:
        (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return root


GENERATION_MANIFEST = {
    "stage": "generate",
    "kind": "ruhnp",
    "created": "2026-11-23T00:00:00+00:00",
    "fingerprint": "0123456789abcdef",
    "recipe": {
        "name": "ruhnp-test",
        "llm": {"model": "Qwen/Qwen2.5-32B-Instruct", "backend": "openai", "api_key_env": "X"},
        "source": {"path": "../shared/data/paraphraser_train.tsv"},
    },
    "backend": {"name": "openai"},
    "prompt": {"name": "ruhnp", "version": 3},
    "source": {"path": "../shared/data/paraphraser_train.tsv"},
    "packages": {"rudatagen": "0.1.0"},
}


def ruhnp_run(root: Path, shared_data: Path, limit: int | None = None) -> Path:
    """A generation run (manifest) plus a filter run on top of it (funnel, agreement)."""
    records = ruhnp_records(shared_data)[:limit]
    for i, record in enumerate(records):
        record["prompt_version"] = 3
        record["model"] = "Qwen/Qwen2.5-32B-Instruct"
        record["review_status"] = "unresolved" if i % 10 == 9 else "reviewed"
    generation = write_run(root / "gen", records, GENERATION_MANIFEST)
    upstream = {"stage": "filter", "kind": "ruhnp", "inputs": [{"path": str(generation)}]}
    filtered = write_run(root / "filtered", records, upstream)
    (filtered / "funnel.json").write_text(
        json.dumps(
            {
                "unit": "candidates",
                "counts_in": {"paraphrase": 900, "non_paraphrase": 800},
                "steps": [
                    {
                        "name": "heuristic",
                        "counts": {
                            "paraphrase": {"in": 900, "out": 800},
                            "non_paraphrase": {"in": 800, "out": 700},
                        },
                        "rejected_by_rule": {"too short": 200},
                    },
                    {
                        "name": "min_survivors",
                        "counts": {
                            "paraphrase": {"in": 800, "out": 700},
                            "non_paraphrase": {"in": 700, "out": 650},
                        },
                    },
                ],
                "counts_out": {"paraphrase": 700, "non_paraphrase": 650},
            }
        ),
        encoding="utf-8",
    )
    (filtered / "agreement.json").write_text(
        json.dumps({"cohen_kappa": 0.61, "krippendorff_alpha": 0.58, "items": 120}),
        encoding="utf-8",
    )
    return filtered


def wanli_triple(
    record_id: str,
    premise: str,
    entailment: str,
    contradiction: str,
    *,
    label: str = "contradiction",
    neighbour_ids: tuple[str, ...] = (),
) -> dict[str, Any]:
    """A record of ``generation.mode: triples``: one premise, an entailed and a contradicting
    hypothesis (``hypothesis`` is null), its own seed."""
    return {
        "id": record_id,
        "seed_id": record_id,
        "label": label,
        "neighbour_ids": list(neighbour_ids),
        "premise": premise,
        "hypothesis": None,
        "entailment": entailment,
        "contradiction": contradiction,
    }


def wanli_records(shared_data: Path, limit: int | None = None) -> list[dict[str, Any]]:
    lines = (shared_data / "terra_train.jsonl").read_text(encoding="utf-8").splitlines()[:limit]
    out = []
    for line in lines:
        row = json.loads(line)
        out.append(
            {
                "id": f"terra-{row['idx']}",
                "premise": row["premise"],
                "hypothesis": row["hypothesis"],
                "label": row["label"],
                "seed_id": str(row["idx"]),
                "neighbour_ids": [],
                "max_variability": 0.1,
                "heuristic_flags": [],
            }
        )
    return out
