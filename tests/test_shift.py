"""``rudatagen shift``: the scale-free measures against hand-computed and scipy/sklearn values,
the paired bootstrap and its verdict on synthetic shifts, and the command end to end on the local
MiniLM."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import ks_2samp
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from rudatagen.cli import app
from rudatagen.evaluation.pairsets import from_published
from rudatagen.evaluation.settings import BootstrapSettings
from rudatagen.evaluation.shift import moved
from rudatagen.evaluation.shift_stats import (
    SCALE_DEPENDENT,
    SCALE_FREE,
    _ModelScores,
    separation,
    shift_statistics,
    verdict,
)

runner = CliRunner()
FAST = BootstrapSettings(n_resamples=300, seed=3)


def pooled_d(positive: np.ndarray, negative: np.ndarray) -> float:
    """Cohen's d written out: gap of means over the pooled (n − 1) standard deviation."""
    n1, n0 = positive.size, negative.size
    pooled = ((n1 - 1) * positive.var(ddof=1) + (n0 - 1) * negative.var(ddof=1)) / (n1 + n0 - 2)
    return float((positive.mean() - negative.mean()) / np.sqrt(pooled))


def reference(positive: np.ndarray, negative: np.ndarray) -> dict[str, float]:
    labels = np.r_[np.ones(positive.size), np.zeros(negative.size)]
    return {
        "roc_auc": roc_auc_score(labels, np.r_[positive, negative]),
        "cohens_d": pooled_d(positive, negative),
        "ks": ks_2samp(positive, negative).statistic,
        "negative_mean": negative.mean(),
        "negative_median": np.median(negative),
        "positive_mean": positive.mean(),
        "positive_median": np.median(positive),
        "gap": positive.mean() - negative.mean(),
    }


def test_measures_by_hand() -> None:
    result = separation(np.array([0.9, 0.8, 0.6]), np.array([0.7, 0.5, 0.4]))
    # 8 of the 9 (positive, negative) orderings are right (0.6 < 0.7)
    assert result["roc_auc"] == pytest.approx(8 / 9)
    # ECDF gap: at 0.5 the negatives are at 2/3 and the positives at 0
    assert result["ks"] == pytest.approx(2 / 3)
    # gap 0.7/3; each class has the sample variance 0.07/3, so the pooled SD is √(0.07/3)
    assert result["cohens_d"] == pytest.approx((0.7 / 3) / np.sqrt(0.07 / 3))
    assert (result["positive_median"], result["negative_median"]) == (0.8, 0.5)
    assert result["positive_mean"] == pytest.approx(2.3 / 3)
    assert result["negative_mean"] == pytest.approx(1.6 / 3)
    assert result["gap"] == pytest.approx(0.7 / 3)
    # a tie counts half in ROC-AUC: 0.6 vs 0.6
    assert separation(np.array([0.9, 0.6]), np.array([0.6, 0.1]))["roc_auc"] == pytest.approx(
        3.5 / 4
    )


@pytest.mark.parametrize(("n_pos", "n_neg", "digits"), [(57, 83, 2), (40, 40, 1), (301, 7, 8)])
def test_measures_match_scipy_and_sklearn(n_pos: int, n_neg: int, digits: int) -> None:
    """Odd and even sizes; rounding makes ties within and across the classes."""
    rng = np.random.default_rng(n_pos)
    positive = np.round(rng.normal(0.8, 0.1, n_pos), digits)
    negative = np.round(rng.normal(0.7, 0.1, n_neg), digits)
    result = separation(positive, negative)
    expected = reference(positive, negative)
    for name in (*SCALE_FREE, *SCALE_DEPENDENT):
        assert result[name] == pytest.approx(expected[name], abs=1e-12), name


