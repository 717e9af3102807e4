"""Kinds and manifests: the kind is read, not guessed; lineage reaches the generation run."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.support.run_dirs import GENERATION_MANIFEST, ruhnp_records, write_run

from rudatagen.core.manifest import (
    Manifest,
    generation_of,
    input_ref,
    lineage,
    read_manifest,
    write_manifest,
)
from rudatagen.errors import RudatagenError
from rudatagen.kinds import KINDS, AnnotationSpec, Kind, get_kind, kind_of_run, kind_of_table
from rudatagen.publish.job import PublishStage
from rudatagen.publish.settings import PublishSettings


def test_legacy_manifests_read_into_stages_and_kinds(tmp_path: Path) -> None:
    cases = {
        "ruhnp": ("generate", "ruhnp"),
        "wanli": ("generate", "wanli"),
        "filter": ("filter", None),
        "annotate-wanli": ("annotate-pull", "wanli"),
        "cartography": ("cartography", None),
    }
    for task, (stage, kind) in cases.items():
        manifest = Manifest.model_validate({"task": task, "input": "/runs/x", "extra_key": 1})
        assert (manifest.stage, manifest.kind) == (stage, kind)
        assert manifest.input_path == Path("/runs/x")
        assert manifest.extra("extra_key") == 1
    written = Manifest(stage="filter", kind="ruhnp", inputs=[input_ref(tmp_path, None)], n=3)
    write_manifest(tmp_path, written)
    assert read_manifest(tmp_path) == written
    (tmp_path / "manifest.json").write_text('{"stage": 3, "inputs": "x"}', encoding="utf-8")
    with pytest.raises(RudatagenError, match=r"manifest\.json"):
        read_manifest(tmp_path)


def test_lineage_follows_inputs_to_the_generation_and_stops_on_cycles(tmp_path: Path) -> None:
    gen, filt, pulled = tmp_path / "gen", tmp_path / "filt", tmp_path / "pulled"
    for path in (gen, filt, pulled):
        path.mkdir()
    write_manifest(gen, Manifest(stage="generate", kind="ruhnp", fingerprint="f1"))
    write_manifest(filt, Manifest(stage="filter", kind="ruhnp", inputs=[input_ref(gen, None)]))
    write_manifest(
        pulled, Manifest(stage="annotate-pull", kind="ruhnp", inputs=[input_ref(filt, None)])
    )
    chain = lineage(pulled)
    assert [m.stage for _, m in chain] == ["annotate-pull", "filter", "generate"]
    generation = generation_of(m for _, m in chain)
    assert generation is not None and generation.fingerprint == "f1"
    write_manifest(gen, Manifest(stage="generate", inputs=[input_ref(pulled, None)]))
    assert len(lineage(pulled)) == 3  # a cycle ends instead of looping


def test_kind_of_run_reads_the_manifest_and_detects_only_without_one(tmp_path: Path) -> None:
    rows = [{"id": "1", "query": "q", "pos": ["p"], "neg": ["n"]}]
    run = write_run(tmp_path / "run", rows, {"stage": "filter", "kind": "ruhnp"})
    assert kind_of_run(run).name == "ruhnp"
    with pytest.raises(RudatagenError, match="holds ruhnp records"):
        kind_of_run(run, explicit="wanli")
    bare = write_run(tmp_path / "bare", rows)
    assert kind_of_run(bare).name == "ruhnp"
    triples = [{"premise": "p", "entailment": "e", "contradiction": "c"}]
    assert kind_of_table(triples[0], "x").name == "wanli"
    with pytest.raises(RudatagenError, match="cannot tell the dataset kind"):
        kind_of_table({"text": "a"}, "x")
    with pytest.raises(RudatagenError, match="unknown dataset kind 'xnli'"):
        get_kind("xnli")


@pytest.mark.parametrize("kind", list(KINDS.values()), ids=list(KINDS))
def test_every_kind_is_complete(kind: Kind) -> None:
    assert set(kind.reference_columns) <= set(kind.record_columns) | {"label"}
    assert kind.group_column in kind.reference_columns
    assert "<View" in kind.annotation.label_config()
    for shape in kind.training_shapes:
        assert kind.prompt_roles(shape)
    assert kind.card.pretty_name and kind.card.task_categories
    # the labelling config shows the task data the spec makes, offers its choices (as aliases)
    # and has a text area for each revisable field
    spec = kind.annotation
    config = ElementTree.fromstring(spec.label_config())
    shown = {tag.attrib["value"][1:] for tag in config.iter("Text") if "$" in tag.attrib["value"]}
    assert shown and shown <= set(spec.item_data)
    assert tuple(choice.attrib["alias"] for choice in config.iter("Choice")) == spec.choices
    assert {area.attrib["name"] for area in config.iter("TextArea")} == set(spec.revisions)
    assert set(kind.review_columns).isdisjoint(kind.record_columns)


@pytest.mark.parametrize("command", [["publish"], ["annotate", "push"], ["annotate", "pull"]])
def test_kind_options_name_every_registered_kind(command: list[str]) -> None:
    import typer

    from rudatagen.cli import app

    found = typer.main.get_command(app)
    for name in command:
        found = found.commands[name]  # a group's subcommands
    (option,) = [p for p in found.params if "--kind" in getattr(p, "opts", ())]
    assert f"({', '.join(KINDS)})" in (option.help or "")


def test_an_annotation_spec_that_shows_no_candidate_column_is_refused() -> None:
    fields = dataclasses.asdict(get_kind("wanli").annotation)
    with pytest.raises(ValueError, match="not in"):
        AnnotationSpec(**{**fields, "item_data": {"premise": "premise"}})
    with pytest.raises(ValueError, match="revised field 'hypothesis' shows no anchor/text"):
        AnnotationSpec(**{**fields, "item_data": {"premise": "anchor", "hypothesis": "label"}})


def test_reassemble_drops_records_short_of_a_minimum_and_says_which() -> None:
    kind = get_kind("ruhnp")
    records = [
        {"id": "a", "query": "q1", "pos": ["p1", "p2"], "neg": ["n1"], "model": "m"},
        {"id": "b", "query": "q2", "pos": ["p3"], "neg": ["n2"], "model": "m"},
    ]
    table = kind.candidates(records)
    table.reject(np.array([0, 3]), "test", ["x", "y"])  # a's first pos, b's only pos
    kept, dropped = kind.reassemble(table, records, {"paraphrase": 1})
    assert kept == [{**records[0], "pos": ["p2"], "neg": ["n1"]}]
    assert dropped == [{"id": "b", "reason": "too few survivors: 0 paraphrase (min 1)"}]
    kept, dropped = kind.reassemble(table, records, {})
    assert [r["pos"] for r in kept] == [["p2"], []] and dropped == []


def test_reviewed_ruhnp_drops_tied_candidates_not_records() -> None:
    table = pa.table(
        {
            "query": ["q1", "q2"],
            "pos": [["a", "b"], ["c"]],
            "neg": [["d"], ["e"]],
            "pos_status": [["reviewed", "unresolved"], ["unresolved"]],
            "neg_status": [["reviewed"], ["unresolved"]],
        }
    )
    rows, dropped = get_kind("ruhnp").reference_rows(table, keep_unresolved=False)
    assert rows == [{"query": "q1", "pos": ["a"], "neg": ["d"]}]
    assert dropped == 3
    rows, dropped = get_kind("ruhnp").reference_rows(table, keep_unresolved=True)
    assert len(rows) == 2 and dropped == 0


def test_evaluation_pairs_per_kind() -> None:
    ruhnp = get_kind("ruhnp").evaluation_pairs(
        [{"query": "q", "pos": ["p1", "p2"], "neg": ["n"]}], "set", "src"
    )
    assert (ruhnp.labels, ruhnp.role1, ruhnp.role2) == ([1, 1, 0], "query", "document")
    assert ruhnp.triplets == [("q", "p1", "n"), ("q", "p2", "n")]
    wanli = get_kind("wanli").evaluation_pairs(
        [
            {"premise": "a", "hypothesis": "b", "label": "entailment"},
            {"premise": "a", "hypothesis": "c", "label": "Contradiction"},
            {"premise": "a", "hypothesis": "d", "label": "neutral"},
        ],
        "set",
        "src",
    )
    assert wanli.labels == [1, 0] and wanli.triplets == [("a", "b", "c")]
    assert wanli.skipped == {"neutral (not a pair-classification class)": 1}


def test_reviewed_run_card_names_the_generation(shared_data: Path, tmp_path: Path) -> None:
    """generate → filter → annotate pull → publish, with the manifests each stage writes: the
    card takes model, backend and prompt from the generation, not from the pull step."""
    records = ruhnp_records(shared_data)[:40]
    gen = write_run(tmp_path / "gen", records, GENERATION_MANIFEST)
    filt = write_run(tmp_path / "filt", records)
    write_manifest(
        filt, Manifest(stage="filter", kind="ruhnp", inputs=[input_ref(gen, read_manifest(gen))])
    )
    (filt / "funnel.json").write_text(
        json.dumps({"steps": [{"name": "lexical", "counts": {"all": {"in": 10, "out": 8}}}]}),
        encoding="utf-8",
    )
    pulled = tmp_path / "pulled"
    (pulled / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(records), pulled / "data" / "shard-00000.parquet")
    upstream = input_ref(filt, read_manifest(filt))
    write_manifest(pulled, Manifest(stage="annotate-pull", kind="ruhnp", inputs=[upstream]))
    (pulled / "agreement.json").write_text(json.dumps({"items": 7}), encoding="utf-8")
    PublishStage(PublishSettings(splits={"test": 0.2})).run([pulled], tmp_path / "hub")
    card = (tmp_path / "hub" / "README.md").read_text(encoding="utf-8")
    assert "| LLM | Qwen/Qwen2.5-32B-Instruct |" in card
    assert "| backend | openai |" in card and "| prompt | ruhnp v3 |" in card
    assert "Steps after generation: filter → annotate-pull." in card
    assert "| lexical |" in card and "| items | 7 |" in card
    record = json.loads((tmp_path / "hub" / "rudatagen.json").read_text(encoding="utf-8"))
    assert record["inputs"][0]["stage"] == "annotate-pull"
