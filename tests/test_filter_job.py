"""``rudatagen filter`` on a run directory: funnel arithmetic, rejects, records, reports, errors;
the candidates a kind splits records into and puts back, and the registry's kind checks."""

from __future__ import annotations

import json
import subprocess
import sys
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.support.run_dirs import wanli_triple

from rudatagen.core.funnel import Funnel
from rudatagen.core.manifest import Manifest, write_manifest
from rudatagen.core.store import RunStore
from rudatagen.errors import RudatagenError
from rudatagen.filters.base import FilterContext
from rudatagen.filters.job import FilterStage
from rudatagen.filters.pipeline import run_stages
from rudatagen.filters.registry import build_filters
from rudatagen.filters.settings import FilterSettings, WanliFilterSettings
from rudatagen.generators.ruhnp import ROW_SCHEMA
from rudatagen.kinds import get_kind

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


def make_run(
    root: Path, records: list[dict[str, Any]], expected: tuple[int, int] | None = (3, 3)
) -> Path:
    """A generation run; its manifest's recipe asks for ``expected`` (pos, neg) per record."""
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
    if expected is not None:
        ruhnp = {"n_paraphrases": expected[0], "n_non_paraphrases": expected[1]}
        write_manifest(root, Manifest(stage="generate", kind="ruhnp", recipe={"ruhnp": ruhnp}))
    return root


def run_filter(settings: FilterSettings, run: Path, out: Path) -> Funnel:
    result = FilterStage(settings).run([run], out, progress=False)
    assert result.funnel is not None and result.manifest.stage == "filter"
    return result.funnel


@pytest.fixture
def filtered(tmp_path: Path) -> tuple[Path, Funnel]:
    out = tmp_path / "filtered"
    return out, run_filter(FilterSettings(), make_run(tmp_path / "run", RECORDS), out)


def test_funnel_counts_add_up(filtered: tuple[Path, Funnel]) -> None:
    out, funnel = filtered
    steps = funnel.steps
    for label in ("paraphrase", "non_paraphrase"):
        assert steps[0].counts[label].n_in == funnel.counts_in[label]
        for earlier, later in pairwise(steps):
            assert earlier.counts[label].n_out == later.counts[label].n_in
        rejected = sum(s.counts[label].rejected for s in steps)
        assert funnel.counts_in[label] - rejected == funnel.counts_out[label]
        assert steps[-1].counts[label].n_out == funnel.counts_out[label]
    assert funnel.check() == []
    assert funnel.counts_in == {"paraphrase": 6, "non_paraphrase": 6}
    assert [s.name for s in steps] == ["heuristic", "lexical", "dedup", "min_survivors"]
    assert sum(steps[-1].rejected_by_rule.values()) == steps[-1].total_in - steps[-1].total_out
    assert json.loads((out / "funnel.json").read_text(encoding="utf-8")) == funnel.to_json()
    markdown = (out / "funnel.md").read_text(encoding="utf-8")
    assert "# Filter funnel" in markdown
    assert "| heuristic |" in markdown and "| dedup |" in markdown


def test_records_keep_their_survivors(filtered: tuple[Path, Funnel]) -> None:
    out, funnel = filtered
    rows = {r["id"]: r for r in pq.read_table(out / "data" / "shard-00000.parquet").to_pylist()}
    assert set(rows) == {"a", "b"}  # c and e fell below min_pos/min_neg, d had nothing
    assert rows["a"]["pos"] == [RECORDS[0]["pos"][0]]
    assert RECORDS[0]["neg"][0] in rows["a"]["neg"] and RECORDS[0]["neg"][2] not in rows["a"]["neg"]
    assert rows["b"]["neg"] == [RECORDS[1]["neg"][0]]
    assert rows["a"]["model"] == "m"  # metadata columns survive
    assert funnel.records == {
        "in": 5,
        "out": 2,
        "dropped": 3,
        "with_fewer_candidates_than_expected": 4,
        "with_no_candidates": 1,
    }
    kept = sum(len(r["pos"]) + len(r["neg"]) for r in rows.values())
    assert kept == sum(funnel.counts_out.values())


def test_without_a_generation_manifest_no_expected_counts(tmp_path: Path) -> None:
    run = make_run(tmp_path / "run", RECORDS, expected=None)
    funnel = run_filter(FilterSettings(), run, tmp_path / "out")
    assert funnel.records == {"in": 5, "out": 2, "dropped": 3, "with_no_candidates": 1}


