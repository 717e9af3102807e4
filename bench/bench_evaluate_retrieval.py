"""Benchmark of ``evaluate`` on a retrieval set against a bare ``InformationRetrievalEvaluator``.

A retrieval split built from real Russian Wikipedia sentences (``ru_wiki_sentences.tsv``):
passages of two consecutive sentences of one source; each of the first ``--passages`` passages
gets two queries (the first eight words of its first sentence, and its second sentence), and
the other passages of ``--corpus`` are spread over the rows as their mined negatives, so the
corpus is every passage (what :meth:`Retrieval.retrieval_set` makes of a mined split). The
local all-MiniLM-L6-v2 on CPU, loaded once for both sides, ``--max-seq-length`` tokens.

- rudatagen: :func:`score_retrieval` (the evaluator subclass that keeps the hits, then each
  query's values) and :func:`retrieval_report` (the percentile bootstrap intervals of every
  metric, ``--resamples``), i.e. what ``evaluate_retrieval`` does;
- bare: sentence-transformers' ``InformationRetrievalEvaluator`` itself with the same metrics
  and k (the library's ``EVALUATOR_CUTOFFS``), cosine, the same batch size, called on the model.

Encoding time is the time spent in the model's ``encode_query`` / ``encode_document`` (the
evaluator's two entry points, timed on the model instance); scoring is the rest of the
evaluator's call (the top-k search and the metrics; rudatagen's also computes the per-query
values); bootstrap is the intervals. Sides alternate ``--repeats`` times; the best total of
each counts (the box is shared).

Then rudatagen's own additions at ``--statistics-queries`` (10k) without a model, on synthetic
ranked hits (100 per query, the relevant document at a random rank, or missing): the per-query
values, the intervals of one model, and the paired comparison of two.

    .venv/bin/python bench/bench_evaluate_retrieval.py [--passages 100] [--corpus 300]
        [--repeats 2] [--resamples 1000] [--max-seq-length 128] [--batch-size 64]
        [--statistics-queries 10000]
"""

from __future__ import annotations

import csv
import os
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

from _common import WIKI, int_options, minilm_path, ratio_line
from rudatagen.evaluation.encode import Encoder
from rudatagen.evaluation.retrieval import (
    EVALUATOR_CUTOFFS,
    RetrievalScores,
    paired_retrieval_differences,
    per_query_metrics,
    retrieval_report,
    score_retrieval,
)
from rudatagen.evaluation.settings import BootstrapSettings
from rudatagen.kinds import get_kind
from rudatagen.kinds.shapes import RetrievalSet

QUERY_WORDS = 8


def wiki_passages(count: int) -> list[list[str]]:
    """``count`` passages of two consecutive sentences of one source, in file order."""
    by_source: dict[str, list[str]] = defaultdict(list)
    with WIKI.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            by_source[row["source"]].append(row["text"])
    passages = [
        sentences[start : start + 2]
        for sentences in by_source.values()
        for start in range(0, len(sentences) - 1, 2)
    ]
    if len(passages) < count:
        raise SystemExit(f"{WIKI} has {len(passages)} two-sentence passages, not {count}")
    return passages[:count]


def build_set(passages: int, corpus: int) -> RetrievalSet:
    """The retrieval split: two queries per passage, the rest of the corpus as negatives."""
    texts = wiki_passages(corpus)
    extra = [" ".join(p) for p in texts[passages:]]
    rows: list[dict[str, Any]] = []
    for index, (first, second) in enumerate(texts[:passages]):
        queries = {"keyword": " ".join(first.split()[:QUERY_WORDS]), "question": second}
        for query_type, query in queries.items():
            negatives = [extra[(len(rows) + k) % len(extra)] for k in range(3)] if extra else []
            rows.append(
                {
                    "query": query,
                    "positive": f"{first} {second}",
                    "negatives": negatives,
                    "query_type": query_type,
                    "passage_id": f"p{index}",
                }
            )
    rset = get_kind("retrieval").retrieval_set(rows, "wiki", str(WIKI))
    assert rset is not None
    return rset


