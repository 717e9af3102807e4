"""Training rows from published data: RuHNP → triplets, WANLI → triplets and labelled pairs.

RuHNP row (``query``, ``pos`` list, ``neg`` list) → up to ``combinations_per_query`` rows
``(anchor, positive, negative)``, taken from the |pos| × |neg| grid so that every positive and
every negative is used before any is repeated (diagonal order: (p0,n0), (p1,n1), …, then shifted).
Rows lacking either side are skipped and counted.

WANLI rows (``premise``, ``hypothesis``, ``label``) are grouped by premise. A premise with both
an entailed and a contradicted hypothesis gives ``(anchor=premise, positive=entailment,
negative=contradiction)`` triplets the same way; every hypothesis not used in a triplet becomes a
labelled pair ``(sentence1=premise, sentence2=hypothesis, score)`` with ``label_scores``
(default entailment 1.0, neutral 0.5, contradiction / not_entailment 0.0) for CoSENT/AnglE.
A run directory in triples mode (``entailment``/``contradiction`` columns) gives triplets directly.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from rudatagen.errors import RudatagenError

RUHNP_COLUMNS = ("query", "pos", "neg")
WANLI_COLUMNS = ("premise", "hypothesis", "label")


def _read_parquets(files: list[Path]) -> pa.Table:
    try:
        tables = [pq.read_table(f) for f in files]
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, OSError) as exc:
        raise RudatagenError(f"unreadable Parquet under {files[0].parent}: {exc}") from None


def read_split(path: str, split: str) -> list[dict[str, Any]]:
    """Rows of ``split`` from a published folder, a run directory, a Parquet file or a Hub id.

    A published folder has ``data/{split}-*.parquet``; a run directory (``data/*.parquet`` with
    no split names) and a single Parquet file are read whole, whatever ``split`` says.
    """
    local = Path(path).expanduser()
    if local.is_file():
        if local.suffix != ".parquet":
            raise RudatagenError(f"{path}: expected a .parquet file or a dataset folder")
        return _read_parquets([local]).to_pylist()
    if local.is_dir():
        data = local / "data"
        split_files = sorted(data.glob(f"{split}-*.parquet"))
        if split_files:
            return _read_parquets(split_files).to_pylist()
        any_split = sorted(p.name.split("-")[0] for p in data.glob("*-of-*.parquet"))
        if any_split:
            raise RudatagenError(
                f"{path} has no split '{split}' (has {', '.join(sorted(set(any_split)))})"
            )
        files = sorted(data.glob("*.parquet"))
        if not files:
            raise RudatagenError(f"{path}: no data/*.parquet")
        return _read_parquets(files).to_pylist()
    if path.startswith((".", "/", "~")) or path.count("/") != 1:
        raise RudatagenError(f"dataset {path} not found (no such file or folder)")
    return _read_hub(path, split)


def _read_hub(repo_id: str, split: str) -> list[dict[str, Any]]:
    try:
        from datasets import load_dataset

        return load_dataset(repo_id, split=split).to_list()
    except Exception as exc:  # noqa: BLE001 - any Hub/network failure becomes one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RudatagenError(f"cannot load Hub dataset {repo_id} ({split}): {first}") from None


def detect_kind(rows: list[dict[str, Any]], source: str) -> str:
    if not rows:
        raise RudatagenError(f"{source}: the split is empty")
    columns = set(rows[0])
    if set(RUHNP_COLUMNS) <= columns:
        return "ruhnp"
    if set(WANLI_COLUMNS) <= columns or {"premise", "entailment", "contradiction"} <= columns:
        return "wanli"
    raise RudatagenError(
        f"{source}: cannot tell RuHNP (query, pos, neg) from WANLI (premise, hypothesis, label) "
        f"by its columns: {', '.join(sorted(columns))}"
    )


def grid_pairs(n_pos: int, n_neg: int, limit: int) -> list[tuple[int, int]]:
    """Up to ``limit`` (i, j) index pairs of the n_pos × n_neg grid, diagonals first."""
    out: list[tuple[int, int]] = []
    for shift in range(n_neg):
        for i in range(n_pos):
            out.append((i, (i + shift) % n_neg))
            if len(out) == limit:
                return out
    return out


@dataclass
class TrainingRows:
    """What one source gives: triplets, labelled pairs, and what was skipped and why."""

    triplets: dict[str, list[str]] = field(
        default_factory=lambda: {"anchor": [], "positive": [], "negative": []}
    )
    pairs: dict[str, list[Any]] = field(
        default_factory=lambda: {"sentence1": [], "sentence2": [], "score": []}
    )
    skipped: Counter[str] = field(default_factory=Counter)

    def add_triplets(self, anchor: str, pos: list[str], neg: list[str], limit: int) -> list[int]:
        used = grid_pairs(len(pos), len(neg), limit)
        for i, j in used:
            self.triplets["anchor"].append(anchor)
            self.triplets["positive"].append(pos[i])
            self.triplets["negative"].append(neg[j])
        return [i for i, _ in used]


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value.strip() else []
    return [str(v) for v in value if v and str(v).strip()]


def ruhnp_rows(rows: list[dict[str, Any]], combinations: int) -> TrainingRows:
    out = TrainingRows()
    for row in rows:
        pos, neg = _strings(row.get("pos")), _strings(row.get("neg"))
        if not row.get("query") or not pos or not neg:
            out.skipped["ruhnp row without a query, a positive or a negative"] += 1
            continue
        out.add_triplets(str(row["query"]), pos, neg, combinations)
    return out


def wanli_rows(
    rows: list[dict[str, Any]], combinations: int, label_scores: dict[str, float]
) -> TrainingRows:
    out = TrainingRows()
    if rows and {"entailment", "contradiction"} <= set(rows[0]) and "hypothesis" not in rows[0]:
        for row in rows:
            pos, neg = _strings(row.get("entailment")), _strings(row.get("contradiction"))
            if row.get("premise") and pos and neg:
                out.add_triplets(str(row["premise"]), pos, neg, combinations)
            else:
                out.skipped["triples row without premise, entailment or contradiction"] += 1
        return out
    by_premise: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for row in rows:
        label = str(row.get("label", "")).strip().lower()
        if label not in label_scores:
            raise RudatagenError(
                f"label {row.get('label')!r} is not in label_scores ({', '.join(label_scores)})"
            )
        if not row.get("premise") or not row.get("hypothesis"):
            out.skipped["row without premise or hypothesis"] += 1
            continue
        by_premise[str(row["premise"])].append((str(row["hypothesis"]), label))
    for premise, items in by_premise.items():
        entailed = [h for h, label in items if label == "entailment"]
        contradicted = [h for h, label in items if label == "contradiction"]
        used_pos: set[int] = set()
        used_neg: set[int] = set()
        if entailed and contradicted:
            for i, j in grid_pairs(len(entailed), len(contradicted), combinations):
                out.triplets["anchor"].append(premise)
                out.triplets["positive"].append(entailed[i])
                out.triplets["negative"].append(contradicted[j])
                used_pos.add(i)
                used_neg.add(j)
        used = {entailed[i] for i in used_pos} | {contradicted[j] for j in used_neg}
        for hypothesis, label in items:
            if hypothesis in used:
                continue
            out.pairs["sentence1"].append(premise)
            out.pairs["sentence2"].append(hypothesis)
            out.pairs["score"].append(float(label_scores[label]))
    return out
