"""Benchmark of ``rudatagen mine`` against a bare ``mine_hard_negatives`` call (prints figures).

The same retrieval rows (a query per passage: the passage's first words) and the same corpus of
real Russian Wikipedia sentences, the local all-MiniLM-L6-v2, the same miner settings on both
sides. The stage side is ``MineStage.run`` into a fresh OUT (reading the run, loading the model,
encoding corpus and queries, mining, the passage scores, writing records, embeddings and
manifest); the bare side loads the model and calls ``mine_hard_negatives`` on an in-memory
dataset. Sides alternate ``--repeats`` times; the best wall time of each counts (the box is
shared). Figures: corpus passages encoded per second and queries mined per second (both over
the whole wall time), their ratio (goal >= 0.9), and the time of a re-run into the same OUT,
which reuses the stored embeddings.

    .venv/bin/python bench/bench_mine.py [--queries 100] [--corpus 800] [--repeats 2]
"""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from _common import WIKI, int_options, minilm_path, ratio_line
from rudatagen.core.manifest import Manifest, write_manifest
from rudatagen.core.rundir import prepare_output, write_records
from rudatagen.core.tables import read_table
from rudatagen.encoders import load_sentence_transformer
from rudatagen.mine.job import MineStage
from rudatagen.mine.settings import CorpusSettings, MineSettings


def build_inputs(root: Path, queries: int, corpus: int) -> tuple[Path, Path, list[dict]]:
    rows = read_table(WIKI).to_pylist()[:corpus]
    records = [
        {
            "id": f"{row['sent_id']}-keyword-0",
            "query": " ".join(row["text"].split()[:6]),
            "positive": row["text"],
            "negatives": [],
            "query_type": "keyword",
            "passage_id": row["sent_id"],
        }
        for row in rows[:queries]
    ]
    run = root / "run"
    prepare_output(run)
    write_records(run, pa.Table.from_pylist(records))
    write_manifest(run, Manifest(stage="generate", kind="retrieval"))
    corpus_file = root / "corpus.parquet"
    pq.write_table(pa.table({"text": [row["text"] for row in rows]}), corpus_file)
    return run, corpus_file, records


def main() -> None:
    options = int_options(__doc__ or "", queries=100, corpus=800, repeats=2)
    root = Path(tempfile.mkdtemp(prefix="bench-mine-"))
    run, corpus_file, records = build_inputs(root, options.queries, options.corpus)
    model_path = minilm_path()
    settings = MineSettings(
        model=model_path,
        num_negatives=5,
        batch_size=64,
        corpus=CorpusSettings(path=str(corpus_file)),
    )
    passages = read_table(corpus_file).column("text").to_pylist()

    def ours(out: Path) -> float:
        started = time.perf_counter()
        with contextlib.redirect_stderr(io.StringIO()):
            MineStage(settings).run([run], out)
        return time.perf_counter() - started

    def bare() -> float:
        from datasets import Dataset
        from sentence_transformers.util import mine_hard_negatives

        started = time.perf_counter()
        with contextlib.redirect_stderr(io.StringIO()):
            model = load_sentence_transformer(model_path, settings.device)
            mine_hard_negatives(
                Dataset.from_dict(
                    {
                        "anchor": [r["query"] for r in records],
                        "positive": [r["positive"] for r in records],
                    }
                ),
                model,
                corpus=passages,
                num_negatives=settings.num_negatives,
                relative_margin=settings.relative_margin,
                sampling_strategy=settings.sampling_strategy,
                output_format="labeled-list",
                output_scores=True,
                batch_size=settings.batch_size,
                verbose=False,
            )
        return time.perf_counter() - started

    times: dict[str, list[float]] = {"ours": [], "bare": []}
    for repeat in range(options.repeats):
        out = root / f"out-{repeat}"
        sides = [("ours", lambda out=out: ours(out)), ("bare", bare)]
        for name, side in sides if repeat % 2 == 0 else reversed(sides):
            times[name].append(side())
            print(f"pass {repeat + 1} {name}: {times[name][-1]:.2f} s", flush=True)
    rerun_out = root / "out-rerun"
    ours(rerun_out)
    rerun = ours(rerun_out)
    best = {name: min(values) for name, values in times.items()}
    n_corpus, n_queries = len(passages), len(records)
    print(f"{n_queries} queries, {n_corpus} corpus passages, MiniLM, best of {options.repeats}")
    print(f"stage: {best['ours']:.2f} s; bare mine_hard_negatives: {best['bare']:.2f} s")
    encoded = ratio_line(
        "corpus passages encoded/s", n_corpus / best["ours"], n_corpus / best["bare"], 0.9, "/s"
    )
    mined = ratio_line(
        "queries mined/s", n_queries / best["ours"], n_queries / best["bare"], 0.9, "/s"
    )
    print(encoded)
    print(mined)
    print(f"re-run into the same OUT (stored embeddings reused): {rerun:.2f} s")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