class EncodeClock:
    """Seconds spent in the model's ``encode_query`` / ``encode_document`` (wrapped on the
    instance: the evaluator calls them by name)."""

    def __init__(self, model: Any) -> None:
        self.seconds = 0.0
        for name in ("encode_query", "encode_document"):
            setattr(model, name, self._timed(getattr(model, name)))

    def _timed(self, encode: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return encode(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        return timed


def statistics_only(queries: int, bootstrap: BootstrapSettings) -> None:
    """Time rudatagen's additions to the evaluator on ``queries`` synthetic queries."""
    rng = np.random.default_rng(0)
    ids = [f"q{i}" for i in range(queries)]
    relevant = {qid: {"d0"} for qid in ids}

    def hits() -> list[list[dict[str, Any]]]:
        out = []
        for _ in ids:
            scores = np.sort(rng.random(100))[::-1]
            names = [f"d{j}" for j in rng.choice(np.arange(1, 5000), 100, replace=False)]
            rank = rng.integers(0, 150)  # a third of the queries miss their document
            if rank < 100:
                names[rank] = "d0"
            hits = zip(names, scores, strict=True)
            out.append([{"corpus_id": c, "score": float(x)} for c, x in hits])
        return out

    first, second = hits(), hits()
    started = time.perf_counter()
    values = per_query_metrics(first, ids, relevant)
    valued = time.perf_counter()
    scores = RetrievalScores({}, ids, values)
    rset = RetrievalSet("synthetic", "retrieval")
    report = retrieval_report(rset, scores, bootstrap)
    reported = time.perf_counter()
    other = RetrievalScores({}, ids, per_query_metrics(second, ids, relevant))
    paired_started = time.perf_counter()
    row = paired_retrieval_differences(scores, other, bootstrap)["ndcg@10"]
    paired = time.perf_counter() - paired_started
    interval = report["intervals"]["ndcg@10"]
    print(
        f"statistics alone, {queries} queries × 100 hits, {bootstrap.n_resamples} resamples: "
        f"per-query values {valued - started:.2f} s, intervals of 5 metrics "
        f"{reported - valued:.2f} s (nDCG@10 [{interval['low']:.4f}, {interval['high']:.4f}]), "
        f"paired B − A {paired:.2f} s (nDCG@10 {row['difference']:+.4f} "
        f"[{row['low']:+.4f}, {row['high']:+.4f}])"
    )


def main() -> None:
    options = int_options(
        __doc__ or "",
        passages=100,
        corpus=300,
        repeats=2,
        resamples=1000,
        max_seq_length=128,
        batch_size=64,
        statistics_queries=10_000,
    )
    from sentence_transformers import util
    from sentence_transformers.sentence_transformer.evaluation import (
        InformationRetrievalEvaluator,
    )

    rset = build_set(options.passages, options.corpus)
    encoder = Encoder.load(
        minilm_path(),
        device="cpu",
        batch_size=options.batch_size,
        max_seq_length=options.max_seq_length,
    )
    clock = EncodeClock(encoder.model)
    encoder.model.encode_document(["прогрев"])  # the first call's one-off costs, on neither side
    import scipy.stats  # noqa: F401  (imported before the clock starts: not the bootstrap's cost)

    bootstrap = BootstrapSettings(n_resamples=options.resamples)

    def ours() -> dict[str, float]:
        clock.seconds = 0.0
        started = time.perf_counter()
        scores = score_retrieval(encoder, rset)
        scored = time.perf_counter()
        report = retrieval_report(rset, scores, bootstrap)
        ended = time.perf_counter()
        assert "intervals" in report
        return {
            "encode": clock.seconds,
            "scoring": scored - started - clock.seconds,
            "bootstrap": ended - scored,
            "total": ended - started,
            "ndcg@10": report["ndcg@10"],
        }

    def bare() -> dict[str, float]:
        clock.seconds = 0.0
        started = time.perf_counter()
        evaluator = InformationRetrievalEvaluator(
            rset.queries,
            rset.corpus,
            rset.relevant,
            **EVALUATOR_CUTOFFS,
            batch_size=options.batch_size,
            name="wiki",
            write_csv=False,
            score_functions={"cosine": util.cos_sim},
        )
        scores = evaluator(encoder.model)
        ended = time.perf_counter()
        return {
            "encode": clock.seconds,
            "scoring": ended - started - clock.seconds,
            "bootstrap": 0.0,
            "total": ended - started,
            "ndcg@10": scores["wiki_cosine_ndcg@10"],
        }

    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    n_queries, n_corpus = len(rset.queries), len(rset.corpus)
    print(
        f"{os.cpu_count()} CPUs, load average {load}; {n_queries} queries, {n_corpus} corpus "
        f"passages, MiniLM max_seq_length {options.max_seq_length}, {options.resamples} "
        f"resamples",
        flush=True,
    )
    runs: dict[str, list[dict[str, float]]] = {"rudatagen": [], "bare": []}
    sides = [("rudatagen", ours), ("bare", bare)]
    for repeat in range(options.repeats):
        for name, side in sides if repeat % 2 == 0 else reversed(sides):
            figures = side()
            runs[name].append(figures)
            print(
                f"pass {repeat + 1} {name:>9}: encode {figures['encode']:.2f} s, scoring "
                f"{figures['scoring']:.3f} s, bootstrap {figures['bootstrap']:.3f} s, total "
                f"{figures['total']:.2f} s (nDCG@10 {figures['ndcg@10']:.4f})",
                flush=True,
            )
    best = {name: min(values, key=lambda f: f["total"]) for name, values in runs.items()}
    per_10k = 10_000 / n_queries
    for name, figures in best.items():
        print(
            f"{name:>9} best: {figures['total']:.2f} s = {figures['total'] * per_10k:.0f} s per "
            f"10k queries (encode {figures['encode'] * per_10k:.0f}, scoring "
            f"{figures['scoring'] * per_10k:.1f}, bootstrap {figures['bootstrap'] * per_10k:.1f})"
        )
    ours_rate, bare_rate = (n_queries / best[name]["total"] for name in ("rudatagen", "bare"))
    print(ratio_line("queries evaluated/s", ours_rate, bare_rate, 0.9, "/s"))
    same = best["rudatagen"]["ndcg@10"] == best["bare"]["ndcg@10"]
    print(f"same nDCG@10 on both sides: {same}")
    statistics_only(options.statistics_queries, bootstrap)


if __name__ == "__main__":
    main()
