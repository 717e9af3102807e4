"""``rudatagen evaluate`` and ``rudatagen shift``: pair sets, bad input, and end to end on the
MiniLM trained by the session fixture."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from rudatagen.cli import app
from rudatagen.errors import RudatagenError
from rudatagen.evaluation.pairsets import from_file, from_published, parse_extra
from rudatagen.evaluation.stats import shift

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


@pytest.mark.integration
def test_evaluate_and_shift_end_to_end(
    trained, minilm: str, published: dict[str, Path], shared_data: Path, tmp_path: Path
) -> None:
    model, _ = trained
    extra = f"{shared_data / 'stsb_ru_dev.csv'}:limit=150,name=rusts"
    result = runner.invoke(
        app,
        [
            "evaluate",
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

    out = tmp_path / "shift"
    result = runner.invoke(
        app,
        [
            "shift",
            "--before",
            minilm,
            "--after",
            str(model),
            "--data",
            str(published["ruhnp"]),
            "--extra",
            extra,
            "--out",
            str(out),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    stats = json.loads((out / "shift.json").read_text())
    assert set(stats["datasets"]) == {"ruhnp:test", "rusts"}
    assert stats["prefixes"]["before"] == {"query": "", "document": "", "symmetric": ""}
    report_md = (out / "report.md").read_text()
    for item in stats["datasets"].values():
        figure = out / item["figure"]
        assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        import matplotlib.image

        assert matplotlib.image.imread(figure).shape[0] > 300
        assert f"]({item['figure']})" in report_md
        # the JSON's verdict follows the stated rule from its own numbers
        moved = item["gap_change"] > 0 and item["roc_auc_change"] >= -0.001
        assert item["negatives_moved_away"] is moved
        assert item["gap_change"] == pytest.approx(item["after"]["gap"] - item["before"]["gap"])
        assert ("moved away" if moved else "did NOT move away") in result.output
    assert "did not move away" in report_md or "moved away" in report_md


def test_shift_statistics_match_direct_encoding(
    minilm: str, published: dict[str, Path], tmp_path: Path
) -> None:
    """shift with the same model twice: the JSON's numbers are those of a bare encode."""
    from sentence_transformers import SentenceTransformer

    result = runner.invoke(
        app,
        [
            "shift",
            "--before",
            minilm,
            "--after",
            minilm,
            "--data",
            str(published["ruhnp"]),
            "--out",
            str(tmp_path),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    item = json.loads((tmp_path / "shift.json").read_text())["datasets"]["ruhnp:test"]
    assert item["negatives_moved_away"] is False and item["gap_change"] == pytest.approx(0)
    pairs = from_published(str(published["ruhnp"]), "test")
    model = SentenceTransformer(minilm, device="cpu")
    a = model.encode(pairs.text1, normalize_embeddings=True)
    b = model.encode(pairs.text2, normalize_embeddings=True)
    sims = (a * b).sum(axis=1)
    labels = np.array(pairs.labels)
    expected = shift(sims[labels == 1], sims[labels == 0], sims[labels == 1], sims[labels == 0])
    assert item["before"]["positive"]["mean"] == pytest.approx(
        expected["before"]["positive"]["mean"], abs=1e-5
    )
    assert item["before"]["ks"] == pytest.approx(expected["before"]["ks"], abs=1e-6)
    assert item["before"]["roc_auc"] == pytest.approx(expected["before"]["roc_auc"], abs=1e-6)
