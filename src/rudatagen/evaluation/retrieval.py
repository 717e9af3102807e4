"""Retrieval evaluation: nDCG@10, MRR@10, Recall@10/@100 and MAP@100 of a model on a
:class:`~rudatagen.kinds.shapes.RetrievalSet`, with bootstrap intervals.

The metrics are sentence-transformers' ``InformationRetrievalEvaluator``'s (cosine similarity;
queries with the ``query`` prefix, the corpus with the ``document`` prefix). A retrieval split
is its queries against every passage and mined negative of the split
(:meth:`rudatagen.kinds.retrieval.Retrieval.retrieval_set`); a BEIR-style folder
(``corpus.jsonl``, ``queries.jsonl``, ``qrels/test.tsv``) is read by :func:`from_beir`.

The evaluator returns means only; the intervals need each query's value, so a subclass keeps the
ranked hits it computed and :func:`per_query_metrics` scores each query with the same formulas
(its means equal the evaluator's: the tests check it). The interval is the percentile bootstrap
of the mean over queries resampled with replacement (``evaluate.bootstrap``: resamples, level,
seed), with ``scipy.stats.bootstrap``.

Two models on the same set (:func:`paired_retrieval_differences`): the difference of each metric
with its paired interval. Every metric is a mean over queries, so the mean of the per-query
differences *is* the difference of the means, and resampling those differences draws the same
queries for both models in every resample: what the models share (easy and hard queries) cancels
out of the interval.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rudatagen.errors import RudatagenError
from rudatagen.evaluation.encode import Encoder
from rudatagen.evaluation.intervals import METHOD
from rudatagen.evaluation.settings import BootstrapSettings
from rudatagen.kinds.shapes import RetrievalSet

# metric name -> (the evaluator's key, k)
METRICS = {
    "ndcg@10": ("cosine_ndcg@10", 10),
    "mrr@10": ("cosine_mrr@10", 10),
    "recall@10": ("cosine_recall@10", 10),
    "recall@100": ("cosine_recall@100", 100),
    "map@100": ("cosine_map@100", 100),
}
# the evaluator's cut-offs for METRICS (it computes accuracy@1/@10 and precision too); the
# benchmark's bare evaluator takes the same ones
EVALUATOR_CUTOFFS: dict[str, list[int]] = {
    "mrr_at_k": [10],
    "ndcg_at_k": [10],
    "accuracy_at_k": [1, 10],
    "precision_recall_at_k": [10, 100],
    "map_at_k": [100],
}
# how a statement names each metric
METRIC_LABELS = {
    "ndcg@10": "nDCG@10",
    "mrr@10": "MRR@10",
    "recall@10": "Recall@10",
    "recall@100": "Recall@100",
    "map@100": "MAP@100",
}
COLUMNS = ("queries", "corpus", *METRICS)
BEIR_FILES = ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv")


def is_beir_folder(path: Path) -> bool:
    """A folder that looks like a BEIR dataset (it has ``corpus.jsonl``)."""
    return path.is_dir() and (path / "corpus.jsonl").is_file()


def _jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise RudatagenError(f"{path}:{number}: not JSON ({exc.msg})") from None
            if "_id" not in rows[-1]:
                raise RudatagenError(f"{path}:{number}: a BEIR record needs an '_id'")
    return rows


def from_beir(folder: Path, name: str | None = None) -> RetrievalSet:
    """A BEIR-style folder: ``corpus.jsonl`` (``_id``, ``title``, ``text``), ``queries.jsonl``
    (``_id``, ``text``) and ``qrels/test.tsv`` (``query-id``, ``corpus-id``, ``score``; a
    header row; score > 0 is relevant). Queries without a relevant document are left out."""
    missing = [f for f in BEIR_FILES if not (folder / f).is_file()]
    if missing:
        raise RudatagenError(
            f"{folder} is not a BEIR-style folder: no {', '.join(missing)} "
            f"(needs {', '.join(BEIR_FILES)})"
        )
    out = RetrievalSet(name or folder.name, "beir", str(folder))
    for row in _jsonl(folder / "corpus.jsonl"):
        title, text = str(row.get("title") or ""), str(row.get("text") or "")
        out.corpus[str(row["_id"])] = f"{title}. {text}" if title else text
    queries = {
        str(row["_id"]): str(row.get("text") or "") for row in _jsonl(folder / "queries.jsonl")
    }
    with (folder / "qrels" / "test.tsv").open(encoding="utf-8", newline="") as handle:
        for number, cells in enumerate(csv.reader(handle, delimiter="\t"), 1):
            if not cells or (number == 1 and cells[0] == "query-id"):
                continue
            if len(cells) < 2:
                raise RudatagenError(
                    f"{folder}/qrels/test.tsv:{number}: expected query-id, corpus-id"
                )
            qid, cid = cells[0], cells[1]
            score = float(cells[2]) if len(cells) > 2 and cells[2] else 1.0
            if score > 0 and qid in queries and cid in out.corpus:
                out.relevant.setdefault(qid, set()).add(cid)
    out.queries = {qid: text for qid, text in queries.items() if qid in out.relevant}
    if len(out.queries) < len(queries):
        out.skipped["query without a relevant document in qrels/test.tsv"] = len(queries) - len(
            out.queries
        )
    if not out.queries:
        raise RudatagenError(f"{folder}: no query has a relevant document in the corpus")
    return out


def retrieval_evaluator(rset: RetrievalSet, encoder: Encoder, progress: bool) -> Any:
    """sentence-transformers' ``InformationRetrievalEvaluator`` on ``rset`` with the encoder's
    prefixes; after a call, ``hits`` holds each query's ranked hits (``queries_ids`` order)."""
    from sentence_transformers import util
    from sentence_transformers.sentence_transformer.evaluation import (
        InformationRetrievalEvaluator,
    )

    class KeepingHits(InformationRetrievalEvaluator):
        """The evaluator, keeping each query's ranked hits for the per-query intervals."""

        hits: list[list[dict[str, Any]]]

        def compute_metrics(self, queries_result_list: list[object]) -> dict[str, Any]:
            self.hits = queries_result_list  # type: ignore[assignment]
            return super().compute_metrics(queries_result_list)

    return KeepingHits(
        rset.queries,
        rset.corpus,
        rset.relevant,
        **EVALUATOR_CUTOFFS,
        show_progress_bar=progress,
        batch_size=encoder.batch_size,
        name=rset.name,
        write_csv=False,
        score_functions={"cosine": util.cos_sim},
        query_prompt=encoder.prefixes.get("query", ""),
        corpus_prompt=encoder.prefixes.get("document", ""),
    )