def test_rejects_name_filter_and_reason(filtered: tuple[Path, Funnel]) -> None:
    out, funnel = filtered
    rejects = pq.read_table(out / "rejects.parquet").to_pylist()
    total_in = sum(funnel.counts_in.values())
    assert len(rejects) == total_in - sum(funnel.counts_out.values())
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
    assert {"record_id", "label", "position", "field", "anchor", "text"} <= set(
        candidates.column_names
    )
    first = candidates.slice(0, 1).to_pylist()[0]
    assert (first["anchor"], first["field"], first["label"]) == (QUERY_A, "pos", "paraphrase")


def test_histograms_and_manifest(filtered: tuple[Path, Funnel]) -> None:
    out, _ = filtered
    pngs = sorted((out / "histograms").glob("*.png"))
    assert pngs and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    names = [f["name"] for f in manifest["filters"]]
    assert names == ["heuristic", "lexical", "dedup"]
    lexical = manifest["filters"][1]
    assert lexical["version"] and lexical["settings"]["paraphrase_max_similarity"] == 90.0
    assert manifest["recipe"] == {"filters": FilterSettings().model_dump(mode="json")}
    assert (
        manifest["counts"]["candidates_out"]
        == json.loads((out / "funnel.json").read_text(encoding="utf-8"))["counts_out"]
    )


def test_empty_first_record_keeps_the_column_types(tmp_path: Path) -> None:
    # the output schema comes from the input shards, not from the first (empty) record
    run = make_run(tmp_path / "run", [RECORDS[4], RECORDS[0]])
    run_filter(FilterSettings(), run, tmp_path / "out")
    table = pq.read_table(tmp_path / "out" / "data" / "shard-00000.parquet")
    assert table.column("id").to_pylist() == ["a"]
    assert table.schema.field("pos").type.value_type == pa.string()


def test_not_a_run_directory(tmp_path: Path) -> None:
    with pytest.raises(RudatagenError, match="not a run directory"):
        run_filter(FilterSettings(), tmp_path, tmp_path / "out")


def test_missing_columns(tmp_path: Path) -> None:
    (tmp_path / "run" / "data").mkdir(parents=True)
    pq.write_table(pa.table({"id": ["x"], "query": ["q"]}), tmp_path / "run" / "data" / "s.parquet")
    with pytest.raises(RudatagenError, match="pos, neg"):
        run_filter(FilterSettings(), tmp_path / "run", tmp_path / "out")


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


# -- candidates from the kind, and the registry's kind checks -------------------------------


def test_ruhnp_candidates_round_trip_through_the_kind() -> None:
    kind = get_kind("ruhnp")
    records = [{**record, "model": "m"} for record in RECORDS]
    table = kind.candidates(records)
    assert table.labels == ("paraphrase", "non_paraphrase")
    assert table.label_counts() == {"paraphrase": 6, "non_paraphrase": 6}
    assert [table.field[r] for r in range(4)] == ["pos", "pos", "pos", "neg"]
    assert table.anchor[0] == QUERY_A and table.position.tolist()[:4] == [0, 1, 2, 0]
    table.reject(np.array([1, 6]), "test", ["a", "b"])  # a's second pos, b's only pos
    kept, dropped = kind.reassemble(table, records, {"paraphrase": 1, "non_paraphrase": 1})
    assert [r["id"] for r in kept] == ["a", "e", "c"]
    assert kept[0]["pos"] == [RECORDS[0]["pos"][0], RECORDS[0]["pos"][2]]
    assert kept[0]["model"] == "m"  # the record's other fields pass through
    assert [(d["id"], d["reason"].split(":")[0]) for d in dropped] == [
        ("b", "too few survivors"),
        ("d", "too few survivors"),
    ]


WANLI_ROWS: list[dict[str, Any]] = [
    {
        "id": "s1",
        "seed_id": "s1",
        "label": "entailment",
        "neighbour_ids": ["n1"],
        "premise": "«Врачи борются за жизнь женщины, доставленной в больницу.»",
        "hypothesis": "Женщину лечат врачи,",
    },
    {
        "id": "s2",
        "seed_id": "s2",
        "label": "not_entailment",
        "neighbour_ids": ["n2"],
        "premise": "Поезд прибыл на вокзал с опозданием на два часа.",
        "hypothesis": "Гипотеза: поезд пришёл вовремя.",
    },
    {
        "id": "s3",
        "seed_id": "s3",
        "label": "entailment",
        "neighbour_ids": [],
        "premise": "Пример совпадает с образцом из подсказки.",
        "hypothesis": "Это копия примера.",
    },
]


