"""``rudatagen train``: recipe validation, ingestion into trainer columns, and a real short run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.support.commands import set_args
from tests.support.train_fixtures import REPO

from rudatagen.config import load_recipe
from rudatagen.errors import RudatagenError
from rudatagen.kinds import get_kind
from rudatagen.kinds.shapes import grid_pairs
from rudatagen.training.data import read_split

SCORES = {"entailment": 1.0, "neutral": 0.5, "contradiction": 0.0, "not_entailment": 0.0}


def test_grid_pairs_use_every_side_before_repeating() -> None:
    assert grid_pairs(5, 5, 5) == [(0, 0), (1, 1), (2, 2), (3, 3), (4, 4)]
    assert grid_pairs(2, 3, 4) == [(0, 0), (1, 1), (0, 1), (1, 2)]
    assert len(grid_pairs(5, 5, 25)) == 25 == len(set(grid_pairs(5, 5, 25)))
    assert grid_pairs(2, 2, 10) == [(0, 0), (1, 1), (0, 1), (1, 0)]


def test_ruhnp_rows_become_triplets() -> None:
    rows = [
        {"query": "q1", "pos": ["p1", "p2"], "neg": ["n1", "n2", "n3"]},
        {"query": "q2", "pos": ["p3"], "neg": []},
    ]
    out = get_kind("ruhnp").training_rows(rows, 3, {})
    assert out.triplets == {
        "anchor": ["q1", "q1", "q1"],
        "positive": ["p1", "p2", "p1"],
        "negative": ["n1", "n2", "n2"],
    }
    assert sum(out.skipped.values()) == 1


def test_wanli_rows_triplets_where_possible_else_scored_pairs() -> None:
    rows = [
        {"premise": "A", "hypothesis": "e1", "label": "entailment"},
        {"premise": "A", "hypothesis": "c1", "label": "contradiction"},
        {"premise": "A", "hypothesis": "n1", "label": "neutral"},
        {"premise": "B", "hypothesis": "e2", "label": "entailment"},
        {"premise": "B", "hypothesis": "x2", "label": "not_entailment"},
    ]
    out = get_kind("wanli").training_rows(rows, 2, SCORES)
    assert out.triplets == {"anchor": ["A"], "positive": ["e1"], "negative": ["c1"]}
    assert out.pairs == {
        "sentence1": ["A", "B", "B"],
        "sentence2": ["n1", "e2", "x2"],
        "score": [0.5, 1.0, 0.0],
    }
    with pytest.raises(RudatagenError, match="not in label_scores"):
        get_kind("wanli").training_rows(
            [{"premise": "A", "hypothesis": "h", "label": "maybe"}], 1, SCORES
        )


def test_recipe_errors_are_one_line(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "task: train\ntrain:\n  datasets: [{name: a, path: x, triplet_loss: cosent}]\n"
    )
    with pytest.raises(RudatagenError, match="triplet_loss must be one of"):
        load_recipe(recipe)
    recipe.write_text("task: train\ntrain:\n  datasets: [{name: a, path: x}]\n  model: {bass: y}\n")
    with pytest.raises(RudatagenError, match=r"unknown key 'train\.model\.bass'"):
        load_recipe(recipe)
    production = load_recipe(REPO / "recipes" / "train.yaml", ["train.datasets.0.limit=10"]).train
    assert production is not None
    assert production.model.base.startswith("deepvk/USER")
    assert production.prefixes.query == "query: " and production.datasets[0].limit == 10
    assert [d.name for d in production.datasets] == ["ruhnp", "wanli"]


def test_recipe_commands_read_the_train_section(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from rudatagen.cli import app

    recipe = str(REPO / "recipes" / "train.yaml")
    shown = CliRunner().invoke(app, ["recipe", "show", "--recipe", recipe])
    assert shown.exit_code == 0 and "train:\n  name: user-base-ruhnp-wanli" in shown.output
    old = tmp_path / "old.yaml"
    old.write_text("task: train\nname: old\ndatasets: [{name: a, path: x}]\n")
    checked = CliRunner().invoke(app, ["recipe", "check", "--recipe", str(old)])
    assert checked.exit_code == 0
    assert checked.stderr.splitlines() == [
        f"warning: {old}: training keys at the top level are deprecated; nest them under 'train:'"
    ]
    assert checked.stdout == "ok: task train, base model deepvk/USER-base, datasets a\n"


def test_train_needs_a_train_section(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from rudatagen.cli import app

    recipe = REPO / "recipes" / "ruhnp.yaml"
    args = ["train", "--recipe", str(recipe), "--out", str(tmp_path / "m")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert (
        result.output
        == f"error: recipe {recipe} has no 'train:' section (see recipes/train.yaml)\n"
    )


def test_read_split_errors(published: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(RudatagenError, match="has no split 'dev'"):
        read_split(str(published["ruhnp"]), "dev")
    with pytest.raises(RudatagenError, match="not found"):
        read_split(str(tmp_path / "missing"), "train")
    with pytest.raises(RudatagenError, match="cannot load Hub dataset"):
        read_split("nobody/no-such-dataset", "train")  # HF_HUB_OFFLINE=1


def test_bad_training_data_is_one_line(minilm: str, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from typer.testing import CliRunner, Result

    from rudatagen.cli import app

    recipe = str(REPO / "recipes" / "train-local.yaml")

    def train(base: str, data: Path) -> Result:
        sets = set_args([f"train.model.base={base}", f"train.datasets.0.path={data}"])
        return CliRunner().invoke(
            app, ["train", "--recipe", recipe, "--out", str(tmp_path / "m"), *sets]
        )

    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"text": ["а"], "other": ["б"]}), bad)
    cases = ((minilm, "cannot tell the dataset kind"), ("/nonexistent/model", "cannot tell"))
    for base, message in cases:
        result = train(base, bad)
        assert result.exit_code == 2, result.output
        assert message in result.output and "Traceback" not in result.output
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"query": ["а"], "pos": [["б"]], "neg": [["в"]]}), good)
    result = train("/nonexistent/model", good)
    assert result.exit_code == 2
    assert "cannot load sentence-transformers model '/nonexistent/model'" in result.output
    assert not (tmp_path / "m").exists()


@pytest.mark.integration
def test_train_saves_a_model_that_reloads_with_its_card(trained, published) -> None:
    from sentence_transformers import SentenceTransformer

    out, result = trained
    assert "trained" in result.stderr and "rows/s" in result.stderr
    model = SentenceTransformer(str(out), device="cpu")
    assert model.prompts == {"query": "query: ", "document": "passage: ", "symmetric": "query: "}
    vectors = model.encode(["Кошка спит.", "Кот спит."], normalize_embeddings=True)
    assert vectors.shape == (2, 384)
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "language:\n- ru" in card
    assert "MultipleNegativesRankingLoss" in card and "CoSENTLoss" in card
    assert "ruhnp_validation_cosine_accuracy" in card  # the evaluator's metric
    report = json.loads((out / "training.json").read_text())
    assert report["steps"] == 6
    assert report["losses"] == {"ruhnp": "mnrl", "terra_pairs": "cosent"}
    by_name = {d["name"]: d for d in report["datasets"]}
    assert by_name["ruhnp"]["kind"] == "ruhnp" and by_name["ruhnp"]["parts"]["ruhnp"] > 100
    assert by_name["terra"]["kind"] == "wanli"
    assert "eval_ruhnp_loss" in report["metrics"]
