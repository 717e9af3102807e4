"""``rudatagen evaluate``: pair sets, bad input, and end to end on the MiniLM trained by the
session fixture (``rudatagen shift``: tests/test_shift.py)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from rudatagen.cli import app
from rudatagen.errors import RudatagenError
from rudatagen.evaluation.evaluate import model_slug
from rudatagen.evaluation.pairsets import from_file, from_published, parse_extra

runner = CliRunner()


def test_published_ruhnp_test_split_as_pairs_and_triplets(published: dict[str, Path]) -> None:
    rows = pq.read_table(published["ruhnp"] / "data" / "test-00000-of-00001.parquet").to_pylist()
    pairs = from_published(str(published["ruhnp"]), "test")
    assert pairs.positives == sum(len(r["pos"]) for r in rows)
    assert pairs.negatives == sum(len(r["neg"]) for r in rows)
    assert len(pairs.triplets) == sum(len(r["pos"]) * len(r["neg"]) for r in rows)
    assert (pairs.role1, pairs.role2) == ("query", "document")


def test_published_nli_split_as_pair_classification(published: dict[str, Path]) -> None:
    pairs = from_published(str(published["wanli"]), "test")
    table = pq.read_table(published["wanli"] / "data" / "test-00000-of-00001.parquet")
    labels = table.column("label").to_pylist()
    assert pairs.positives == labels.count("entailment")
    assert pairs.negatives == labels.count("not_entailment")


def test_extra_sts_file_with_thresholds(shared_data: Path) -> None:
    path = shared_data / "stsb_ru_dev.csv"
    pairs = from_file(f"{path}:limit=200,pos_min=4,neg_max=1.5,name=rusts")
    with path.open(encoding="utf-8") as handle:
        scores = [float(r["similarity_score"]) for r in list(csv.DictReader(handle))[:200]]
    assert pairs.name == "rusts" and len(pairs.text1) == 200
    assert pairs.gold == scores
    assert pairs.positives == sum(s >= 4 for s in scores)
    assert pairs.negatives == sum(s <= 1.5 for s in scores)


def test_extra_label_file_with_mapping(shared_data: Path) -> None:
    spec = f"{shared_data / 'paraphraser_train.tsv'}:label=class,positive=1,negative=-1,limit=300"
    pairs = from_file(spec)
    with (shared_data / "paraphraser_train.tsv").open(encoding="utf-8") as handle:
        classes = [line.rstrip("\n").split("\t")[-1] for line in handle][1:301]
    assert pairs.positives == classes.count("1")
    assert pairs.negatives == classes.count("-1")
    assert sum(pairs.skipped.values()) == classes.count("0")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("{data}/stsb_ru_dev.csv:text1=nope", "no column 'nope'"),
        ("{data}/stsb_ru_dev.csv:colour=red", "bad option"),
        ("{data}/paraphraser_train.tsv:label=class,positive=7,negative=8", "outside the mapping"),
        ("{data}/ru_wiki_sentences.tsv", "cannot find the text/label columns"),
        ("{data}/missing.csv", "not found"),
    ],
)
def test_extra_errors(shared_data: Path, spec: str, message: str) -> None:
    with pytest.raises(RudatagenError, match=message):
        from_file(spec.format(data=shared_data))


def test_extra_scores_from_csv_strings(tmp_path: Path) -> None:
    """CSV cells come as strings: scores are parsed, an empty one skips the pair, a word fails."""
    path = tmp_path / "sts.csv"
    path.write_text("sentence1,sentence2,score\nа,б,4.5\nв,г,\nд,е,1\nж,з,3\n", encoding="utf-8")
    pairs = from_file(str(path))
    assert pairs.gold == [4.5, 1.0, 3.0] and (pairs.positives, pairs.negatives) == (1, 1)
    assert pairs.skipped == {"empty text or value": 1}
    path.write_text("sentence1,sentence2,score\nа,б,высокий\n", encoding="utf-8")
    with pytest.raises(RudatagenError, match="score 'высокий' in column 'score' is not a number"):
        from_file(str(path))


def test_parse_extra_keeps_colons_in_paths() -> None:
    assert parse_extra("a:b/c.csv") == (Path("a:b/c.csv"), {})
    assert parse_extra("a:b/c.csv:score=s") == (Path("a:b/c.csv"), {"score": "s"})


def test_evaluate_bad_input_is_one_line(published: dict[str, Path], tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["evaluate", "--model", str(tmp_path / "no-model"), "--data", str(published["ruhnp"])]
    )
    assert result.exit_code == 2
    assert "cannot load sentence-transformers model" in result.output.splitlines()[-1]
    result = runner.invoke(
        app, ["evaluate", "--model", "x", "--data", str(published["ruhnp"]), "--split", "nope"]
    )
    assert result.exit_code == 2 and "has no split 'nope'" in result.output
    result = runner.invoke(app, ["evaluate", "--model", "x"])
    assert result.exit_code == 2 and "nothing to evaluate on" in result.output


def test_evaluate_settings_from_the_recipe(
    minilm: str, published: dict[str, Path], tmp_path: Path
) -> None:
    """The recipe's ``evaluate:`` section names the sets; a flag replaces its value."""
    recipe = tmp_path / "eval.yaml"
    recipe.write_text(
        f"evaluate:\n  data: [{published['wanli']}]\n  split: validation\n"
        "  batch_size: 16\n  max_seq_length: 32\n  prefixes: {symmetric: 'q: '}\n",
        encoding="utf-8",
    )
    args = ["evaluate", "--model", minilm, "--recipe", str(recipe), "--no-progress"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    (path,) = (tmp_path / "a").glob("*.json")
    report = json.loads(path.read_text())
    assert list(report["datasets"]) == ["wanli:validation"]
    assert report["prefixes"]["symmetric"] == "q: "
    result = runner.invoke(app, [*args, "--split", "test", "--out", str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    (path,) = (tmp_path / "b").glob("*.json")
    assert list(json.loads(path.read_text())["datasets"]) == ["wanli:test"]
    bad = runner.invoke(app, [*args, "--set", "evaluate.batch_size=0"])
    assert bad.exit_code == 2 and "evaluate.batch_size" in bad.output


def test_evaluate_two_models_compares_them_on_the_same_pairs(
    minilm: str, published: dict[str, Path], shared_data: Path, tmp_path: Path
) -> None:
    """The same model twice: the same figures and intervals, every difference 0 with the interval
    [0, 0] and "no difference shown"; the second report does not overwrite the first."""
    extra = f"{shared_data / 'stsb_ru_dev.csv'}:limit=120,name=rusts"
    args = ["evaluate", "--model", minilm, "--model", minilm, "--data", str(published["wanli"])]
    result = runner.invoke(
        app,
        [
            *args,
            "--extra",
            extra,
            "--out",
            str(tmp_path),
            "--max-seq-length",
            "32",
            "--no-progress",
            "--set",
            "evaluate.bootstrap.n_resamples=200",
        ],
    )
    assert result.exit_code == 0, result.output
    slug = model_slug(minilm)
    first = json.loads((tmp_path / f"{slug}.json").read_text())
    second = json.loads((tmp_path / f"{slug}-2.json").read_text())
    assert first["bootstrap"]["method"] == "percentile"
    assert first["bootstrap"]["n_resamples"] == 200
    assert "comparison" not in first and first["datasets"] == second["datasets"]
    for name, metrics in first["datasets"].items():
        expected = {"ap", "roc_auc", "f1"} | ({"spearman"} if name == "rusts" else set())
        assert set(metrics["intervals"]) == expected
        for metric, interval in metrics["intervals"].items():
            assert interval["low"] <= metrics[metric] <= interval["high"]
    comparison = second["comparison"]
    assert (comparison["baseline"], comparison["model"]) == (minilm, minilm)
    assert set(comparison["datasets"]) == set(first["datasets"])
    for name, rows in comparison["datasets"].items():
        labelled = first["datasets"][name]["positives"] + first["datasets"][name]["negatives"]
        for metric, row in rows.items():
            assert (row["difference"], row["low"], row["high"]) == (0.0, 0.0, 0.0)
            assert row["n"] == (120 if metric == "spearman" else labelled)
            assert row["statement"].startswith("no difference shown on ")
            assert row["statement"] in result.output
    markdown = (tmp_path / f"{slug}-2.md").read_text()
    assert f"### {slug}-2 vs {slug}, on the same pairs" in markdown
    statements = [line for line in markdown.splitlines() if line.startswith("  - ")]
    assert len(statements) == sum(map(len, comparison["datasets"].values()))
    assert all("no difference shown" in line for line in statements)
    assert "[" in (tmp_path / f"{slug}.md").read_text()  # figures with their intervals


@pytest.mark.integration
def test_evaluate_end_to_end(
    trained, minilm: str, published: dict[str, Path], shared_data: Path, tmp_path: Path
) -> None:
    """The trained model against its base on the same pairs; each statement follows the rule
    from its own interval."""
    model, _ = trained
    extra = f"{shared_data / 'stsb_ru_dev.csv'}:limit=150,name=rusts"
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--model",
            minilm,
            "--model",
            str(model),
            "--data",
            str(published["ruhnp"]),
            "--data",
            str(published["wanli"]),
            "--extra",
            extra,
            "--out",
            str(tmp_path / "eval"),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    (report_path,) = (tmp_path / "eval").glob("*minilm-ruhnp.json")
    report = json.loads(report_path.read_text())
    assert report["prefixes"] == {
        "query": "query: ",
        "document": "passage: ",
        "symmetric": "query: ",
    }
    ruhnp = report["datasets"]["ruhnp:test"]
    for key in ("ap", "f1", "accuracy", "triplet_accuracy"):
        assert 0.0 <= ruhnp[key] <= 1.0
    assert -1.0 <= report["datasets"]["rusts"]["spearman"] <= 1.0
    assert "ap" in report["datasets"]["wanli:test"]
    table = report_path.with_suffix(".md").read_text()
    assert "| ruhnp:test |" in table and "| rusts |" in table
    comparison = report["comparison"]
    assert comparison["baseline"] == minilm and set(comparison["datasets"]) == set(
        report["datasets"]
    )
    assert set(comparison["datasets"]["rusts"]) == {"ap", "roc_auc", "f1", "spearman"}
    for rows in comparison["datasets"].values():
        for row in rows.values():
            expected = (
                " is better than "
                if row["low"] > 0
                else " is worse than "
                if row["high"] < 0
                else "no difference shown"
            )
            assert expected in row["statement"] and row["statement"] in table
