"""Confidence intervals for experiment figures.

- ``mean_interval``: t-interval of a mean over independent replications.
- ``paired_difference``: with common random numbers replication r of two scenarios shares its
  seed; the per-replication difference (absolute or relative, in %) gets a t-interval.
- ``proportion``: a binomial proportion with its Wilson interval (``ccgabm.analysis``).
- ``newcombe_difference``: difference of two independent proportions (Newcombe's hybrid score
  interval built from the two Wilson intervals; Newcombe, Stat Med 1998, method 10).
- ``ols_slope``: slope of y on x with its t-interval.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ccgabm.analysis import wilson_interval

__all__ = [
    "Estimate",
    "mean_interval",
    "newcombe_difference",
    "ols_slope",
    "paired_difference",
    "proportion",
    "welch_difference",
]


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its interval and the number of observations behind it."""

    value: float
    low: float
    high: float
    n: int
    method: str = ""

    def excludes(self, x: float = 0.0) -> bool:
        """True when the interval lies wholly on one side of ``x``."""
        return bool(self.low > x or self.high < x)

    def within(self, low: float, high: float) -> bool:
        """True when the whole interval lies inside [low, high]."""
        return bool(self.low >= low and self.high <= high)

    def format(self, digits: int = 2, unit: str = "") -> str:
        """``value (low to high)`` for report tables."""
        if not np.isfinite(self.value):
            return "n/a"
        u = f" {unit}" if unit else ""
        if not (np.isfinite(self.low) and np.isfinite(self.high)):
            return f"{self.value:.{digits}f}{u} (no interval, n={self.n})"
        return f"{self.value:.{digits}f}{u} (95% CI {self.low:.{digits}f} to {self.high:.{digits}f})"


def mean_interval(x, confidence: float = 0.95) -> Estimate:
    """Mean and t-interval over independent observations (NaNs dropped)."""
    a = np.asarray(x, dtype=float)
    a = a[np.isfinite(a)]
    n = len(a)
    if n == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0, "t")
    m = float(a.mean())
    if n < 2:
        return Estimate(m, float("nan"), float("nan"), n, "t")
    se = float(a.std(ddof=1) / np.sqrt(n))
    h = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * se
    return Estimate(m, m - h, m + h, n, "t")


def paired_difference(
    runs: pd.DataFrame,
    axis: str,
    baseline,
    scenario,
    metric: str,
    relative: bool = True,
    where: dict | None = None,
    confidence: float = 0.95,
) -> Estimate:
    """Scenario minus baseline per replication (in % of baseline if ``relative``), t-interval.

    ``runs`` is the sweep's run table; rows are matched on ``replication`` (and on every other
    column named in ``where``, which also filters). With common random numbers the pair shares a
    seed, so the difference carries little noise.
    """
    df = runs
    for k, v in (where or {}).items():
        df = df[df[k] == v]
    a = df[df[axis] == baseline].set_index("replication")[metric]
    b = df[df[axis] == scenario].set_index("replication")[metric]
    a, b = a.align(b, join="inner")
    a, b = a.astype(float), b.astype(float)
    diff = 100.0 * (b - a) / a if relative else b - a
    est = mean_interval(diff.to_numpy(), confidence)
    return Estimate(est.value, est.low, est.high, est.n, "paired t (common random numbers)")


def welch_difference(a, b, confidence: float = 0.95) -> Estimate:
    """mean(b) - mean(a) for independent samples, Welch's t-interval."""
    x, y = np.asarray(a, float), np.asarray(b, float)
    x, y = x[np.isfinite(x)], y[np.isfinite(y)]
    if len(x) < 2 or len(y) < 2:
        d = float(y.mean() - x.mean()) if len(x) and len(y) else float("nan")
        return Estimate(d, float("nan"), float("nan"), len(x) + len(y), "Welch t")
    vx, vy = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    se = np.sqrt(vx + vy)
    d = float(y.mean() - x.mean())
    if se == 0:
        return Estimate(d, d, d, len(x) + len(y), "Welch t")
    df = (vx + vy) ** 2 / (vx**2 / (len(x) - 1) + vy**2 / (len(y) - 1))
    h = float(stats.t.ppf(0.5 + confidence / 2, df) * se)
    return Estimate(d, d - h, d + h, len(x) + len(y), "Welch t")


def proportion(successes: int, trials: int, confidence: float = 0.95) -> Estimate:
    """A proportion with its Wilson score interval."""
    lo, hi = wilson_interval(successes, trials, confidence)
    p = successes / trials if trials else float("nan")
    return Estimate(float(p), float(lo), float(hi), int(trials), "Wilson")


def newcombe_difference(x1: int, n1: int, x2: int, n2: int, confidence: float = 0.95) -> Estimate:
    """p1 - p2 for independent proportions, Newcombe's hybrid score interval."""
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = (float(v) for v in wilson_interval(x1, n1, confidence))
    l2, u2 = (float(v) for v in wilson_interval(x2, n2, confidence))
    d = p1 - p2
    low = d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + np.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return Estimate(float(d), float(low), float(high), int(n1 + n2), "Newcombe hybrid score")


def ols_slope(x, y, confidence: float = 0.95) -> Estimate:
    """Least-squares slope of y on x with its t-interval (n - 2 degrees of freedom)."""
    xa, ya = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(xa) & np.isfinite(ya)
    xa, ya = xa[ok], ya[ok]
    n = len(xa)
    if n < 3 or np.ptp(xa) == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), n, "OLS")
    fit = stats.linregress(xa, ya)
    h = float(stats.t.ppf(0.5 + confidence / 2, n - 2)) * float(fit.stderr)
    return Estimate(float(fit.slope), float(fit.slope) - h, float(fit.slope) + h, n, "OLS t")
