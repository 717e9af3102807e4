"""One call of sentence-transformers' ``mine_hard_negatives``, its embedding cache, its scores.

The miner does the encoding, the search, the rank window, the false-negative guard, the optional
cross-encoder rescoring and the sampling; this module feeds it (anchor, positive) pairs and the
corpus, asks for the ``labeled-list`` output with scores (one row per pair, every negative found,
even fewer than ``num_negatives``), and maps that back by query.

Embeddings: the miner's ``cache_folder`` keeps the query and corpus embeddings as
``{query,corpus}_embeddings_<sha256>.npy``, the hash over (model card's base model, prompt,
texts). rudatagen points it at ``<out>/embeddings/<model key>/``: a folder per model and
sequence length, since the hash leaves out the model of a local folder (its base model is
unset) and the length. A re-run with the same queries and corpus encodes nothing. The same
files give ``positive_score`` and ``hardest_score`` after the mining, by a search over the stored
embeddings (no second encoding).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rudatagen.errors import RudatagenError
from rudatagen.mine.settings import MineSettings

_SKIPPED = re.compile(r"Skipped ([\d,]+) potential negatives .* due to the (\w+) of")


@dataclass
class Mined:
    """What one mining call found, by distinct query (first-seen order of the pairs)."""

    negatives: dict[str, tuple[list[str], list[float]]]  # query → (texts, scores), hardest first
    queries: list[str]
    corpus: list[str]  # as the miner saw it: the passages, then the positives it added
    query_file: Path
    corpus_file: Path
    corpus_reused: bool
    queries_reused: bool
    skipped: dict[str, int] = field(default_factory=dict)  # candidates dropped, by rule
    log: str = ""


def embeddings_folder(out: Path, settings: MineSettings) -> Path:
    """``out/embeddings/<model name>-<hash of model and sequence length>``."""
    model = Path(settings.model).expanduser()
    where = str(model.resolve()) if model.exists() else settings.model
    digest = hashlib.sha256(repr((where, settings.max_seq_length)).encode()).hexdigest()[:10]
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", model.name or "model")[:60]
    return out / "embeddings" / f"{name}-{digest}"


def use_faiss(settings: MineSettings) -> bool:
    installed = importlib.util.find_spec("faiss") is not None
    if settings.use_faiss and not installed:
        raise RudatagenError("mine.use_faiss is true, but faiss is not installed (faiss-cpu)")
    return installed if settings.use_faiss is None else settings.use_faiss


def cache_file(folder: Path, side: str, model: Any, prompt: str | None, texts: list[str]) -> Path:
    """Where ``mine_hard_negatives`` (sentence-transformers 5.x/6.x) caches one side's embeddings.

    The same hash as the miner's own, so rudatagen can tell a reused cache from a new one and
    read the embeddings back; a miner that names them otherwise is caught after the call.
    """
    model_name = model.model_card_data.base_model or ""
    key = repr((model_name, prompt, None, texts))
    digest = hashlib.sha256(key.encode(), usedforsecurity=False).hexdigest()
    return folder / f"{side}_embeddings_{digest}.npy"


def miner_texts(pairs: list[tuple[str, str]], passages: list[str]) -> tuple[list[str], list[str]]:
    """The distinct queries and the corpus (passages, then the positives it lacks) in the
    order ``mine_hard_negatives`` encodes them."""
    queries = list(dict.fromkeys(a for a, _ in pairs))
    corpus = list(dict.fromkeys(passages + [p for _, p in pairs]))
    return queries, corpus


def embedding_files(
    folder: Path, model: Any, settings: MineSettings, queries: list[str], corpus: list[str]
) -> tuple[Path, Path]:
    """Where the miner keeps (or finds) the query and the corpus embeddings."""
    query_file = cache_file(folder, "query", model, settings.query_prefix or None, queries)
    corpus_file = cache_file(folder, "corpus", model, settings.document_prefix or None, corpus)
    return query_file, corpus_file


def mine(
    pairs: list[tuple[str, str]],
    passages: list[str],
    model: Any,
    settings: MineSettings,
    folder: Path,
    cross_encoder: Any = None,
) -> Mined:
    """Mine negatives for the (query, positive) ``pairs`` from ``passages``."""
    from datasets import Dataset
    from sentence_transformers.util import mine_hard_negatives

    anchors = [a for a, _ in pairs]
    positives = [p for _, p in pairs]
    queries, corpus = miner_texts(pairs, passages)
    query_prompt = settings.query_prefix or None
    corpus_prompt = settings.document_prefix or None
    query_file, corpus_file = embedding_files(folder, model, settings, queries, corpus)
    reused = (query_file.is_file(), corpus_file.is_file())
    folder.mkdir(parents=True, exist_ok=True)
    random.seed(settings.seed)  # sampling_strategy "random" draws from `random`
    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log):
            result = mine_hard_negatives(
                Dataset.from_dict({"anchor": anchors, "positive": positives}),
                model,
                anchor_column_name="anchor",
                positive_column_name="positive",
                corpus=passages,
                cross_encoder=cross_encoder,
                range_min=settings.range_min,
                range_max=settings.range_max,
                max_score=settings.max_score,
                min_score=settings.min_score,
                absolute_margin=settings.absolute_margin,
                relative_margin=settings.relative_margin,
                num_negatives=settings.num_negatives,
                sampling_strategy=settings.sampling_strategy,
                query_prompt=query_prompt,
                corpus_prompt=corpus_prompt,
                output_format="labeled-list",
                output_scores=True,
                batch_size=settings.batch_size,
                use_faiss=use_faiss(settings),
                verbose=True,
                cache_folder=str(folder),
            )
    except ValueError as exc:  # the miner's own checks of the settings
        raise RudatagenError(f"mine: {str(exc).splitlines()[0]}") from None
    for path in (query_file, corpus_file):
        if not path.is_file():
            raise RudatagenError(
                f"mine: the embedding cache is not at {path}: this sentence-transformers names "
                "its cache files otherwise (rudatagen.mine.miner.cache_file needs an update)"
            )
    negatives: dict[str, tuple[list[str], list[float]]] = {}
    for anchor, texts, scores in zip(
        result["anchor"], result["positive"], result["scores"], strict=True
    ):
        negatives.setdefault(anchor, (list(texts[1:]), [float(s) for s in scores[1:]]))
    text = log.getvalue()
    skipped = {m.group(2): int(m.group(1).replace(",", "")) for m in _SKIPPED.finditer(text)}
    return Mined(
        negatives, queries, corpus, query_file, corpus_file, reused[1], reused[0], skipped, text
    )


def passage_scores(
    mined: Mined, pairs: list[tuple[str, str]], device: str = "cpu"
) -> tuple[np.ndarray, np.ndarray]:
    """Per pair: cos(query, its positive) and the highest cos(query, corpus passage that is not
    one of the query's positives), over the stored embeddings (NaN: no such passage).

    The hardest score is taken before any rank window or margin: it says how far the positive
    stands out from the whole corpus (the easiness filter's measure).
    """
    import torch
    from sentence_transformers.util import semantic_search

    query_emb = np.load(mined.query_file)
    corpus_emb = np.load(mined.corpus_file)
    query_at = {q: i for i, q in enumerate(mined.queries)}
    corpus_at = {t: i for i, t in enumerate(mined.corpus)}
    own: dict[int, set[int]] = {}
    for query, positive in pairs:
        own.setdefault(query_at[query], set()).add(corpus_at[positive])
    q_rows = np.fromiter((query_at[q] for q, _ in pairs), np.int64, len(pairs))
    c_rows = np.fromiter((corpus_at[p] for _, p in pairs), np.int64, len(pairs))
    positive = np.einsum("ij,ij->i", query_emb[q_rows], corpus_emb[c_rows]).astype(np.float64)
    top_k = min(max(len(s) for s in own.values()) + 1, len(mined.corpus))
    hits = semantic_search(
        torch.from_numpy(query_emb).to(device),
        torch.from_numpy(corpus_emb).to(device),
        top_k=top_k,
    )
    hardest_by_query = np.full(len(mined.queries), np.nan)
    for index, query_hits in enumerate(hits):
        skip = own.get(index, set())
        for hit in query_hits:
            if hit["corpus_id"] not in skip:
                hardest_by_query[index] = hit["score"]
                break
    return positive, hardest_by_query[q_rows]
