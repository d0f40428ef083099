"""The loss of a candidate: standardised squared errors with the model's own noise allowed for.

For each observed value ``y`` (a summary figure, or one year of a series) with uncertainty
``sd``, the candidate's ``n`` replicates give a mean ``m`` and a sample variance ``s^2``. The
mean is itself uncertain (variance ``s^2 / n``), so the error is standardised by both::

    z^2 = (m - y)^2 / (sd^2 + s^2 / n)

A target's contribution is its weight times the mean of ``z^2`` over its values (so a ten-year
series counts as one target, not ten), and the loss is the sum over targets. With ``n = 1`` the
model noise cannot be estimated and is taken as 0 (the report says so). A value undefined
(NaN) in a replicate is left out of that value's ``n``; a value undefined in every replicate
makes the candidate fail: its loss would mean nothing.

The ``s^2 / n`` term says how far the mean of ``n`` replicates may stray from the model's
expected value: it keeps a candidate from being judged on its draws. It also means that, for the
same bias, a noisier candidate scores a little better, and with few replicates ``s^2`` is itself
noisy (one degree of freedom with ``n = 2``): use four or more replicates where the noise is
large against ``sd``.

A loss near the number of targets (each ``z^2`` about 1) is a fit within the stated
uncertainty; the report also gives each value's 95% interval of the model mean
(``m +- t(0.975, n - 1) s / sqrt(n)``, none with one replicate) and the spread of the replicates
(``m +- 1.96 s``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ccgabm.calibrate.spec import CalibrationSpec, Target

__all__ = ["Fit", "ValueFit", "fit_candidate"]


@dataclass(frozen=True)
class ValueFit:
    """The model against one observed value."""

    target: str
    label: str
    observed: float
    sd: float
    mean: float
    model_sd: float  # sample sd across replicates (0 with one replicate)
    n: int
    z2: float

    @property
    def mean_interval(self) -> tuple[float, float]:
        """95% interval of the model mean (Student's t with n - 1 degrees of freedom; NaN with
        one replicate, where the noise is unknown)."""
        if self.n < 2:
            return float("nan"), float("nan")
        from scipy.stats import t

        half = float(t.ppf(0.975, self.n - 1)) * self.model_sd / math.sqrt(self.n)
        return self.mean - half, self.mean + half


@dataclass(frozen=True)
class Fit:
    """A candidate's loss and the fit of every observed value; ``error`` when it cannot be scored."""

    loss: float
    values: tuple[ValueFit, ...]
    error: str = ""

    @property
    def ok(self) -> bool:
        """True when the candidate has a finite loss."""
        return not self.error and math.isfinite(self.loss)

    def records(self) -> list[dict]:
        """One plain dict per observed value (stored with the trial, read by the report); a
        figure that is not finite (the interval with one replicate) is None."""
        def plain(x):
            return None if isinstance(x, float) and not math.isfinite(x) else x

        return [{k: plain(x) for k, x in vars(v).items()} | {"interval": [plain(x) for x in v.mean_interval]}
                for v in self.values]


def _value_fit(target: Target, label: str, column: str, observed: float, sd: float,
               rows: pd.DataFrame, noise_n: int | None) -> ValueFit | str:
    if column not in rows.columns:
        return f"target {target.name!r}: the runs report no {column!r}"
    x = pd.to_numeric(rows[column], errors="coerce").to_numpy(dtype=float)
    x = x[np.isfinite(x)]
    if not len(x):
        return f"target {target.name!r}: {label} is undefined in every replicate"
    mean = float(x.mean())
    model_sd = float(x.std(ddof=1)) if len(x) > 1 else 0.0
    z2 = (mean - observed) ** 2 / (sd**2 + model_sd**2 / (noise_n or len(x)))
    if not math.isfinite(z2):
        return f"target {target.name!r}: {label} gives a standardised error that is not finite"
    return ValueFit(target=target.name, label=label, observed=observed, sd=sd, mean=mean,
                    model_sd=model_sd, n=len(x), z2=float(z2))


def fit_candidate(spec: CalibrationSpec, rows: pd.DataFrame, noise_n: int | None = None) -> Fit:
    """The loss of the candidate whose replicate run rows are ``rows``.

    ``noise_n`` scores the model noise as if the mean were of that many replicates (the check
    rerun uses the calibration's, so that its loss compares with the trials')."""
    if rows.empty:
        return Fit(loss=math.inf, values=(), error="no run of the candidate finished")
    values: list[ValueFit] = []
    loss = 0.0
    for target in spec.targets:
        fits = []
        for label, column, observed, sd in zip(target.labels, target.columns, target.values, target.sd,
                                               strict=True):
            fit = _value_fit(target, label, column, observed, sd, rows, noise_n)
            if isinstance(fit, str):
                return Fit(loss=math.inf, values=tuple(values), error=fit)
            fits.append(fit)
        values.extend(fits)
        loss += target.weight * float(np.mean([f.z2 for f in fits]))
    return Fit(loss=loss, values=tuple(values))
