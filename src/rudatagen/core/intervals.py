"""Confidence intervals for a proportion: a precision, a recall, a share of people's agreement.

One helper for every figure that is "k of n": calibration's precision and recall, and the precision
of the automatic labels against people's review. An interval is the two-sided interval at
``confidence`` (0.95: 95 %) from ``scipy.stats.binomtest(k, n).proportion_ci``:

- ``wilson`` (the default): the score interval; close to nominal coverage for any n and k, and
  never outside [0, 1];
- ``clopper_pearson``: the exact (conservative) interval from the binomial tails.

Every result carries its n, so a reader sees what a figure rests on (0.9 of 10 is not 0.9 of 1000).

**Clustered items.** Those intervals assume independent items. Pairs that share a text are not:
one headline paired with 100 others moves the precision as a block. ``clustered_proportion``
measures that with the design effect of a ratio under cluster sampling (Kish): the cluster-robust
variance of k/n over the plain binomial one. The interval is then computed on the effective size
n / deff (with k / deff successes), so 1,000 pairs from 200 clusters count for what they are
worth. A design effect below 1 is taken as 1 (never narrower than independent items).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from rudatagen.errors import MissingDependencyError, RudatagenError

IntervalMethod = Literal["wilson", "clopper_pearson"]
INTERVAL_METHODS: tuple[IntervalMethod, ...] = ("wilson", "clopper_pearson")
METHOD_NAMES = {"wilson": "Wilson", "clopper_pearson": "Clopper–Pearson"}
_SCIPY_NAMES = {"wilson": "wilson", "clopper_pearson": "exact"}


def _stats() -> Any:
    try:
        from scipy import stats
    except ImportError as exc:  # scipy comes with scikit-learn (the train and annotate extras)
        raise MissingDependencyError("scipy", "train", "Confidence intervals") from exc
    return stats


def _check(confidence: float, method: str) -> None:
    if not 0 < confidence < 1:
        raise RudatagenError(f"confidence must be in (0, 1), got {confidence:g}")
    if method not in _SCIPY_NAMES:
        raise RudatagenError(
            f"unknown interval method '{method}': use one of {', '.join(INTERVAL_METHODS)}"
        )


@dataclass(frozen=True)
class Proportion:
    """``successes`` of ``n`` with its interval; estimate and bounds are None when n is 0.

    ``design_effect`` 1 means independent items; above 1 the interval rests on
    ``effective_n`` = n / design_effect items.
    """

    successes: int
    n: int
    estimate: float | None
    low: float | None
    high: float | None
    confidence: float
    method: str
    design_effect: float = 1.0

    @property
    def effective_n(self) -> float:
        return self.n / self.design_effect

    def as_dict(self, digits: int = 4) -> dict[str, Any]:
        values = asdict(self)
        for key in ("estimate", "low", "high"):
            if values[key] is not None:
                values[key] = round(values[key], digits)
        values["design_effect"] = round(self.design_effect, 3)
        values["effective_n"] = round(self.effective_n, 1)
        return values

    def text(self, what: str = "n") -> str:
        """``0.806 [0.781, 0.829] (n=1234)``: the figure, its interval and what it rests on."""
        if self.estimate is None or self.low is None or self.high is None:
            return f"— ({what}=0)"
        rests = f"{what}={self.n}"
        if self.design_effect > 1.005:
            rests += f", effective {self.effective_n:.0f}"
        return f"{self.estimate:.3f} [{self.low:.3f}, {self.high:.3f}] ({rests})"


def _bounds(
    k: np.ndarray, n: np.ndarray, confidence: float, method: str
) -> tuple[np.ndarray, np.ndarray]:
    """Both ends for real-valued k and n (effective sizes need them); NaN where n is 0.

    The formulas are scipy's (the score interval without continuity correction; the beta
    quantiles); written out because ``binomtest`` takes whole numbers and one pair at a time,
    and calibration sweeps every distinct score of every fold. The tests check them against
    ``binomtest``.
    """
    alpha = 1 - confidence
    stats = _stats()
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "clopper_pearson":
            low = np.where(k > 0, stats.beta.ppf(alpha / 2, k, n - k + 1), 0.0)
            high = np.where(k < n, stats.beta.ppf(1 - alpha / 2, k + 1, n - k), 1.0)
        else:
            z = float(stats.norm.ppf(1 - alpha / 2))
            p = k / n
            denominator = 1 + z * z / n
            centre = (p + z * z / (2 * n)) / denominator
            spread = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
            low, high = np.clip(centre - spread, 0.0, 1.0), np.clip(centre + spread, 0.0, 1.0)
    empty = n <= 0
    return np.where(empty, math.nan, low), np.where(empty, math.nan, high)


def proportion(
    successes: int,
    n: int,
    confidence: float = 0.95,
    method: IntervalMethod = "wilson",
    design_effect: float = 1.0,
) -> Proportion:
    """``successes / n`` with its two-sided ``confidence`` interval (see the module docstring);
    a ``design_effect`` above 1 widens it to the effective size n / design_effect."""
    _check(confidence, method)
    successes, n = int(successes), int(n)
    if n < 0 or not 0 <= successes <= max(n, 0):
        raise RudatagenError(f"a proportion needs 0 <= successes <= n, got {successes} of {n}")
    design_effect = float(design_effect)
    design_effect = 1.0 if design_effect <= 1 + 1e-9 else design_effect  # rounding of exactly 1
    if n == 0:
        return Proportion(0, 0, None, None, None, confidence, method)
    if design_effect == 1.0:
        ci = _stats().binomtest(successes, n).proportion_ci(confidence, _SCIPY_NAMES[method])
        low, high = float(ci.low), float(ci.high)
    else:
        k, size = np.array([successes / design_effect]), np.array([n / design_effect])
        lows, highs = _bounds(k, size, confidence, method)
        low, high = float(lows[0]), float(highs[0])
    return Proportion(successes, n, successes / n, low, high, confidence, method, design_effect)


def lower_bounds(
    successes: np.ndarray,
    n: np.ndarray,
    confidence: float = 0.95,
    method: IntervalMethod = "wilson",
    design_effects: np.ndarray | None = None,
) -> np.ndarray:
    """``proportion(k, n, design_effect=d).low`` for whole arrays at once (NaN where n is 0)."""
    _check(confidence, method)
    k = np.asarray(successes, dtype=np.float64)
    size = np.asarray(n, dtype=np.float64)
    if design_effects is not None:
        deff = np.maximum(np.asarray(design_effects, dtype=np.float64), 1.0)
        k, size = k / deff, size / deff
    return _bounds(k, size, confidence, method)[0]


def ratio_design_effect(hits_by_cluster: np.ndarray, items_by_cluster: np.ndarray) -> float:
    """Kish's design effect of the ratio Σhits / Σitems over clusters (at least 1).

    deff = [G/(G−1) · Σ_g (hits_g − p·items_g)²] / [n/(n−1) · n·p·(1−p)], with p = Σhits/n,
    n = Σitems and G the clusters with an item: the cluster-robust (linearised) variance of p over
    the same estimate for independent items, each with its degrees-of-freedom factor (so clusters
    of one item give exactly 1). One cluster gives n (there is one piece of evidence); p of 0 or 1
    gives 1.
    """
    hits = np.asarray(hits_by_cluster, dtype=np.float64)
    items = np.asarray(items_by_cluster, dtype=np.float64)
    present = items > 0
    hits, items = hits[present], items[present]
    total, clusters = float(items.sum()), int(present.sum())
    if total == 0:
        return 1.0
    p = float(hits.sum()) / total
    if p in (0.0, 1.0):
        return 1.0
    if clusters < 2:
        return total
    spread = float(np.sum((hits - p * items) ** 2))
    correction = (clusters / (clusters - 1)) / (total / (total - 1))
    return max(1.0, correction * spread / (total * p * (1 - p)))


def clustered_proportion(
    hits: np.ndarray,
    clusters: np.ndarray,
    confidence: float = 0.95,
    method: IntervalMethod = "wilson",
) -> Proportion:
    """The share of true ``hits`` (one bool per item) with an interval that knows items of one
    cluster (``clusters``: an id per item) move together."""
    hits = np.asarray(hits, dtype=bool)
    _, index = np.unique(np.asarray(clusters), return_inverse=True)
    by_cluster = np.bincount(index, weights=hits.astype(np.float64))
    items = np.bincount(index)
    deff = ratio_design_effect(by_cluster, items) if len(hits) else 1.0
    return proportion(int(hits.sum()), len(hits), confidence, method, deff)
