"""Labelled pair sets to evaluate on: a published split (RuHNP or WANLI), a table in
sentence-transformers' column conventions (``training.st_format``), or an external file.

Every set is pairs ``(text_1, text_2)`` with a role for each side (which prefix it gets), and
labels (1 positive, 0 negative) and/or gold scores; RuHNP and WANLI sets also give triplets.
For ``evaluate``, a split of a kind with a retrieval task (``retrieval``) is read as that task
instead (:func:`evaluation_set`; scored by :mod:`rudatagen.evaluation.retrieval`).

External files: ``PATH[:key=value,...]`` with keys ``text1``, ``text2``, ``label`` or ``score``,
``positive`` / ``negative`` (label values, ``|``-separated), ``pos_min`` / ``neg_max`` (score
thresholds), ``name``, ``limit``. Without keys the columns are guessed: ``sentence1``/``text_1``/
``premise``, ``sentence2``/``text_2``/``hypothesis``, ``similarity_score``/``score``, ``label``/
``class``. Scored pairs are positive at ``score >= pos_min`` (default 4.0) and negative at
``score <= neg_max`` (default 2.0, the RuSTS-B 0–5 scale); the middle is left out of pair
classification but kept for the Spearman correlation. The file is read by ``core.tables`` (any
of its formats; CSV/TSV cells are strings, so scores are parsed here).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rudatagen.core.tables import read_table
from rudatagen.errors import RudatagenError
from rudatagen.kinds.shapes import PairSet, RetrievalSet
from rudatagen.training.data import Source, kind_of_dataset, read_split

GUESSES = {
    "text1": ("sentence1", "text_1", "premise", "text1"),
    "text2": ("sentence2", "text_2", "hypothesis", "text2"),
    "score": ("similarity_score", "score"),
    "label": ("label", "class", "gold"),
}
KEYS = {
    "text1",
    "text2",
    "label",
    "score",
    "positive",
    "negative",
    "pos_min",
    "neg_max",
    "name",
    "limit",
}


def from_published(path: str, split: str = "test", name: str | None = None) -> PairSet:
    """Pairs and triplets of a published split (or a run directory / Parquet file)."""
    rows = read_split(path, split)
    name = name or f"{Path(path).name}:{split}"
    return _pairs(kind_of_dataset(path, rows), rows, name, path, split)


def evaluation_set(path: str, split: str = "test") -> PairSet | RetrievalSet:
    """What ``evaluate`` measures on a split: its retrieval task for a kind that has one
    (queries against a corpus), else its labelled pairs (:func:`from_published`)."""
    rows = read_split(path, split)
    kind, name = kind_of_dataset(path, rows), f"{Path(path).name}:{split}"
    retrieval = kind.retrieval_set(rows, name, path)
    return retrieval if retrieval is not None else _pairs(kind, rows, name, path, split)


def _pairs(kind: Source, rows: list[dict[str, Any]], name: str, path: str, split: str) -> PairSet:
    out = kind.evaluation_pairs(rows, name, path)
    if not out.text1:
        raise RudatagenError(f"{path} ({split}): no pairs to evaluate")
    return out


def parse_extra(spec: str) -> tuple[Path, dict[str, str]]:
    """``PATH`` or ``PATH:key=value,key=value``."""
    path, options = spec, {}
    head, sep, tail = spec.rpartition(":")
    if sep and "=" in tail and head:
        path = head
        for item in tail.split(","):
            key, eq, value = item.partition("=")
            if not eq or key.strip() not in KEYS:
                raise RudatagenError(
                    f"--extra {spec!r}: bad option {item!r} (keys: {', '.join(sorted(KEYS))})"
                )
            options[key.strip()] = value.strip()
    return Path(path), options


def _pick(path: Path, columns: list[str], options: dict[str, str], key: str) -> str | None:
    """The column given for ``key`` in ``options`` (it must exist), else the first guess."""
    if key in options:
        if options[key] not in columns:
            shown = ", ".join(repr(name) for name in columns)
            raise RudatagenError(f"{path} has no column {options[key]!r}; its columns: {shown}")
        return options[key]
    return next((c for c in GUESSES[key] if c in columns), None)


def _number(path: Path, column: str, value: object) -> float:
    """A score cell as a float (CSV/TSV cells are strings)."""
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        raise RudatagenError(
            f"{path}: score {value!r} in column '{column}' is not a number"
        ) from None


def from_file(spec: str) -> PairSet:
    """An external labelled pair file (see the module docstring for the mapping)."""
    path, options = parse_extra(spec)
    table = read_table(path)
    columns = table.column_names
    text1, text2 = _pick(path, columns, options, "text1"), _pick(path, columns, options, "text2")
    score = _pick(path, columns, options, "score") if "label" not in options else None
    label = None if score else _pick(path, columns, options, "label")
    if not text1 or not text2 or not (score or label):
        raise RudatagenError(
            f"{path}: cannot find the text/label columns in {', '.join(columns)}; "
            "give them: --extra 'PATH:text1=...,text2=...,label=...' (or score=...)"
        )
    wanted = [text1, text2, score or label]
    rows = table.select([c for c in wanted if c]).to_pylist()
    if "limit" in options:
        rows = rows[: int(options["limit"])]
    out = PairSet(options.get("name", path.stem), "pairs", str(path))
    skipped = 0
    if score:
        pos_min, neg_max = float(options.get("pos_min", 4.0)), float(options.get("neg_max", 2.0))
        for row in rows:
            value = row[score]
            if value in (None, "") or not row[text1] or not row[text2]:
                skipped += 1
                continue
            value = _number(path, score, value)
            flag = 1 if value >= pos_min else 0 if value <= neg_max else None
            out.add(str(row[text1]), str(row[text2]), flag, value)
    else:
        positive = options.get("positive", "1|entailment|True|true").split("|")
        negative = options.get("negative", "0|-1|contradiction|not_entailment|False|false").split(
            "|"
        )
        unknown: set[str] = set()
        for row in rows:
            value = str(row[label])
            if not row[text1] or not row[text2]:
                skipped += 1
            elif value in positive:
                out.add(str(row[text1]), str(row[text2]), 1)
            elif value in negative:
                out.add(str(row[text1]), str(row[text2]), 0)
            else:
                unknown.add(value)
                skipped += 1
        if unknown and not out.text1:
            raise RudatagenError(
                f"{path}: labels {sorted(unknown)} are outside the mapping "
                f"(positive {positive}, negative {negative})"
            )
        if unknown:
            out.skipped[f"label not in the mapping ({', '.join(sorted(unknown))})"] = skipped
            skipped = 0
    if skipped:
        out.skipped["empty text or value"] = skipped
    if not out.text1:
        raise RudatagenError(f"{path}: no pairs to evaluate")
    return out


def as_dict_counts(pairs: PairSet) -> dict[str, Any]:
    return {
        "kind": pairs.kind,
        "pairs": len(pairs.text1),
        "positives": pairs.positives,
        "negatives": pairs.negatives,
        "triplets": len(pairs.triplets),
        "skipped": pairs.skipped,
    }