def per_query_metrics(
    hits: list[list[dict[str, Any]]], query_ids: list[str], relevant: dict[str, set[str]]
) -> np.ndarray:
    """Each query's value of every metric in :data:`METRICS` (rows: queries), with the
    evaluator's formulas (binary relevance; ties broken by corpus id, as it does)."""
    discount = 1 / np.log2(np.arange(2, 12))  # ranks 1..10
    out = np.zeros((len(query_ids), len(METRICS)))
    for row, (qid, query_hits) in enumerate(zip(query_ids, hits, strict=True)):
        ranked = sorted(query_hits, key=lambda hit: (-hit["score"], hit["corpus_id"]))[:100]
        gold = relevant[qid]
        found = np.array([hit["corpus_id"] in gold for hit in ranked], dtype=bool)
        positions = np.flatnonzero(found)  # 0-based ranks of the relevant hits
        top10 = positions[positions < 10]
        precisions = np.arange(1, positions.size + 1) / (positions + 1)
        out[row] = (
            discount[top10].sum() / discount[: min(len(gold), 10)].sum(),
            1 / (top10[0] + 1) if top10.size else 0.0,
            top10.size / len(gold),
            positions.size / len(gold),
            precisions.sum() / min(100, len(gold)),
        )
    return out


def _intervals(values: np.ndarray, bootstrap: BootstrapSettings) -> dict[str, Any]:
    """The percentile interval of each metric's mean over queries resampled with replacement
    (scipy's bootstrap of the mean, vectorised; about 10⁶ resampled values a batch)."""
    from scipy.stats import bootstrap as scipy_bootstrap

    if bootstrap.n_resamples <= 0 or len(values) < 2:
        return {}
    result = scipy_bootstrap(
        (values.T,),
        np.mean,
        axis=-1,
        vectorized=True,
        n_resamples=bootstrap.n_resamples,
        batch=max(1, min(bootstrap.n_resamples, 1_000_000 // values.size)),
        confidence_level=bootstrap.confidence_level,
        method=METHOD,
        rng=np.random.default_rng(bootstrap.seed),
    )
    low, high = result.confidence_interval
    return {
        name: {"low": float(lo), "high": float(hi)}
        for name, lo, hi in zip(METRICS, np.atleast_1d(low), np.atleast_1d(high), strict=True)
        if np.isfinite([lo, hi]).all()
    }


@dataclass
class RetrievalScores:
    """One model's run on one set: the evaluator's means (by :data:`METRICS` name) and each
    query's values (rows: ``query_ids``, columns: :data:`METRICS`), kept for the intervals and
    for a paired comparison with another model on the same queries."""

    means: dict[str, float]
    query_ids: list[str]
    values: np.ndarray


def score_retrieval(
    encoder: Encoder, rset: RetrievalSet, progress: bool = False
) -> RetrievalScores:
    """Encode and search (the evaluator), then each query's metric values."""
    evaluator = retrieval_evaluator(rset, encoder, progress)
    scores = evaluator(encoder.model)
    prefix = f"{rset.name}_" if rset.name else ""
    return RetrievalScores(
        means={name: float(scores[prefix + key]) for name, (key, _) in METRICS.items()},
        query_ids=list(evaluator.queries_ids),
        values=per_query_metrics(evaluator.hits, evaluator.queries_ids, rset.relevant),
    )


def retrieval_report(
    rset: RetrievalSet, scores: RetrievalScores, bootstrap: BootstrapSettings
) -> dict[str, Any]:
    """The metrics of one set (the evaluator's), their intervals and the set's sizes."""
    result: dict[str, Any] = {
        "kind": rset.kind,
        "task": "retrieval",
        "queries": len(scores.query_ids),
        "corpus": len(rset.corpus),
        "skipped": rset.skipped,
        **scores.means,
    }
    intervals = _intervals(scores.values, bootstrap)
    if intervals:
        result["intervals"] = intervals
    return result


def evaluate_retrieval(
    encoder: Encoder, rset: RetrievalSet, bootstrap: BootstrapSettings, progress: bool = False
) -> dict[str, Any]:
    """:func:`retrieval_report` of :func:`score_retrieval`."""
    return retrieval_report(rset, score_retrieval(encoder, rset, progress), bootstrap)


def paired_retrieval_differences(
    baseline: RetrievalScores, model: RetrievalScores, bootstrap: BootstrapSettings
) -> dict[str, dict[str, Any]]:
    """``model − baseline`` of every metric on the same queries, with its paired interval
    (``low``/``high`` None when resampling is off) and the number of queries ``n``: the shape
    of :func:`rudatagen.evaluation.intervals.paired_differences`' rows."""
    if baseline.query_ids != model.query_ids:
        raise ValueError("a paired comparison needs the same queries in the same order")
    differences = model.values - baseline.values
    intervals = _intervals(differences, bootstrap)
    rows: dict[str, dict[str, Any]] = {}
    for column, name in enumerate(METRICS):
        bounds = intervals.get(name) or {"low": None, "high": None}
        point = float(differences[:, column].mean()) if len(differences) else 0.0
        rows[name] = {"difference": point, **bounds, "n": len(differences)}
    return rows


def markdown_rows(results: dict[str, dict[str, Any]]) -> list[str]:
    """The retrieval table of a report (empty when no set is a retrieval set)."""
    rows = {name: r for name, r in results.items() if r.get("task") == "retrieval"}
    if not rows:
        return []
    lines = ["| dataset | " + " | ".join(COLUMNS) + " |", "|---|" + "---|" * len(COLUMNS)]
    for name, metrics in rows.items():
        intervals = metrics.get("intervals", {})
        cells = []
        for column in COLUMNS:
            value, bounds = metrics.get(column), intervals.get(column)
            if isinstance(value, float):
                text = f"{value:.4f}"
                cells.append(
                    f"{text} [{bounds['low']:.4f}, {bounds['high']:.4f}]" if bounds else text
                )
            else:
                cells.append(str(value))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines
