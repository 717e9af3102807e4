"""Intervals for proportions (``core.intervals``) and where people read them: the precision of
the automatic labels in ``agreement.json``, its Markdown summary and the dataset card."""

from __future__ import annotations

import json
import math
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pytest
from scipy.stats import binomtest
from tests.support.run_dirs import ruhnp_run
from typer.testing import CliRunner

from rudatagen.annotate.aggregate import decide
from rudatagen.annotate.agreement import agreement
from rudatagen.annotate.configs import RUHNP
from rudatagen.annotate.reports import agreement_markdown
from rudatagen.annotate.tool import Vote
from rudatagen.cli import app
from rudatagen.core.intervals import (
    clustered_proportion,
    lower_bounds,
    proportion,
    ratio_design_effect,
)
from rudatagen.errors import RudatagenError

Z = NormalDist().inv_cdf(0.975)


def wilson(k: float, n: float) -> tuple[float, float]:
    """The score interval written out from its definition."""
    p = k / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    spread = Z / (1 + Z * Z / n) * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    return centre - spread, centre + spread


def test_proportion_matches_hand_values_and_scipy() -> None:
    six_of_eleven = proportion(6, 11)
    assert six_of_eleven.estimate == 6 / 11 and six_of_eleven.n == 11
    assert (six_of_eleven.low, six_of_eleven.high) == pytest.approx(wilson(6, 11), abs=1e-12)
    assert six_of_eleven.text() == "0.545 [0.280, 0.787] (n=11)"
    # Clopper–Pearson at the edges has a closed form: 0 of n → high 1 − 0.025^(1/n)
    none = proportion(0, 20, method="clopper_pearson")
    assert none.low == 0 and none.high == pytest.approx(1 - 0.025 ** (1 / 20), abs=1e-12)
    everything = proportion(20, 20, confidence=0.9, method="clopper_pearson")
    assert everything.low == pytest.approx(0.05 ** (1 / 20), abs=1e-12) and everything.high == 1
    empty = proportion(0, 0)
    assert (empty.estimate, empty.low, empty.high) == (None, None, None)
    assert empty.text("kept") == "— (kept=0)"
    for bad, message in (
        ({"successes": 5, "n": 3}, "0 <= successes <= n"),
        ({"successes": 1, "n": 3, "confidence": 1.0}, "confidence must be in"),
        ({"successes": 1, "n": 3, "method": "wald"}, "unknown interval method 'wald'"),
    ):
        with pytest.raises(RudatagenError, match=message):
            proportion(**bad)


@pytest.mark.parametrize("method", ["wilson", "clopper_pearson"])
def test_lower_bounds_for_arrays_equal_binomtest(method: str) -> None:
    rng = np.random.default_rng(3)
    n = rng.integers(1, 3000, 200)
    k = (rng.random(200) * (n + 1)).astype(int)
    scipy_name = "exact" if method == "clopper_pearson" else "wilson"
    pairs = zip(k.tolist(), n.tolist(), strict=True)
    expected = [binomtest(a, b).proportion_ci(0.9, scipy_name).low for a, b in pairs]
    np.testing.assert_allclose(lower_bounds(k, n, 0.9, method), expected, atol=1e-9)
    assert np.isnan(lower_bounds(np.array([0]), np.array([0]))[0])


def test_design_effect_of_clustered_items_by_hand() -> None:
    # clusters (2 of 2) and (0 of 2): p = 1/2, n = 4, G = 2, Σ(hits − p·items)² = 2
    # deff = [2/1 · 2] / [4/3 · 4 · 1/4] = 3
    assert ratio_design_effect(np.array([2, 0]), np.array([2, 2])) == pytest.approx(3.0)
    assert ratio_design_effect(np.array([1, 0, 1]), np.array([1, 1, 1])) == pytest.approx(1.0)
    assert ratio_design_effect(np.array([3]), np.array([5])) == 5  # one cluster: one piece
    assert ratio_design_effect(np.array([2, 3]), np.array([2, 3])) == 1  # p = 1
    grouped = clustered_proportion(np.array([1, 1, 0, 0]), np.array(["a", "a", "b", "b"]))
    assert grouped.design_effect == pytest.approx(3.0)
    assert grouped.effective_n == pytest.approx(4 / 3)
    # the interval of 2/3 success in 4/3 trials
    assert (grouped.low, grouped.high) == pytest.approx(wilson(2 / 3, 4 / 3), abs=1e-12)
    assert grouped.text() == f"0.500 [{grouped.low:.3f}, {grouped.high:.3f}] (n=4, effective 1)"
    alone = clustered_proportion(np.array([1, 0, 1, 1, 0]), np.arange(5))
    assert alone.design_effect == 1 and (alone.low, alone.high) == pytest.approx(wilson(3, 5))


def _votes(*labels: str) -> list[Vote]:
    return [Vote(f"a{i}", label, {}, annotation_id=i + 1) for i, label in enumerate(labels)]


def hand_report() -> dict:
    """13 items the machine called paraphrase; reviewers: 6 paraphrase, 4 non-paraphrase,
    1 discard (11 reviewed) and 2 ties (unresolved)."""
    pairs = [("paraphrase", "paraphrase")] * 6 + [("paraphrase", "non_paraphrase")] * 2
    pairs += [("non_paraphrase", "non_paraphrase")] * 4 + [("broken", "broken")]
    decisions = [decide(f"k{i}", _votes(a, b), RUHNP, {}, 2) for i, (a, b) in enumerate(pairs)]
    return agreement(decisions, {d.key: "paraphrase" for d in decisions}, RUHNP)


def test_agreement_precision_has_its_wilson_interval_and_n() -> None:
    report = hand_report()
    row = report["precision_of_automatic_labels"]["paraphrase"]
    assert (row["reviewed"], row["correct"], row["precision"]) == (11, 6, round(6 / 11, 4))
    low, high = wilson(6, 11)  # 0.2801, 0.7873
    assert row["interval"] == {
        "low": round(low, 4),
        "high": round(high, 4),
        "n": 11,
        "confidence": 0.95,
        "method": "wilson",
    }
    summary = agreement_markdown(report, "p1")
    assert "| paraphrase | 11 | 6 | 1 | 0.545 | 0.280 – 0.787 | 2 |" in summary
    assert "95% Wilson interval; n is the number of reviewed items" in summary


def test_the_card_shows_the_precision_interval(tmp_path: Path, shared_data: Path) -> None:
    run = ruhnp_run(tmp_path / "runs", shared_data)
    (run / "agreement.json").write_text(json.dumps(hand_report()), encoding="utf-8")
    out = tmp_path / "hub"
    published = CliRunner().invoke(app, ["publish", "--in", str(run), "--out", str(out)])
    assert published.exit_code == 0, published.output
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "| machine label | precision | 95% interval | n (reviewed items) |" in card
    assert "| paraphrase | 0.545 | 0.280 – 0.787 | 11 |" in card
    assert "| cohen_kappa.value |" in card  # every figure still listed below