def test_weighted_measures_equal_the_measures_of_the_resample() -> None:
    """The bootstrap's shortcut (a resample as multiplicities over the pairs sorted once) gives
    what sklearn/scipy give on the resampled arrays themselves."""
    rng = np.random.default_rng(7)
    positive = np.round(rng.normal(0.8, 0.1, 60), 2)
    negative = np.round(rng.normal(0.7, 0.1, 45), 2)
    scores = _ModelScores(positive, negative)
    picks = [(rng.integers(0, 60, 60), rng.integers(0, 45, 45)) for _ in range(4)]
    counts = np.stack(
        [np.r_[np.bincount(p, minlength=60), np.bincount(n, minlength=45)] for p, n in picks]
    ).astype(float)
    # pairs are numbered positives first; the measures take the counts in sorted order
    weighted = scores.measures(counts[:, scores.order])
    for row, (p, n) in enumerate(picks):
        expected = reference(positive[p], negative[n])
        for name in (*SCALE_FREE, *SCALE_DEPENDENT):
            assert weighted[name][row] == pytest.approx(expected[name], abs=1e-12), name


def cosent_like(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Finding 1 of issue 11 in miniature: after training every cosine sits higher (positives
    ~0.80 → ~0.90, negatives ~0.70 → ~0.85) and the raw gap shrinks, but the classes separate
    better (less noise around the same latent similarity of each pair)."""
    rng = np.random.default_rng(seed)
    labels = np.r_[np.ones(n // 2), np.zeros(n - n // 2)]
    latent = labels + rng.normal(0, 1, n)
    before = 0.70 + 0.10 * (latent + rng.normal(0, 1, n))
    after = 0.85 + 0.05 * (latent + 0.4 * rng.normal(0, 1, n))
    return np.clip(before, -1, 1), np.clip(after, -1, 1), labels


def test_cosines_shifted_up_with_better_separation_moved_away() -> None:
    before, after, labels = cosent_like(4000)
    result = shift_statistics(before, after, labels, FAST)
    assert result["verdict"] == "moved away"
    auc = result["scale_free"]["roc_auc"]
    assert auc["change"]["low"] > 0
    assert auc["change"]["value"] == pytest.approx(
        roc_auc_score(labels, after) - roc_auc_score(labels, before)
    )
    # the scale-free measures agree; the raw gap, which the old rule used, shrank
    for name in ("cohens_d", "ks"):
        assert result["scale_free"][name]["change"]["low"] > 0
    where = result["scale_dependent"]
    assert where["gap"]["change"]["high"] < 0
    assert where["negative_mean"]["change"]["low"] > 0.1
    assert (result["positives"], result["negatives"]) == (2000, 2000)


def test_worse_separation_moved_closer() -> None:
    before, after, labels = cosent_like(4000)
    assert shift_statistics(after, before, labels, FAST)["verdict"] == "moved closer"


def test_same_scores_twice_inconclusive() -> None:
    before, _, labels = cosent_like(500)
    result = shift_statistics(before, before, labels, FAST)
    assert result["verdict"] == "inconclusive"
    for group in ("scale_free", "scale_dependent"):
        for item in result[group].values():
            assert item["change"] == {"value": 0.0, "low": 0.0, "high": 0.0}
            assert item["before"] == item["after"]


def test_every_cosine_moved_up_in_the_same_order_changes_no_scale_free_measure() -> None:
    """A monotone rescaling (every cosine up, none overtaking another): ROC-AUC and KS change by
    exactly 0 in every resample, while the scale-dependent figures report the move."""
    before, _, labels = cosent_like(600)
    after = 0.5 + 0.5 * before  # up by 0.15 at 0.7, and squeezed: order kept
    result = shift_statistics(before, after, labels, FAST)
    assert result["verdict"] == "inconclusive"
    for name in ("roc_auc", "ks"):
        assert result["scale_free"][name]["change"] == {"value": 0.0, "low": 0.0, "high": 0.0}
    # Cohen's d is invariant to this affine map too (up to rounding)
    assert abs(result["scale_free"]["cohens_d"]["change"]["high"]) < 1e-9
    moved_up = result["scale_dependent"]["negative_mean"]["change"]
    assert moved_up["low"] > 0.1


def test_both_models_see_the_same_resampled_pairs() -> None:
    """``after = 1 − before`` reverses the order: in every resample AUC_after = 1 − AUC_before,
    KS is unchanged and the negatives' mean is reflected, so the intervals of the changes follow
    exactly from those of the before values, which holds only for paired resamples."""
    before, _, labels = cosent_like(600, seed=2)
    result = shift_statistics(before, 1 - before, labels, FAST)
    auc = result["scale_free"]["roc_auc"]
    assert auc["change"]["low"] == pytest.approx(1 - 2 * auc["before"]["high"], abs=1e-12)
    assert auc["change"]["high"] == pytest.approx(1 - 2 * auc["before"]["low"], abs=1e-12)
    ks_change = result["scale_free"]["ks"]["change"]
    assert ks_change["low"] == pytest.approx(0, abs=1e-12)
    assert ks_change["high"] == pytest.approx(0, abs=1e-12)
    mean = result["scale_dependent"]["negative_mean"]
    assert mean["change"]["high"] == pytest.approx(1 - 2 * mean["before"]["low"], abs=1e-12)
    assert result["verdict"] == "moved closer"


def test_a_small_gain_on_few_pairs_is_inconclusive() -> None:
    """AUC rises a little on 60 pairs: the interval covers 0, so no claim is made."""
    rng = np.random.default_rng(5)
    before, _, labels = cosent_like(60, seed=5)
    after = before + rng.normal(0, 0.02, before.size) + 0.01 * labels
    result = shift_statistics(before, after, labels, FAST)
    change = result["scale_free"]["roc_auc"]["change"]
    assert change["value"] > 0 and change["low"] < 0 < change["high"]
    assert result["verdict"] == "inconclusive"


def test_intervals_are_seeded_and_cover_the_estimates() -> None:
    before, after, labels = cosent_like(400)
    first = shift_statistics(before, after, labels, FAST)
    assert shift_statistics(before, after, labels, FAST) == first
    other = shift_statistics(before, after, labels, BootstrapSettings(n_resamples=300, seed=4))
    assert other["scale_free"]["roc_auc"]["change"] != first["scale_free"]["roc_auc"]["change"]
    assert first["bootstrap"] == {
        "method": "percentile",
        "n_resamples": 300,
        "confidence_level": 0.95,
        "seed": 3,
        "paired": True,
        "resampled": "pairs within each class, the same pairs under both models",
    }
    for group in ("scale_free", "scale_dependent"):
        for name, item in first[group].items():
            for part in ("before", "after", "change"):
                assert item[part]["low"] <= item[part]["value"] <= item[part]["high"], name
    # a higher level, a wider interval
    wide = shift_statistics(
        before, after, labels, BootstrapSettings(n_resamples=300, seed=3, confidence_level=0.99)
    )
    narrow, broad = first["scale_free"]["ks"]["change"], wide["scale_free"]["ks"]["change"]
    assert broad["low"] < narrow["low"] and broad["high"] > narrow["high"]


def test_verdict_rule_and_bad_input() -> None:
    assert verdict(0.001, 0.02) == "moved away"
    assert verdict(-0.02, -0.001) == "moved closer"
    assert verdict(-0.01, 0.02) == verdict(0.0, 0.02) == "inconclusive"
    with pytest.raises(ValueError, match="at least 2 positive and 2 negative"):
        shift_statistics(np.array([0.1, 0.2, 0.3]), np.array([0.1, 0.2, 0.3]), np.array([1, 0, 0]))
    with pytest.raises(ValueError, match="n_resamples must be at least 1"):
        shift_statistics(
            np.ones(4), np.ones(4), np.array([1, 1, 0, 0]), BootstrapSettings(n_resamples=0)
        )
    with pytest.raises(ValueError, match="same length"):
        shift_statistics(np.ones(4), np.ones(5), np.array([1, 1, 0, 0]))


def test_moved_in_words() -> None:
    assert moved({"value": -0.12, "low": -0.15, "high": -0.1}) == (
        "moved left (down) by 0.120 [0.100, 0.150]"
    )
    # an interval reaching the other direction shows as a bound below 0
    assert moved({"value": 0.01, "low": -0.02, "high": 0.03}) == (
        "moved right (up) by 0.010 [-0.020, 0.030]"
    )
    assert moved({"value": 0.0, "low": 0.0, "high": 0.0}).startswith("did not move")


def test_shift_without_resamples_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["shift", "--before", "a", "--after", "b", "--set", "evaluate.bootstrap.n_resamples=0"],
    )
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1].startswith("error: shift needs intervals")


def _png_size(path: Path) -> tuple[int, int]:
    import matplotlib.image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width = matplotlib.image.imread(path).shape[:2]
    return width, height


def test_shift_same_model_twice_matches_direct_encoding(
    minilm: str, published: dict[str, Path], tmp_path: Path
) -> None:
    """The same model as before and after: the JSON's numbers are those of a bare encode scored
    by sklearn/scipy, every change is 0 and the verdict is inconclusive."""
    from sentence_transformers import SentenceTransformer

    args = ["shift", "--before", minilm, "--after", minilm, "--data", str(published["ruhnp"])]
    args += ["--out", str(tmp_path), "--no-progress", "--set", "evaluate.bootstrap.n_resamples=200"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "shift.json").read_text())
    item = report["datasets"]["ruhnp:test"]
    assert item["verdict"] == "inconclusive" and "ruhnp:test: ROC-AUC" in result.output
    assert report["bootstrap"]["n_resamples"] == 200 and report["primary"] == "roc_auc"
    assert "wholly above 0" in report["rule"]

    pairs = from_published(str(published["ruhnp"]), "test")
    model = SentenceTransformer(minilm, device="cpu")
    a = model.encode(pairs.text1, normalize_embeddings=True)
    b = model.encode(pairs.text2, normalize_embeddings=True)
    sims, labels = (a * b).sum(axis=1), np.array(pairs.labels)
    assert (item["positives"], item["negatives"]) == (pairs.positives, pairs.negatives)
    expected = reference(sims[labels == 1], sims[labels == 0])
    for group in ("scale_free", "scale_dependent"):
        for name, values in item[group].items():
            assert values["before"]["value"] == pytest.approx(expected[name], abs=1e-5), name
            assert values["change"]["value"] == 0.0

    width, height = _png_size(tmp_path / item["figure"])
    assert width > 2.5 * height  # histograms before | after | ROC curves
    _png_size(tmp_path / item["cosine_figure"])
    markdown = (tmp_path / "report.md").read_text()
    assert f"]({item['figure']})" in markdown and f"]({item['cosine_figure']})" in markdown
    auc = item["scale_free"]["roc_auc"]["before"]
    assert f"{auc['value']:.3f} [{auc['low']:.3f}, {auc['high']:.3f}]" in markdown
    assert "| ruhnp:test |" in markdown and "**inconclusive**" in markdown


@pytest.mark.integration
def test_shift_end_to_end_on_a_trained_model(
    trained, minilm: str, published: dict[str, Path], shared_data: Path, tmp_path: Path
) -> None:
    """MiniLM before and after ``rudatagen train``: each verdict follows the stated rule from
    the JSON's own interval, and the report and figures carry the intervals."""
    model, _ = trained
    extra = f"{shared_data / 'stsb_ru_dev.csv'}:limit=150,name=rusts"
    out = tmp_path / "shift"
    args = ["shift", "--before", minilm, "--after", str(model), "--out", str(out)]
    args += ["--data", str(published["ruhnp"]), "--extra", extra, "--no-progress"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "shift.json").read_text())
    assert set(report["datasets"]) == {"ruhnp:test", "rusts"}
    assert report["prefixes"]["before"] == {"query": "", "document": "", "symmetric": ""}
    assert report["bootstrap"]["n_resamples"] == 1000
    markdown = (out / "report.md").read_text()
    for name, item in report["datasets"].items():
        change = item["scale_free"]["roc_auc"]["change"]
        assert item["verdict"] == verdict(change["low"], change["high"])
        auc = item["scale_free"]["roc_auc"]
        assert change["value"] == pytest.approx(auc["after"]["value"] - auc["before"]["value"])
        assert f"{name}: ROC-AUC" in result.output and item["verdict"] in result.output
        assert f"**{item['verdict']}**" in markdown
        _png_size(out / item["figure"])
        _png_size(out / item["cosine_figure"])
    assert "Where the cosines moved (scale-dependent)" in markdown
