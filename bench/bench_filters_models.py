"""Benchmarks for the model-based filters (prints figures; not a test).

1. The bi-encoder stage against a bare ``SentenceTransformer.encode`` of the same distinct texts
   at the same batch size: ratio of throughputs (goal >= 0.9), and what distinct-once saves
   (texts encoded against 2 x pairs).
2. The cross-encoder stage (kind paraphrase) against a bare ``CrossEncoder.predict`` on the same
   pairs at the same batch size (goal >= 0.9).

Queries and candidates are real Russian Wikipedia sentences; each candidate serves two queries,
as generated candidates repeat across records. The model is the local all-MiniLM-L6-v2 (a new
head for the cross-encoder: speed does not depend on training). Each side runs ``--repeats``
times, alternating, and the best time counts (the box is shared).

    .venv/bin/python bench/bench_filters_models.py [--queries 100] [--per-query 10] [--ce-pairs 300]
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from itertools import islice
from typing import Any

import numpy as np

from _common import WIKI, int_options, minilm_path, ratio_line
from rudatagen.encoders import load_cross_encoder, load_sentence_transformer
from rudatagen.filters.biencoder import BiEncoderFilter
from rudatagen.filters.crossencoder import CrossEncoderFilter
from rudatagen.filters.settings import BiEncoderSettings, CrossEncoderSettings
from rudatagen.kinds import get_kind
from rudatagen.kinds.candidates import CandidateTable


def wiki_table(queries: int, per_query: int) -> CandidateTable:
    """``queries`` records of ``per_query`` candidates (half pos, half neg); each candidate is
    shared by two queries, so there are ``queries * per_query / 2`` distinct candidates."""
    with WIKI.open(encoding="utf-8") as handle:
        rows = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        sentences = [row["text"] for row in islice(rows, queries * (1 + per_query))]
    pool = sentences[queries:][: queries * per_query // 2]
    records = []
    for i, query in enumerate(sentences[:queries]):
        mine = [pool[(i * per_query // 2 + j) % len(pool)] for j in range(per_query)]
        half = per_query // 2
        records.append({"id": str(i), "query": query, "pos": mine[:half], "neg": mine[half:]})
    return get_kind("ruhnp").candidates(records)


def best_of(
    repeats: int, ours: Callable[[], Any], bare: Callable[[], Any]
) -> dict[str, tuple[float, float]]:
    """Best (wall, CPU) seconds of each side over ``repeats`` runs in alternating order.

    CPU time (all threads of this process) is less disturbed than wall time by other jobs on
    a shared box; both are reported.
    """
    ours(), bare()
    times: dict[str, list[tuple[float, float]]] = {"ours": [], "bare": []}
    sides = [("ours", ours), ("bare", bare)]
    for repeat in range(repeats):
        for side, run in sides if repeat % 2 == 0 else sides[::-1]:  # no order bias
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            times[side].append((time.perf_counter() - wall, time.process_time() - cpu))
    return {side: (min(t[0] for t in ts), min(t[1] for t in ts)) for side, ts in times.items()}


class Timed:
    """Delegates to a model and adds up the wall seconds spent in its ``method``."""

    def __init__(self, model: Any, method: str) -> None:
        self.model, self.method, self.seconds = model, method, 0.0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.model, name)
        if name != self.method:
            return attribute

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return attribute(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        return timed


def outside_model(name: str, stage: Callable[[], Any], timed: Timed) -> None:
    """The stage's own time (everything but the model call), measured within one run."""
    started = time.perf_counter()
    stage()
    total = time.perf_counter() - started
    own = total - timed.seconds
    print(f"{name}: {own * 1000:.1f} ms of {total:.2f} s outside the model ({own / total:.2%})")


def report(name: str, items: int, unit: str, best: dict[str, tuple[float, float]]) -> None:
    for clock, i in (("wall", 0), ("CPU", 1)):
        ours, bare = items / best["ours"][i], items / best["bare"][i]
        print(ratio_line(f"{name} ({clock} time)", ours, bare, 0.9, unit))


def bench_biencoder(model_path: str, table: CandidateTable, batch: int, repeats: int) -> None:
    model = load_sentence_transformer(model_path, "cpu")
    settings = BiEncoderSettings(enabled=True, model=model_path, batch_size=batch)
    rows = table.alive_rows()
    distinct = list(dict.fromkeys(table.anchor + table.text))

    def ours() -> Any:
        return BiEncoderFilter(settings, model=model).apply(table, rows)

    def bare() -> Any:
        return model.encode(distinct, batch_size=batch, normalize_embeddings=True)

    stage = BiEncoderFilter(settings, model=model)
    stage.apply(table, rows)
    print(
        f"bi-encoder: {len(table)} pairs, {stage.encoded_texts} texts encoded instead of "
        f"{2 * len(table)} (distinct-once saves {1 - stage.encoded_texts / (2 * len(table)):.0%})"
    )
    report("bi-encoder stage", len(distinct), "texts/s", best_of(repeats, ours, bare))
    timed = Timed(model, "encode")
    outside_model(
        "bi-encoder stage", lambda: BiEncoderFilter(settings, timed).apply(table, rows), timed
    )


def bench_cross_encoder(model_path: str, table: CandidateTable, batch: int, repeats: int) -> None:
    model = load_cross_encoder(model_path, "cpu", None, num_labels=1)
    settings = CrossEncoderSettings(
        enabled=True, model=model_path, kind="paraphrase", batch_size=batch
    )
    rows = table.alive_rows()
    pairs = [(table.anchor[r], table.text[r]) for r in rows.tolist()]

    def ours() -> Any:
        return CrossEncoderFilter(settings, model=model).apply(table, rows)

    def bare() -> Any:
        return model.predict(pairs, batch_size=batch, show_progress_bar=False)

    n = len(pairs)
    report("cross-encoder stage", n, "pairs/s", best_of(repeats, ours, bare))
    timed = Timed(model, "predict")
    outside_model(
        "cross-encoder stage", lambda: CrossEncoderFilter(settings, timed).apply(table, rows), timed
    )
    same = np.allclose(ours().scores["cross_encoder_paraphrase_prob"], bare(), atol=1e-5)
    print(f"cross-encoder: {n} pairs, scores equal to bare predict: {same}")


def main() -> None:
    args = int_options(__doc__, queries=100, per_query=10, ce_pairs=300, batch_size=64, repeats=5)
    model_path = minilm_path()
    table = wiki_table(args.queries, args.per_query)
    bench_biencoder(model_path, table, args.batch_size, args.repeats)
    ce_queries = max(1, args.ce_pairs // args.per_query)
    bench_cross_encoder(
        model_path, wiki_table(ce_queries, args.per_query), args.batch_size // 2, args.repeats
    )


if __name__ == "__main__":
    main()
