"""Decontamination against real evaluation sets (TERRa train, RuSTS-B dev from ../shared/data).

Planted rows hold copies and light edits of their sentences (case and punctuation changed, one
word changed, a sentence inside a longer text); unrelated rows (ParaPhraser headlines, Wikipedia
sentences) must stay. End to end: a generation run with planted rows goes through `rudatagen
filter --decontaminate-against` and `rudatagen publish`, whose card names the sets.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from tests.support.run_dirs import GENERATION_MANIFEST, ruhnp_records, write_run
from typer.testing import CliRunner

from rudatagen.cli import app
from rudatagen.config import load_recipe
from rudatagen.core.manifest import Manifest, write_manifest
from rudatagen.core.tables import iter_rows
from rudatagen.filters.contamination import COPY, NEAR, NGRAM, ContaminationIndex, Match
from rudatagen.filters.decontaminate import RULES
from rudatagen.filters.job import FilterStage
from rudatagen.filters.russian import loose_text
from rudatagen.filters.settings import DecontaminateSettings, FilterSettings

pytest.importorskip("datasketch", reason="datasketch (the `train` extra) is not installed")
runner = CliRunner()


def words(text: str) -> int:
    return len(text.split())


def louder(text: str) -> str:
    """Case and punctuation changed (ё spelt е): what no copy check may be fooled by."""
    return text.upper().replace(",", "").replace("Ё", "Е").rstrip(".") + "!"


def one_word_changed(text: str) -> str:
    parts = text.split()
    middle = next(i for i in range(len(parts) // 2, len(parts)) if parts[i].isalpha())
    parts[middle] = "совершенно"
    return " ".join(parts)


@pytest.fixture(scope="module")
def sets(shared_data: Path) -> dict[str, Path]:
    return {"terra": shared_data / "terra_train.jsonl", "stsb": shared_data / "stsb_ru_dev.csv"}


@pytest.fixture(scope="module")
def terra(sets: dict[str, Path]) -> list[dict[str, Any]]:
    return list(iter_rows(sets["terra"]))


@pytest.fixture(scope="module")
def stsb(sets: dict[str, Path]) -> list[dict[str, Any]]:
    return list(iter_rows(sets["stsb"]))


@pytest.fixture(scope="module")
def index(sets: dict[str, Path]) -> ContaminationIndex:
    return ContaminationIndex.build(DecontaminateSettings(against=[sets["terra"], sets["stsb"]]))


def source_text(index: ContaminationIndex, match: Match, tables: dict[str, list]) -> str:
    """The evaluation cell a match points at."""
    return tables[match.set_name][match.row][match.column]


def test_the_index_names_its_sets_with_their_sizes(index: ContaminationIndex) -> None:
    (terra, stsb) = index.sets
    assert (terra.name, terra.rows, stsb.name, stsb.rows) == (
        "terra_train.jsonl",
        2616,
        "stsb_ru_dev.csv",
        1500,
    )
    # every string column: premise and hypothesis (not label), sentence1 and sentence2
    assert 2616 < terra.texts <= 2 * 2616 and 1500 < stsb.texts <= 3000


def test_copies_and_light_edits_of_evaluation_sentences_match(
    index: ContaminationIndex, terra: list[dict], stsb: list[dict]
) -> None:
    originals = [
        (row["sentence1"], "stsb_ru_dev.csv") for row in stsb if words(row["sentence1"]) >= 10
    ][:20]
    originals += [
        (row["premise"], "terra_train.jsonl") for row in terra if 10 <= words(row["premise"]) <= 25
    ][:20]
    assert len(originals) == 40
    variants = {
        variant: (original, set_name)
        for original, set_name in originals
        for variant in (original, louder(original), one_word_changed(original))
    }
    found = index.match_all(list(variants))
    tables = {"terra_train.jsonl": terra, "stsb_ru_dev.csv": stsb}
    for variant, (original, set_name) in variants.items():
        match = found.get(variant)
        assert match is not None, variant
        assert match.set_name == set_name
        if variant != one_word_changed(original):  # an edit may sit nearer a sibling sentence
            assert loose_text(source_text(index, match, tables)) == loose_text(original)
    # a copy up to case and punctuation is a copy; a one-word edit stays above 0.5
    assert {found[louder(o)].rule for o, _ in originals} == {COPY}
    edits = [found[one_word_changed(o)] for o, _ in originals]
    assert all(m.figure >= 0.5 for m in edits if m.rule == NEAR)


def test_unrelated_sentences_do_not_match(index: ContaminationIndex, shared_data: Path) -> None:
    rows = iter_rows(shared_data / "ru_wiki_sentences.tsv", ["text"])
    wiki = [row["text"] for row in rows][:3000]
    assert index.match_all(wiki) == {}


def test_an_evaluation_text_inside_a_longer_text_matches_by_its_words(
    index: ContaminationIndex, terra: list[dict], stsb: list[dict], shared_data: Path
) -> None:
    context = [row["text"] for row in iter_rows(shared_data / "ru_wiki_sentences.tsv", ["text"])]
    long_premise = next(row["premise"] for row in terra if 20 <= words(row["premise"]) <= 30)
    middling = next(row["sentence1"] for row in stsb if words(row["sentence1"]) == 9)
    short = next(row["sentence1"] for row in stsb if words(row["sentence1"]) == 5)
    texts = [f"{context[0]} {long_premise} {context[1]}", f"{context[2]} {middling} {context[3]}"]
    short_inside = f"{context[4]} {short} {context[5]}"
    found = index.match_all([*texts, short_inside])
    assert (found[texts[0]].rule, found[texts[0]].figure) == (NGRAM, 13)
    assert (found[texts[1]].rule, found[texts[1]].figure) == (NGRAM, 9)  # the whole of it
    assert short_inside not in found  # five words: below min_ngram_words, and no near-copy


# --- the stage, end to end ----------------------------------------------------------------------


def plant(
    records: list[dict[str, Any]], targets: list[str], terra: list[dict], stsb: list[dict]
) -> dict[str, str]:
    """Give six records (``targets``) an evaluation text: an added paraphrase or
    non-paraphrase (a copy, case/punctuation changed, one word changed, inside a longer text)
    or the query itself. Returns, per planted record, the set its text comes from."""
    premises = [row["premise"] for row in terra if 10 <= words(row["premise"]) <= 25]
    sentences = [row["sentence1"] for row in stsb if words(row["sentence1"]) >= 10]
    by_id = {record["id"]: record for record in records}
    plants = [
        ("pos", premises[0], "terra_train.jsonl"),
        ("neg", louder(sentences[0]), "stsb_ru_dev.csv"),
        ("pos", one_word_changed(premises[1]), "terra_train.jsonl"),
        ("neg", one_word_changed(sentences[1]), "stsb_ru_dev.csv"),
        ("pos", f"{by_id[targets[4]]['query']} {premises[2]}", "terra_train.jsonl"),
        ("query", louder(premises[3]), "terra_train.jsonl"),
    ]
    for record_id, (field, text, _) in zip(targets, plants, strict=True):
        record = by_id[record_id]
        if field == "query":
            record["query"] = text
        else:
            record[field] = [*record[field], text]
    return {
        record_id: set_name for record_id, (_, _, set_name) in zip(targets, plants, strict=True)
    }


def kept_ids(run: Path) -> set[str]:
    return {row["id"] for row in pq.read_table(run / "data").to_pylist()}


def test_planted_rows_are_dropped_counted_and_named_in_the_card(
    tmp_path: Path, shared_data: Path, sets: dict[str, Path], terra: list, stsb: list
) -> None:
    records = [
        {**record, "model": "m", "prompt_version": 3} for record in ruhnp_records(shared_data)[:150]
    ]
    run = write_run(tmp_path / "gen", records, GENERATION_MANIFEST)
    plain = runner.invoke(app, ["filter", "--in", str(run), "--out", str(tmp_path / "plain")])
    assert plain.exit_code == 0, plain.output
    baseline = kept_ids(tmp_path / "plain")
    # plant into rows the filters keep: without decontamination they would be published
    targets = sorted(baseline, key=lambda rid: int(rid.split("-")[1]))[2:8]
    planted = plant(records, targets, terra, stsb)
    run = write_run(tmp_path / "planted", records, GENERATION_MANIFEST)
    clean = tmp_path / "clean"
    flags = [
        "--decontaminate-against",
        str(sets["terra"]),
        "--decontaminate-against",
        str(sets["stsb"]),
    ]
    result = runner.invoke(app, ["filter", "--in", str(run), "--out", str(clean), *flags])
    assert result.exit_code == 0, result.output

    # the planted rows go, and nothing else does
    assert kept_ids(clean) == baseline - set(planted)
    rejects = pq.read_table(clean / "rejects.parquet").to_pylist()
    by_filter = [r for r in rejects if r["filter"] == "decontaminate"]
    assert {r["record_id"] for r in by_filter} == set(planted)
    reasons = {r["record_id"]: r["reason"] for r in by_filter}
    assert re.search(r"\(pos ~ terra_train\.jsonl row \d+, premise: ", reasons[targets[0]])
    assert reasons[targets[4]].startswith(f"{RULES[NGRAM]} (pos ~ terra_train.jsonl")
    assert reasons[targets[2]].startswith(f"{RULES[NEAR]} (pos ~ terra_train.jsonl")
    assert reasons[targets[5]].startswith(f"{RULES[COPY]} (anchor ~ terra_train.jsonl")

    # its own funnel step, first, with its rules; the rows dropped per set in the details
    funnel = json.loads((clean / "funnel.json").read_text(encoding="utf-8"))
    step = funnel["steps"][0]
    assert step["name"] == "decontaminate"
    dropped = sum(c["in"] - c["out"] for c in step["counts"].values())
    assert dropped == len(by_filter) == sum(step["rejected_by_rule"].values())
    assert set(step["rejected_by_rule"]) == set(RULES.values())
    by_set = {"terra_train.jsonl": 4, "stsb_ru_dev.csv": 2}
    assert funnel["details"]["decontaminate"] == {"rows_dropped": 6, "by_set": by_set}
    manifest = json.loads((clean / "manifest.json").read_text(encoding="utf-8"))
    entry = next(f for f in manifest["filters"] if f["name"] == "decontaminate")
    sizes = {s["name"]: (s["rows"], s["texts"]) for s in entry["settings"]["sets"]}
    assert {name: rows for name, (rows, _) in sizes.items()} == {
        "terra_train.jsonl": 2616,
        "stsb_ru_dev.csv": 1500,
    }

    # the card of a real publish names the sets, their sizes and the rows dropped
    hub = tmp_path / "hub"
    published = runner.invoke(
        app, ["publish", "--in", str(clean), "--out", str(hub), "--split", "test=0.1"]
    )
    assert published.exit_code == 0, published.output
    card = (hub / "README.md").read_text(encoding="utf-8")
    assert "## Decontamination" in card
    for name, (rows, texts) in sizes.items():
        assert f"| {name} | {rows} | {texts} | {by_set[name]} |" in card
    assert "a run of 13 words" in card


def test_a_retrieval_row_goes_for_a_contaminated_mined_negative(
    tmp_path: Path, sets: dict[str, Path], stsb: list[dict], shared_data: Path
) -> None:
    wiki = [row["text"] for row in iter_rows(shared_data / "ru_wiki_sentences.tsv", ["text"])]
    sentence = next(row["sentence2"] for row in stsb if words(row["sentence2"]) >= 10)
    records = [
        {
            "id": f"q{number}",
            "query": query,
            "positive": wiki[number],
            "negatives": [wiki[100 + number], *([louder(sentence)] if number == 1 else [])],
            "query_type": "question",
            "passage_id": f"p{number}",
        }
        for number, query in enumerate(["Кто основал город?", "Когда построили мост?"])
    ]
    run = write_run(tmp_path / "run", records)
    write_manifest(run, Manifest(stage="generate", kind="retrieval", recipe={}))
    settings = FilterSettings.model_validate({"decontaminate": {"against": [str(sets["stsb"])]}})
    FilterStage(settings).run([run], tmp_path / "out", progress=False)
    assert kept_ids(tmp_path / "out") == {"q0"}
    (reject,) = pq.read_table(tmp_path / "out" / "rejects.parquet").to_pylist()
    assert reject["filter"] == "decontaminate"
    assert "(negatives ~ stsb_ru_dev.csv row " in reject["reason"]


def test_the_recipe_key_and_its_checks(tmp_path: Path, sets: dict[str, Path]) -> None:
    assert FilterSettings().decontaminate.enabled is False  # off without evaluation sets
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"filters:\n  decontaminate:\n    against: [{sets['stsb']}]\n", "utf-8")
    settings = load_recipe(recipe).filters.decontaminate
    assert settings.enabled and settings.against == [sets["stsb"]]
    with pytest.raises(ValueError, match="lower bound"):
        DecontaminateSettings(ngram_words=8, min_ngram_words=10)


def test_a_missing_evaluation_file_is_a_one_line_error(tmp_path: Path, shared_data: Path) -> None:
    run = write_run(tmp_path / "gen", ruhnp_records(shared_data)[:3], GENERATION_MANIFEST)
    missing = tmp_path / "nope.csv"
    args = ["filter", "--in", str(run), "--out", str(tmp_path / "o")]
    result = runner.invoke(app, [*args, "--decontaminate-against", str(missing)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == [f"error: not found: {missing}"], result.output
