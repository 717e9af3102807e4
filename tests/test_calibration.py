"""Threshold calibration: the chosen threshold, curve points, labelled pairs, recipe snippets."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from rudatagen.errors import RudatagenError
from rudatagen.filters.calibration import (
    calibrate,
    calibrate_scores,
    load_labelled_pairs,
)
from rudatagen.filters.settings import BiEncoderSettings, CrossEncoderSettings, FilterSettings

PARAPHRASER = Path(__file__).resolve().parents[2] / "shared" / "data" / "paraphraser_train.tsv"


def precision_recall_at(labels: np.ndarray, scores: np.ndarray, threshold: float) -> tuple:
    kept = scores >= threshold
    return labels[kept].mean(), labels[kept].sum() / labels.sum()


def test_hand_computed_threshold() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3])
    labels = np.array([1, 1, 0, 1, 0, 1, 0])
    result = calibrate_scores(labels, scores, 0.75)
    # precision from the top: 1, 1, 2/3, 3/4, 3/5, 4/6, 4/7 -> the lowest reaching 0.75 is 0.6
    assert result.threshold == 0.6 and result.recipe_threshold == 0.6
    assert result.precision == 0.75 and result.recall == 0.75
    assert (result.positives, result.negatives, result.support) == (4, 3, 7)
    assert result.points["chosen"].threshold == 0.6
    assert result.points["recall_0.5"].precision == 1.0  # 0.8 keeps 2 of 4 at precision 1
    assert result.points["recall_0.95"].recall == 1.0


@pytest.mark.parametrize("target", [0.6, 0.75, 0.85, 0.9, 0.95])
def test_threshold_reaches_target_and_is_the_lowest(target: float) -> None:
    rng = np.random.default_rng(7)
    labels = (rng.random(600) < 0.4).astype(np.int8)
    # rounded float32 scores: ties, and the dtype the filters produce
    scores = np.round(rng.normal(labels * 1.5, 1.0) / 4 + 0.5, 3).astype(np.float32)
    result = calibrate_scores(labels, scores, target)
    precision, recall = precision_recall_at(labels, scores, result.threshold)
    assert precision >= target
    assert precision == pytest.approx(result.precision) and recall == pytest.approx(result.recall)
    for lower in np.unique(scores[scores < result.threshold]):
        assert precision_recall_at(labels, scores, lower)[0] < target
    # the short decimal written to the recipe keeps exactly the same pairs, in float32 too
    short = result.recipe_threshold
    assert len(repr(short)) <= len(repr(result.threshold))
    assert np.array_equal(scores >= short, scores >= result.threshold)
    assert np.array_equal(scores.astype(np.float64) >= short, scores >= result.threshold)


def test_unreachable_target_says_the_best_precision() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.6])
    labels = np.array([0, 1, 0, 1])
    with pytest.raises(RudatagenError, match=r"not reachable: the best is 0\.500"):
        calibrate_scores(labels, scores, 0.9)
    with pytest.raises(RudatagenError, match="positive and negative"):
        calibrate_scores(np.ones(4), scores, 0.9)


def test_recipe_snippets_validate_as_filter_settings() -> None:
    scores = np.array([0.91, 0.83, 0.83, 0.52, 0.31])
    labels = np.array([1, 1, 1, 0, 0])
    cases = {
        "cross_encoder": CrossEncoderSettings(model="/models/ce", kind="paraphrase"),
        "biencoder": BiEncoderSettings(model="deepvk/USER-bge-m3", query_prefix="query: "),
    }
    for scorer, settings in cases.items():
        result = calibrate_scores(labels, scores, 0.9, scorer, settings.model_dump(mode="json"))
        assert result.threshold == pytest.approx(0.83)
        parsed = yaml.safe_load(result.recipe_yaml())
        filters = FilterSettings.model_validate(parsed["filters"])
        stage = getattr(filters, scorer)
        assert stage.enabled and stage.model == settings.model
        assert stage.paraphrase_min == result.recipe_threshold
        assert 0.52 < stage.paraphrase_min <= 0.83
    assert filters.biencoder.query_prefix == "query: "
    nli = CrossEncoderSettings(model="m", kind="nli", entailment_label="ENTAILMENT")
    result = calibrate_scores(labels, scores, 0.9, "cross_encoder", nli.model_dump())
    stage = FilterSettings.model_validate(yaml.safe_load(result.recipe_yaml())["filters"])
    assert stage.cross_encoder.kind == "nli"
    assert stage.cross_encoder.entailment_label == "ENTAILMENT"
    lexical = calibrate_scores(labels, scores, 0.9, "lexical")
    assert yaml.safe_load(lexical.recipe_yaml()) is None  # comments only: no stage takes it


ROWS = [
    ("Кошка спит на окне.", "На окне спит кошка.", 1),
    ("Кошка спит на окне.", "Кошка не спит на окне.", -1),
    ("Мэр открыл новый мост.", "Новый мост открыл мэр.", 1),
    ("Мэр открыл новый мост.", "Мэр закрыл старый мост.", -1),
    ("Цены на нефть выросли.", "Нефть подорожала.", 0),
    ("Цены на нефть выросли.", "", 1),
]


def write_pairs(path: Path) -> None:
    records = [{"a": a, "b": b, "y": y} for a, b, y in ROWS]
    if path.suffix in (".tsv", ".csv"):
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, delimiter="\t" if path.suffix == ".tsv" else ",")
            writer.writerow(["a", "b", "y"])
            writer.writerows(ROWS)
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    else:
        pq.write_table(pa.Table.from_pylist(records), path)


@pytest.mark.parametrize("suffix", [".tsv", ".csv", ".jsonl", ".parquet"])
def test_load_labelled_pairs_every_format(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"pairs{suffix}"
    write_pairs(path)
    pairs = load_labelled_pairs(path, text_1="a", text_2="b", label="y", negative=(-1,))
    assert len(pairs) == 4 and pairs.labels.tolist() == [1, 0, 1, 0]
    assert pairs.text_2[2] == "Новый мост открыл мэр."
    assert pairs.skipped == {"0": 1, "(empty text)": 1}
    result = calibrate(pairs, 0.9, "lexical")
    assert result.precision == 1.0 and result.skipped == pairs.skipped


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "pairs.tsv"
    write_pairs(path)
    with pytest.raises(
        RudatagenError,
        match="has no column 'text_1', 'text_2', 'class'; its columns: 'a', 'b', 'y'",
    ):
        load_labelled_pairs(path)
    with pytest.raises(RudatagenError, match="not found"):
        load_labelled_pairs(tmp_path / "missing.tsv")
    (tmp_path / "pairs.xlsx").write_bytes(b"PK")
    with pytest.raises(RudatagenError, match="cannot tell the format"):
        load_labelled_pairs(tmp_path / "pairs.xlsx")
    with pytest.raises(RudatagenError, match="needs its filter's settings"):
        calibrate(load_labelled_pairs(path, text_1="a", text_2="b", label="y"), 0.9, "biencoder")


def test_label_values_match_as_numbers_whatever_the_format(tmp_path: Path) -> None:
    """CSV cells are strings: "1.0" and "-1" in a CSV match the same labels as 1 and -1.0."""
    path = tmp_path / "pairs.csv"
    path.write_text("a,b,y\nКот спит.,Кот дремлет.,1.0\nКот спит.,Пёс лает.,-1\n", "utf-8")
    pairs = load_labelled_pairs(path, text_1="a", text_2="b", label="y", negative=(-1.0,))
    assert pairs.labels.tolist() == [1, 0] and pairs.skipped == {}


def test_lexical_calibration_on_paraphraser() -> None:
    if not PARAPHRASER.is_file():
        pytest.skip(f"ParaPhraser not found at {PARAPHRASER}")
    pairs = load_labelled_pairs(PARAPHRASER)
    assert (int(pairs.labels.sum()), len(pairs) - int(pairs.labels.sum())) == (1688, 2582)
    assert pairs.skipped == {"0": 2957}
    result = calibrate(pairs, 0.8, "lexical")
    from rapidfuzz import fuzz

    from rudatagen.filters.russian import loose_text

    pairs_iter = zip(pairs.text_1, pairs.text_2, strict=True)
    scores = np.array([fuzz.token_sort_ratio(loose_text(a), loose_text(b)) for a, b in pairs_iter])
    scores = scores / 100
    precision, recall = precision_recall_at(pairs.labels, scores, result.recipe_threshold)
    assert precision >= 0.8 and recall == pytest.approx(result.recall)
    assert 0 < result.recall < 1
