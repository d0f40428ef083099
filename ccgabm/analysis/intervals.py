"""Wilson score intervals for binomial proportions (no statsmodels needed)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import norm

__all__ = ["wilson_interval"]


def wilson_interval(
    successes: ArrayLike, trials: ArrayLike, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval ``(low, high)`` for ``successes`` out of ``trials``.

    Vectorised; NaN where ``trials`` is 0. Wilson (1927): centre
    ``(x + z²/2) / (n + z²)``, half-width ``z / (n + z²) * sqrt(x (n - x) / n + z²/4)``.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    x = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    if np.any(x < 0) or np.any(x > n):
        raise ValueError("successes must lie in [0, trials]")
    z = norm.ppf(0.5 + confidence / 2)
    z2 = z * z
    with np.errstate(divide="ignore", invalid="ignore"):
        centre = (x + z2 / 2) / (n + z2)
        half = z / (n + z2) * np.sqrt(x * (n - x) / n + z2 / 4)
        low = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), np.nan)
        high = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), np.nan)
    # exact bounds at the edges (avoid 1e-17 rounding)
    low = np.where(x == 0, 0.0, low)
    high = np.where((x == n) & (n > 0), 1.0, high)
    low = np.where(n > 0, low, np.nan)
    return low, high