def test_wanli_rows_run_through_the_nli_heuristics_of_the_one_pipeline() -> None:
    kind = get_kind("wanli")
    labels = ["entailment", "not_entailment"]
    table = kind.candidates(WANLI_ROWS, labels)
    assert table.labels == tuple(labels) and table.field == ["hypothesis"] * 3
    sections = WanliFilterSettings().sections()
    filters = build_filters({"nli_heuristic": sections["nli_heuristic"]}, "wanli", FilterContext())
    assert [f.name for f in filters] == ["nli_heuristic"]
    funnel = run_stages(table, filters)
    step = funnel.steps[0]
    assert (step.name, step.counts["not_entailment"].n_out) == ("nli_heuristic", 0)
    assert step.rejected_by_rule == {"leaked_prompt": 2}  # «Гипотеза:» and «Пример»
    kept, dropped = kind.reassemble(table, WANLI_ROWS, {})
    assert dropped == [] and [r["id"] for r in kept] == ["s1"]
    row = kept[0]
    assert row["premise"] == "Врачи борются за жизнь женщины, доставленной в больницу."
    assert row["hypothesis"] == "Женщину лечат врачи"  # cleaned in the table, then put back
    assert sorted(row["heuristic_flags"]) == ["stripped_dangling", "stripped_wrapping"]
    assert row["neighbour_ids"] == ["n1"] and np.isnan(row["max_variability"])
    audit = table.to_arrow().to_pylist()
    assert audit[0]["flags"] == row["heuristic_flags"] and audit[1]["filter"] == "nli_heuristic"


def test_a_wanli_triple_is_two_candidates_and_copied_examples_come_from_the_context() -> None:
    kind = get_kind("wanli")
    triple = wanli_triple(
        "t1",
        "Поезд прибыл на вокзал с опозданием на два часа.",
        "Поезд опоздал.",
        "Поезд пришёл по расписанию.",
    )
    table = kind.candidates([triple], ["entailment", "neutral", "contradiction"])
    assert table.field == ["entailment", "contradiction"]
    assert [table.label_of(r) for r in range(2)] == ["entailment", "contradiction"]
    copied = {"t1": [(triple["premise"], "поезд опоздал")]}
    settings = WanliFilterSettings().sections()["nli_heuristic"]
    filters = build_filters({"nli_heuristic": settings}, "wanli", FilterContext(examples=copied))
    run_stages(table, filters)
    assert table.reason == ["copied_example", None]
    kept, _ = kind.reassemble(table, [triple], {})
    assert [(r["id"], r["label"], r["entailment"]) for r in kept] == [
        ("t1-contradiction", "contradiction", "Поезд опоздал.")
    ]


def test_a_label_outside_the_run_label_set_is_a_one_line_error() -> None:
    with pytest.raises(RudatagenError, match="label 'neutral' is not one of"):
        get_kind("wanli").candidates([{**WANLI_ROWS[0], "label": "neutral"}], ["entailment"])


def test_the_registry_skips_or_refuses_filters_for_another_kind() -> None:
    defaults = build_filters(FilterSettings().sections(), "wanli")
    assert defaults == []  # RuHNP filters at their defaults: skipped for WANLI
    explicit = FilterSettings.model_validate({"lexical": {"enabled": True}})
    with pytest.raises(RudatagenError, match="filter lexical works on ruhnp candidates, not wanli"):
        build_filters(explicit.sections(), "wanli")
    ruhnp = build_filters(WanliFilterSettings().sections(), "ruhnp")
    assert ruhnp == []


def test_the_variability_filter_needs_the_cartography_checkpoints() -> None:
    table = get_kind("wanli").candidates(WANLI_ROWS[:1], ["entailment", "not_entailment"])
    filters = build_filters(WanliFilterSettings().sections(), "wanli")
    with pytest.raises(RudatagenError, match="cartography checkpoints"):
        run_stages(table, filters)


def test_filter_refuses_a_wanli_run_in_one_line(tmp_path: Path) -> None:
    run = tmp_path / "wanli"
    (run / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(WANLI_ROWS), run / "data" / "shard-00000.parquet")
    write_manifest(run, Manifest(stage="generate", kind="wanli"))
    result = subprocess.run(
        [CLI, "filter", "--in", str(run), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "holds wanli records" in lines[0], result.stderr
    assert "generate wanli" in lines[0]
