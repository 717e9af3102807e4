"""``rudatagen filter`` on a run directory: funnel arithmetic, rejects, records, reports, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from itertools import pairwise
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rudatagen.config import load_recipe
from rudatagen.errors import RudatagenError
from rudatagen.filters.job import run_filter_job
from rudatagen.generators.ruhnp import ROW_SCHEMA
from rudatagen.store import RunStore

CLI = str(Path(sys.executable).with_name("rudatagen"))

QUERY_A = "Первая публичная библиотека в России открылась в Санкт-Петербурге в 1814 году."
QUERY_B = "Река Лена впадает в море Лаптевых и образует одну из крупнейших дельт в Арктике."
QUERY_E = "Река Лена впадает в море Лаптевых и образует одну из крупнейших дельт в мире."
QUERY_C = "Шахматист Михаил Ботвинник впервые стал чемпионом мира по шахматам в 1948 году."

RECORDS: list[dict[str, Any]] = [
    {
        "id": "a",
        "query": QUERY_A,
        "pos": [
            "В 1814 году в Санкт-Петербурге начала работу первая в России публичная библиотека.",
            QUERY_A,  # identical to the query: heuristic
            "1. Первая публичная библиотека страны появилась в Петербурге в 1814 году.",  # artefact
        ],
        "neg": [
            "Первая публичная библиотека в России открылась в Москве в 1814 году.",
            "Первая публичная библиотека в России закрылась в Санкт-Петербурге в 1814 году.",
            "Кошки любят спать на подоконнике, когда светит солнце и тепло.",  # not close: lexical
        ],
    },
    {
        "id": "b",
        "query": QUERY_B,
        "pos": [
            "Впадая в море Лаптевых, Лена образует одну из самых больших дельт Арктики.",
        ],
        "neg": ["Река Лена впадает в Карское море и образует одну из крупнейших дельт в Арктике."],
    },
    {
        # its only negative repeats record b's negative exactly: dedup, then the record drops
        "id": "e",
        "query": QUERY_E,
        "pos": ["Впадая в море Лаптевых, Лена образует одну из самых крупных дельт на планете."],
        "neg": ["Река Лена впадает в Карское море и образует одну из крупнейших дельт в Арктике."],
    },
    {
        # every paraphrase is a copy: the record falls below min_pos and is dropped
        "id": "c",
        "query": QUERY_C,
        "pos": [QUERY_C],
        "neg": ["Шахматист Михаил Ботвинник впервые стал чемпионом мира по шахматам в 1958 году."],
    },
    {
        "id": "d",
        "query": "Пустая запись без кандидатов для проверки подсчёта.",
        "pos": [],
        "neg": [],
    },
]


def make_run(root: Path, records: list[dict[str, Any]]) -> Path:
    store = RunStore(root, ROW_SCHEMA)
    store.open()
    for record in records:
        store.add(
            {
                **record,
                "model": "m",
                "backend": "b",
                "prompt_version": "p",
                "prompt_tokens": 1,
                "completion_tokens": 1,
                "attempts": 1,
            }
        )
    store.close()
    return root


@pytest.fixture
def filtered(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    run = make_run(tmp_path / "run", RECORDS)
    recipe = load_recipe(None, ["ruhnp.n_paraphrases=3", "ruhnp.n_non_paraphrases=3"])
    out = tmp_path / "filtered"
    result = run_filter_job(recipe, run, out)
    return out, result.funnel


def test_funnel_counts_add_up(filtered: tuple[Path, dict[str, Any]]) -> None:
    out, funnel = filtered
    for label in ("paraphrase", "non_paraphrase"):
        stages = funnel["stages"]
        assert stages[0][label]["in"] == funnel["candidates_in"][label]
        for earlier, later in pairwise(stages):
            assert earlier[label]["out"] == later[label]["in"]
        rejected = sum(s[label]["rejected"] for s in stages)
        assert (
            funnel["candidates_in"][label] - rejected - funnel["dropped_with_records"][label]
            == funnel["candidates_out"][label]
        )
    assert funnel["candidates_in"] == {"paraphrase": 6, "non_paraphrase": 6}
    assert [s["filter"] for s in funnel["stages"]] == ["heuristic", "lexical", "dedup"]
    assert json.loads((out / "funnel.json").read_text(encoding="utf-8")) == funnel
    markdown = (out / "funnel.md").read_text(encoding="utf-8")
    assert "| heuristic |" in markdown and "| dedup |" in markdown


def test_records_keep_their_survivors(filtered: tuple[Path, dict[str, Any]]) -> None:
    out, funnel = filtered
    rows = {r["id"]: r for r in pq.read_table(out / "data" / "shard-00000.parquet").to_pylist()}
    assert set(rows) == {"a", "b"}  # c and e fell below min_pos/min_neg, d had nothing
    assert rows["a"]["pos"] == [RECORDS[0]["pos"][0]]
    assert RECORDS[0]["neg"][0] in rows["a"]["neg"] and RECORDS[0]["neg"][2] not in rows["a"]["neg"]
    assert rows["b"]["neg"] == [RECORDS[1]["neg"][0]]
    assert rows["a"]["model"] == "m"  # metadata columns survive
    assert funnel["records"] == {
        "in": 5,
        "out": 2,
        "dropped": 3,
        "with_fewer_candidates_than_expected": 4,
        "with_no_candidates": 1,
    }
    kept = sum(len(r["pos"]) + len(r["neg"]) for r in rows.values())
    assert kept == sum(funnel["candidates_out"].values())


def test_rejects_name_filter_and_reason(filtered: tuple[Path, dict[str, Any]]) -> None:
    out, funnel = filtered
    rejects = pq.read_table(out / "rejects.parquet").to_pylist()
    total_in = sum(funnel["candidates_in"].values())
    assert len(rejects) == total_in - sum(funnel["candidates_out"].values())
    assert all(r["filter"] and r["reason"] and not r["kept"] for r in rejects)
    by_text = {(r["record_id"], r["text"]): r["filter"] for r in rejects}
    assert by_text[("a", QUERY_A)] == "heuristic"
    assert by_text[("a", RECORDS[0]["pos"][2])] == "heuristic"
    assert by_text[("a", RECORDS[0]["neg"][2])] == "lexical"
    assert by_text[("e", RECORDS[2]["neg"][0])] == "dedup"
    assert by_text[("e", RECORDS[2]["pos"][0])] == "min_survivors"
    assert by_text[("c", RECORDS[3]["neg"][0])] == "min_survivors"
    candidates = pq.read_table(out / "candidates.parquet")
    assert candidates.num_rows == total_in
    assert {"lexical_similarity", "lexical_lemma_overlap"} <= set(candidates.column_names)


def test_histograms_and_manifest(filtered: tuple[Path, dict[str, Any]]) -> None:
    out, _ = filtered
    pngs = sorted((out / "histograms").glob("*.png"))
    assert pngs and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    names = [f["name"] for f in manifest["filters"]]
    assert names == ["heuristic", "lexical", "dedup"]
    lexical = manifest["filters"][1]
    assert lexical["version"] and lexical["settings"]["paraphrase_max_similarity"] == 90.0


def test_empty_first_record_keeps_the_column_types(tmp_path: Path) -> None:
    # the output schema comes from the input shards, not from the first (empty) record
    run = make_run(tmp_path / "run", [RECORDS[4], RECORDS[0]])
    recipe = load_recipe(None, ["ruhnp.n_paraphrases=3", "ruhnp.n_non_paraphrases=3"])
    run_filter_job(recipe, run, tmp_path / "out")
    table = pq.read_table(tmp_path / "out" / "data" / "shard-00000.parquet")
    assert table.column("id").to_pylist() == ["a"]
    assert table.schema.field("pos").type.value_type == pa.string()


def test_not_a_run_directory(tmp_path: Path) -> None:
    with pytest.raises(RudatagenError, match="not a run directory"):
        run_filter_job(load_recipe(None), tmp_path, tmp_path / "out")


def test_missing_columns(tmp_path: Path) -> None:
    (tmp_path / "run" / "data").mkdir(parents=True)
    pq.write_table(pa.table({"id": ["x"], "query": ["q"]}), tmp_path / "run" / "data" / "s.parquet")
    with pytest.raises(RudatagenError, match="pos, neg"):
        run_filter_job(load_recipe(None), tmp_path / "run", tmp_path / "out")


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        (
            "filters.lexical.paraphrase_max_similarity=150",
            "filters.lexical.paraphrase_max_similarity",
        ),
        ("filters.heuristic.min_length_ratio=3", "length ratio"),
        ("filters.dedup.threshold=0", "filters.dedup.threshold"),
        ("filters.biencoder.paraphrase_min=2", "filters.biencoder.paraphrase_min"),
        ("filters.lexcial.enabled=false", "filters.lexcial"),
    ],
)
def test_bad_settings_are_one_line_cli_errors(tmp_path: Path, override: str, needle: str) -> None:
    run = make_run(tmp_path / "run", RECORDS[:1])
    result = subprocess.run(
        [CLI, "filter", "--in", str(run), "--out", str(tmp_path / "o"), "--set", override],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], result.stderr


def test_model_that_does_not_load_is_a_one_line_error(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", RECORDS[:1])
    result = subprocess.run(
        [
            CLI,
            "filter",
            "--in",
            str(run),
            "--out",
            str(tmp_path / "o"),
            "--set",
            "filters.biencoder.enabled=true",
            "--set",
            f"filters.biencoder.model={tmp_path / 'no-such-model'}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: ") and "no-such-model" in lines[-1]
    assert "Traceback" not in result.stderr
