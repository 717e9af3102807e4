"""``mine`` as a stage: a retrieval or RuHNP run in, the same records with corpus negatives out.

``OUT/`` gets ``data/shard-00000.parquet`` (every input record, in order, with the mined
negatives and their scores; retrieval rows also ``positive_score`` and ``hardest_score``),
``embeddings/<model>/`` (the query and corpus embeddings, reused when mine runs again into the
same ``OUT`` with the same queries and corpus), ``mine.log`` (the miner's statistics: score
table, candidates skipped by each rule) and ``manifest.json``. Records are never dropped here: a
record without a query or positive, or whose candidates all fell to the guard, keeps an empty
list and is counted.

Positives and the corpus: the miner adds every positive to the corpus, so a passage missing from
it is still a negative for the other queries and never its own (it excludes positives by text).
For retrieval runs, whose positives are corpus passages, a corpus holding none of them is the
wrong corpus (or the wrong column) and an error; some missing ones are counted.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from rudatagen.core.manifest import Manifest, input_ref, read_manifest, write_manifest
from rudatagen.core.rundir import (
    prepare_output,
    read_run_table,
    require_columns,
    require_other_output,
    write_records,
)
from rudatagen.core.sharding import Shard
from rudatagen.core.stage import Stage, StageResult
from rudatagen.encoders import load_cross_encoder, load_sentence_transformer
from rudatagen.errors import RudatagenError
from rudatagen.executor.settings import ExecutorSettings
from rudatagen.kinds import kind_of_run
from rudatagen.mine.corpus import read_corpus
from rudatagen.mine.miner import (
    Mined,
    embedding_files,
    embeddings_folder,
    mine,
    miner_texts,
    passage_scores,
)
from rudatagen.mine.settings import MineSettings
from rudatagen.mine.shapes import HARDEST_SCORE, POSITIVE_SCORE, SHAPES, MiningShape

LOG_NAME = "mine.log"


class MineStage(Stage[MineSettings]):
    """Fill a run's negatives from a corpus with sentence-transformers' miner."""

    name = "mine"

    def __init__(
        self,
        settings: MineSettings,
        *,
        shard: Shard | None = None,
        executor: ExecutorSettings | None = None,
    ) -> None:
        super().__init__(settings)
        self.shard = shard
        self.executor = executor or ExecutorSettings()

    def run(self, inputs: Sequence[Path], out: Path, *, progress: bool = True) -> StageResult:
        """Mine for the run in ``inputs`` from ``settings.corpus.path`` into ``out``.

        The miner's own progress bars (encoding, search) show on stderr whatever ``progress``
        says: sentence-transformers always draws them.
        """
        (in_dir,) = inputs
        started = time.perf_counter()
        settings = self.settings
        if self.executor.kind == "ray":
            from rudatagen.executor.connect import require_ray

            require_ray()  # without the extra: one line, before anything is read
        if settings.corpus.path is None:
            raise RudatagenError("mine needs a corpus: --corpus FILE (or mine.corpus.path)")
        require_other_output(out, [in_dir])
        table = read_run_table(in_dir)
        kind = kind_of_run(in_dir, table.column_names)
        if self.shard is not None:
            table = self.shard.select(table, kind.group_column)
        shape = SHAPES.get(kind.name)
        if shape is None:
            raise RudatagenError(
                f"{in_dir} holds {kind.name} records; mine works on {', '.join(SHAPES)} runs"
            )
        require_columns(table, shape.needs, in_dir)
        if table.num_rows == 0:
            raise RudatagenError(f"{in_dir} holds no records to mine negatives for")
        corpus_path = Path(settings.corpus.path)
        passages, column = read_corpus(corpus_path, settings.corpus)
        per_row = [shape.pairs(r) for r in table.select(list(shape.needs)).to_pylist()]
        pairs = [pair for row in per_row for pair in row]
        if not pairs:
            raise RudatagenError(f"{in_dir}: no record has the texts to mine for")
        added = _positives_missing(shape, pairs, passages, corpus_path, column)

        model = load_sentence_transformer(settings.model, settings.device, settings.max_seq_length)
        cross = (
            load_cross_encoder(settings.cross_encoder, settings.device)
            if settings.cross_encoder
            else None
        )
        prepare_output(out, [in_dir])
        folder = embeddings_folder(out, settings)
        on_ray = self._encode_on_ray(pairs, passages, model, folder)
        mined = mine(pairs, passages, model, settings, folder, cross)
        mined.corpus_reused &= "corpus" not in on_ray  # written just now by the replicas
        mined.queries_reused &= "query" not in on_ray
        (out / LOG_NAME).write_text(mined.log, encoding="utf-8")
        columns = _columns(shape, per_row, mined, str(model.device))
        for name, values in columns.items():
            if name in table.column_names:
                table = table.drop_columns([name])
            table = table.append_column(name, values)
        write_records(out, table)

        seconds = time.perf_counter() - started
        counts = _counts(shape, per_row, mined, settings.num_negatives)
        counts |= {"corpus_passages": len(passages), "positives_added_to_corpus": added}
        manifest = Manifest(
            stage=self.name,
            kind=kind.name,
            inputs=[input_ref(in_dir, read_manifest(in_dir))],
            recipe={"mine": settings.model_dump(mode="json")},
            counts=counts,
            wall_s=round(seconds, 3),
            corpus={"path": str(corpus_path), "column": column, "passages": len(passages)},
            embeddings={
                "folder": str(folder.relative_to(out)),
                "corpus": "reused" if mined.corpus_reused else "encoded",
                "queries": "reused" if mined.queries_reused else "encoded",
            },
            shard=self.shard.to_json() if self.shard else None,
            **_executor_facts(self.executor, on_ray),
        )
        write_manifest(out, manifest)
        return StageResult(out, manifest, _summary(counts, mined, seconds, out))

    def _encode_on_ray(
        self, pairs: list[tuple[str, str]], passages: list[str], model: Any, folder: Path
    ) -> list[str]:
        """With the Ray executor, the embedding files the miner lacks, encoded by a pool of
        replicas (the sides encoded); the miner then finds them where it looks first."""
        if self.executor.kind != "ray":
            return []
        from rudatagen.executor.encode import encode_for_miner

        queries, corpus = miner_texts(pairs, passages)
        files = embedding_files(folder, model, self.settings, queries, corpus)
        return encode_for_miner(queries, corpus, files, self.settings, self.executor)


def _executor_facts(executor: ExecutorSettings, encoded: list[str]) -> dict[str, Any]:
    """The manifest's ``executor`` on Ray: its settings and the sides its replicas encoded."""
    if executor.kind != "ray":
        return {}
    return {"executor": {**executor.facts(), "encoded": encoded}}


