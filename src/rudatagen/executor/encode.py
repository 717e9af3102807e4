"""``mine`` on Ray: the query and corpus embeddings from a pool of encoder replicas.

``mine_hard_negatives`` reads its embeddings from ``cache_folder`` when the files are there
(``{query,corpus}_embeddings_<hash>.npy``, the hash over the model, the prompt and the texts;
``mine/miner.py`` names them). So the Ray executor only has to write those files: the texts, in
the miner's order, go through ``map_batches`` over ``executor.replicas`` actors, each holding the
sentence-transformers model and encoding exactly as the miner would (``encode_query`` /
``encode_document``, the same prompt, batch size and normalisation); the driver writes the rows
into the ``.npy`` file as they come (a memory map, renamed into place when complete). The one
``mine_hard_negatives`` call then loads both files and does the search, the guards and the
sampling here, on the whole corpus at once.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from rudatagen.errors import RudatagenError
from rudatagen.executor.connect import connect, first_line, map_on_replicas
from rudatagen.executor.settings import ExecutorSettings
from rudatagen.mine.settings import MineSettings


class EncodeReplica:
    """A Ray Data callable class: one encoder, many batches of texts (each text's ``side``,
    query or corpus, says which of the miner's encode calls it gets)."""

    def __init__(self, settings: MineSettings) -> None:
        from rudatagen.encoders import load_sentence_transformer

        self.model = load_sentence_transformer(
            settings.model, settings.device, settings.max_seq_length
        )
        self.settings = settings

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        sides = np.asarray([str(side) for side in batch["side"]])
        texts = [str(t) for t in batch["text"]]
        parts = {side: np.flatnonzero(sides == side) for side in np.unique(sides)}
        encoded = {
            side: self.encode(side, [texts[i] for i in rows]) for side, rows in parts.items()
        }
        width = next(iter(encoded.values())).shape[1]
        embeddings = np.empty((len(texts), width), dtype=np.float32)
        for side, rows in parts.items():
            embeddings[rows] = encoded[side]
        return {"side": batch["side"], "index": batch["index"], "embedding": embeddings}

    def encode(self, side: str, texts: list[str]) -> np.ndarray:
        """The miner's own call for ``side``: ``encode_query`` or ``encode_document``."""
        settings = self.settings
        if side == "query":
            encode, prompt = self.model.encode_query, settings.query_prefix or None
        else:
            encode, prompt = self.model.encode_document, settings.document_prefix or None
        embeddings = encode(
            texts,
            batch_size=settings.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
            prompt_name=None,
            prompt=prompt,
        )
        return np.asarray(embeddings, dtype=np.float32)


def encode_for_miner(
    queries: list[str],
    corpus: list[str],
    files: tuple[Path, Path],
    settings: MineSettings,
    executor: ExecutorSettings,
) -> list[str]:
    """Write the miner's embedding files that are missing (``files``: query, corpus), in one
    pass over one pool of replicas; returns the sides encoded."""
    wanted = {
        side: (texts, target)
        for side, texts, target in (("corpus", corpus, files[1]), ("query", queries, files[0]))
        if not target.is_file()
    }
    if not wanted:
        return []
    ray = connect(executor)
    size = executor.chunk_size
    blocks = [
        pa.table(
            {
                "side": [side] * len(chunk),
                "index": np.arange(start, start + len(chunk)),
                "text": chunk,
            }
        )
        for side, (texts, _) in wanted.items()
        for start in range(0, len(texts), size)
        for chunk in [texts[start : start + size]]
    ]
    dataset = map_on_replicas(
        ray.data.from_arrow(blocks), EncodeReplica, executor, {"settings": settings}, size
    )
    writers = {
        side: EmbeddingWriter(target, len(texts)) for side, (texts, target) in wanted.items()
    }
    try:
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            sides = np.asarray([str(side) for side in batch["side"]])
            for side, writer in writers.items():  # Ray Data may fill a batch from both sides
                rows = sides == side
                writer.put(batch["index"][rows], batch["embedding"][rows])
        for side, writer in writers.items():
            if writer.written != writer.rows:
                raise RudatagenError(
                    f"encoding on Ray returned {writer.written} of {writer.rows} {side} embeddings"
                )
    except RudatagenError:
        raise
    except Exception as exc:  # noqa: BLE001 - Ray wraps a replica's failure in many types
        raise RudatagenError(f"encoding on Ray failed: {first_line(exc)}") from None
    finally:
        for writer in writers.values():
            writer.close()
    return list(wanted)


class EmbeddingWriter:
    """One ``.npy`` file filled row by row as batches arrive (a memory map under a temporary
    name), renamed into place once every row is there; removed otherwise."""

    def __init__(self, target: Path, rows: int) -> None:
        self.target = target
        self.rows = rows
        self.tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        self.matrix: Any = None
        self.written = 0

    def put(self, index: np.ndarray, vectors: np.ndarray) -> None:
        vectors = np.asarray(vectors, dtype=np.float32)
        if not len(vectors):
            return
        if self.matrix is None:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            shape = (self.rows, vectors.shape[1])
            self.matrix = np.lib.format.open_memmap(self.tmp, "w+", np.float32, shape)
        self.matrix[index] = vectors
        self.written += len(vectors)

    def close(self) -> None:
        complete = self.matrix is not None and self.written == self.rows
        if self.matrix is not None:
            self.matrix.flush()
            self.matrix = None
        if complete:
            os.replace(self.tmp, self.target)
        else:
            self.tmp.unlink(missing_ok=True)