def _positives_missing(
    shape: MiningShape,
    pairs: list[tuple[str, str]],
    passages: list[str],
    corpus_path: Path,
    column: str,
) -> int:
    """How many distinct positives the corpus lacks; none present is an error for retrieval."""
    if not shape.positives_in_corpus:
        return 0
    positives = {p for _, p in pairs}
    present = positives.intersection(passages)
    if not present:
        raise RudatagenError(
            f"--corpus {corpus_path} (column '{column}') holds none of the {len(positives)} "
            "positive passages of the run: is it the corpus the passages came from?"
        )
    return len(positives) - len(present)


def _columns(
    shape: MiningShape, per_row: list[list[tuple[str, str]]], mined: Mined, device: str
) -> dict[str, pa.Array]:
    """The new columns, aligned with the records (a record without pairs: empty, null)."""
    empty: tuple[list[str], list[float]] = ([], [])
    found = [mined.negatives.get(row[0][0], empty) if row else empty for row in per_row]
    columns: dict[str, pa.Array] = {
        shape.negatives_column: pa.array([f[0] for f in found], pa.list_(pa.string())),
        shape.scores_column: pa.array([f[1] for f in found], pa.list_(pa.float64())),
    }
    if shape.positives_in_corpus:
        pairs = [row[0] for row in per_row if row]
        positive, hardest = passage_scores(mined, pairs, device)
        rows = np.flatnonzero([bool(row) for row in per_row])
        for name, values in ((POSITIVE_SCORE, positive), (HARDEST_SCORE, hardest)):
            full = np.full(len(per_row), np.nan)
            full[rows] = values
            columns[name] = pa.array(full, pa.float64(), mask=np.isnan(full))
    return columns


def _counts(
    shape: MiningShape, per_row: list[list[tuple[str, str]]], mined: Mined, wanted: int
) -> dict[str, Any]:
    sizes = [len(mined.negatives.get(row[0][0], ((), ()))[0]) for row in per_row if row]
    return {
        "records": len(per_row),
        "records_mined": len(sizes),
        "records_without_texts": len(per_row) - len(sizes),
        "queries": len(mined.queries),
        "records_with_all_negatives": sum(1 for n in sizes if n >= wanted),
        "records_with_fewer_negatives": sum(1 for n in sizes if 0 < n < wanted),
        "records_without_negatives": sum(1 for n in sizes if n == 0),
        "negatives": sum(sizes),
        "mean_negatives": round(sum(sizes) / len(sizes), 3) if sizes else 0.0,
        "candidates_skipped": mined.skipped,
        "negatives_column": shape.negatives_column,
    }


def _summary(counts: dict[str, Any], mined: Mined, seconds: float, out: Path) -> str:
    short = counts["records_with_fewer_negatives"] + counts["records_without_negatives"]
    parts = [
        f"mined {counts['queries']} queries ({counts['records_mined']} records): "
        f"{counts['mean_negatives']:.2f} negatives per record"
    ]
    if short:
        rules = ", ".join(f"{n} by {rule}" for rule, n in counts["candidates_skipped"].items())
        why = f" (candidates skipped: {rules})" if rules else ""
        parts.append(
            f"{counts['records_with_fewer_negatives']} with fewer, "
            f"{counts['records_without_negatives']} with none{why}"
        )
    if counts["records_without_texts"]:
        parts.append(f"{counts['records_without_texts']} skipped: no query or positive")
    reuse = "reused" if mined.corpus_reused else "encoded"
    parts.append(f"corpus {counts['corpus_passages']} passages, embeddings {reuse}")
    if counts["positives_added_to_corpus"]:
        parts.append(f"{counts['positives_added_to_corpus']} positives added to the corpus")
    return "; ".join(parts) + f"; {seconds:.1f}s → {out}"
