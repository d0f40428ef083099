"""Cumulative incidence of each organisational event under competing risks (Aalen–Johansen).

A group can fracture, lose members to an existing group (defection), see members go back to a
group they had belonged to (return), or end by voluntary merger, forced merger, dissolution or
being emptied. The four endings remove a group from risk of everything else, so treating them
as censoring (Kaplan–Meier) estimates the risk in a world where groups cannot end, and
overstates it. The cumulative incidence function (CIF) of kind K,
``F_K(t) = P(K happens within t years of the group forming, before the group ends otherwise)``,
is estimated by the Aalen–Johansen estimator (Aalen & Johansen 1978, *Scand J Stat* 5:141;
lifelines' ``AalenJohansenFitter``):
``F_K(t) = sum over event times t_i <= t of S(t_i-) d_Ki / n_i``, with ``S`` the Kaplan–Meier
probability of no event of any kind (K or a competing ending), ``d_Ki`` the groups with K at
``t_i`` and ``n_i`` those at risk. Intervals are delta-method intervals on the log(-log F)
scale, as lifelines', on the Greenwood-type variance of Collett (2015, *Modelling Survival Data
in Medical Research*, 3rd ed., section 12.3), computed here in closed form so that they stay
defined after the last spell at risk has had its event (lifelines' own gives NaN there).

Each group is one spell from its ``start_month``; times are years since it formed. For kind K:

* **event**: the first month of K (``fracture_month``, ``defection_month``, ``return_month``;
  for an ending kind, ``end_month`` when ``fate == K``);
* **competing event**: the group ended by another kind (``fate`` among the endings, including
  "emptied", other than K) at ``end_month`` before K's first month, or without K ever happening;
* **censored** otherwise, at ``end_month`` (the group was still in play when the run ended).

Departures (fracture, defection, return) do not end a group, so they compete with nothing but
the endings: a group that saw a defection is still at risk of fracturing.

Months are whole, so many spells share a time. The estimator is defined for tied times (all
events at ``t_i`` use the same ``n_i``); lifelines instead breaks ties between kinds by random
jitter, which can move an event past a censoring at the same month and changes the estimate.
Here ties are ordered deterministically within a month (K, then competing endings, then
censoring) by offsets far below a month, which leaves the point estimate equal to the tied
estimator's (the product-limit steps telescope), so lifelines never jitters and results are
reproducible; the variance is computed on the tied times. Times are mapped back to the
recorded ones before anything is returned.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ccgabm.events import ENDINGS, Event

__all__ = [
    "EVENT_KINDS",
    "cif_at",
    "cif_by_strata",
    "competing_spells",
    "cumulative_incidence",
    "event_incidence",
]

EVENT_KINDS: tuple[str, ...] = tuple(
    str(k)
    for k in (
        Event.FRACTURE,
        Event.DEFECTION,
        Event.RETURN,
        Event.VOLUNTARY_MERGER,
        Event.FORCED_MERGER,
        Event.CONSOLIDATION_MERGER,
        Event.DISSOLVED,
    )
)
"""The kinds whose cumulative incidence is estimated ("emptied" competes but is not reported)."""

FIRST_MONTH = {"fracture": "fracture_month", "defection": "defection_month", "return": "return_month"}
ENDING_KINDS: frozenset[str] = frozenset(str(k) for k in ENDINGS)

CENSORED, EVENT, COMPETING = 0, 1, 2
CIF_COLUMNS = ["time", "at_risk", "events", "competing", "cif", "ci_low", "ci_high"]

_EPS = 1e-6  # years (~30 s): orders ties within a month; far below the 1/12-year grid
_TIE_MESSAGE = "Tied event times"


def competing_spells(fates: pd.DataFrame, kind: str) -> pd.DataFrame:
    """``fates`` plus ``duration_years`` and ``status`` (0 censored, 1 ``kind``, 2 competing).

    See the module docstring for the definitions. Durations below 0 (an event recorded before
    the group's start month) are clipped to 0.
    """
    if kind not in EVENT_KINDS and kind not in ENDING_KINDS:
        raise ValueError(f"unknown event kind {kind!r}; expected one of {EVENT_KINDS}")
    start = fates["start_month"].to_numpy(float)
    end = fates["end_month"].to_numpy(float)
    fate = fates["fate"].fillna("").astype(str).to_numpy()
    if kind in FIRST_MONTH:
        first = fates[FIRST_MONTH[kind]].to_numpy(float)
    else:
        first = np.where(fate == kind, end, np.nan)
    other_end = np.isin(fate, list(ENDING_KINDS - {kind}))
    happened = ~np.isnan(first)
    pre_empted = other_end & (~happened | (end < np.where(happened, first, np.inf)))
    event = happened & ~pre_empted
    status = np.where(event, EVENT, np.where(other_end, COMPETING, CENSORED))
    when = np.where(event, first, end)
    out = fates.copy()
    out["status"] = status.astype(int)
    out["duration_years"] = np.maximum(when - start, 0.0) / 12.0
    return out


def _zeros(durations: np.ndarray, status: np.ndarray) -> pd.DataFrame:
    times = np.unique(np.concatenate([[0.0], durations]))
    table = _counts(times, durations, status)
    table["cif"] = 0.0
    table["ci_low"] = 0.0
    table["ci_high"] = 0.0
    return table[CIF_COLUMNS]


def _counts(times: np.ndarray, durations: np.ndarray, status: np.ndarray) -> pd.DataFrame:
    order = np.sort(durations)
    at_risk = len(durations) - np.searchsorted(order, times, side="left")

    def count(code: int) -> np.ndarray:
        hits = np.sort(durations[status == code])
        return np.searchsorted(hits, times, side="right") - np.searchsorted(hits, times, side="left")

    return pd.DataFrame(
        {"time": times, "at_risk": at_risk, "events": count(EVENT), "competing": count(COMPETING)}
    )


def cumulative_incidence(
    durations: np.ndarray | pd.Series, status: np.ndarray | pd.Series, confidence: float = 0.95
) -> pd.DataFrame:
    """Aalen–Johansen CIF of status 1, with status 2 competing and 0 censored.

    Returns one row per distinct time (and 0): ``time``, ``at_risk`` (spells with duration >=
    time), ``events`` and ``competing`` (spells ending there with status 1 or 2), ``cif``,
    ``ci_low``, ``ci_high``. The CIF is a right-continuous step function: its value at a row
    holds until the next. With no status-1 event the CIF is 0 everywhere (interval [0, 0])
    and lifelines is not called. The interval is [0, 0] while the CIF is 0.
    """
    d = np.asarray(durations, dtype=float)
    s = np.asarray(status, dtype=int)
    if d.shape != s.shape or d.ndim != 1:
        raise ValueError("durations and status must be 1-D arrays of the same length")
    if not set(np.unique(s)) <= {CENSORED, EVENT, COMPETING}:
        raise ValueError("status must be 0 (censored), 1 (event) or 2 (competing)")
    if np.isnan(d).any() or (d < 0).any():
        raise ValueError("durations must be non-negative numbers")
    if len(d) == 0:
        return pd.DataFrame(columns=CIF_COLUMNS)
    if not (s == EVENT).any():
        return _zeros(d, s)

    from lifelines import AalenJohansenFitter

    # Order ties within a time (see module docstring): the event of interest, then competing
    # events, then censoring. No internal time is 0, where lifelines overwrites the CIF with 0.
    offset = np.select([s == EVENT, s == COMPETING], [1.0, 2.0], 3.0) * _EPS
    fitter = AalenJohansenFitter(calculate_variance=False)
    with warnings.catch_warnings():
        # a jitter would make the estimate random; the ordering above rules ties out
        warnings.filterwarnings("error", message=_TIE_MESSAGE)
        fitter.fit(d + offset, s, event_of_interest=EVENT)
    estimate = fitter.cumulative_density_.iloc[:, 0]

    times = np.unique(np.concatenate([[0.0], d]))
    # after the whole tie block at t: the last internal time <= t + 3 eps
    pos = np.searchsorted(estimate.index.to_numpy(float), times + 3.5 * _EPS, side="right") - 1
    table = _counts(times, d, s)
    cif = np.clip(estimate.to_numpy(float)[pos], 0.0, 1.0)
    variance = _variance(table, cif)
    table["cif"] = cif
    table["ci_low"], table["ci_high"] = _loglog_interval(cif, variance, confidence)
    return table[CIF_COLUMNS]


def _variance(table: pd.DataFrame, cif: np.ndarray) -> np.ndarray:
    """Delta-method variance of the Aalen–Johansen CIF at each row of a tied-time table.

    Collett (2015), section 12.3 (the estimator lifelines implements), at times t_i with n_i at
    risk, d_i events of any kind, d_Ki of the kind of interest and S_i- the all-cause Kaplan–Meier
    survival just before t_i:
    ``Var F(t) = sum_{t_i <= t} (F(t) - F(t_i))^2 d_i / (n_i (n_i - d_i))
    + S_i-^2 d_Ki (n_i - d_Ki) / n_i^3 - 2 (F(t) - F(t_i)) S_i- d_Ki / n_i^2``.
    Where every spell at risk has an event (n_i = d_i, only at the last event time) the first
    term is 0 times infinity in floating point (lifelines gives NaN from there on); it is 0,
    since no spell is left to move F after t_i, and is taken so. Sums are cumulative: O(rows).
    """
    n = table["at_risk"].to_numpy(float)
    d = (table["events"] + table["competing"]).to_numpy(float)
    dk = table["events"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        survival = np.cumprod(np.where(n > 0, 1 - d / n, 1.0))
        lag = np.concatenate([[1.0], survival[:-1]])
        c1 = np.where(n > d, d / (n * (n - d)), 0.0)
        c2 = np.where(n > 0, lag**2 * dk * (n - dk) / n**3, 0.0)
        c3 = np.where(n > 0, lag * dk / n**2, 0.0)
    a, b, c = np.cumsum(c1), np.cumsum(c1 * cif), np.cumsum(c1 * cif**2)
    e, g = np.cumsum(c3), np.cumsum(c3 * cif)
    # sum_i c1_i (F - F_i)^2 = F^2 a - 2 F b + c; sum_i c3_i (F - F_i) = F e - g
    variance = cif**2 * a - 2 * cif * b + c + np.cumsum(c2) - 2 * (cif * e - g)
    return np.maximum(variance, 0.0)


def _loglog_interval(
    cif: np.ndarray, variance: np.ndarray, confidence: float
) -> tuple[np.ndarray, np.ndarray]:
    """Interval on the log(-log F) scale (as lifelines): ``F^exp(+-z se / (F |log F|))``.

    [0, 0] where F is 0 and [1, 1] where F is 1 (the transform is undefined there and the
    variance is 0).
    """
    from scipy.stats import norm

    z = norm.ppf(0.5 + confidence / 2)
    inside = (cif > 0) & (cif < 1)
    f = np.where(inside, cif, 0.5)
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = np.exp(z * np.sqrt(variance) / (f * np.abs(np.log(f))))
    low = np.where(inside, f**spread, cif)
    high = np.where(inside, f ** (1 / spread), cif)
    return low, high


def cif_at(table: pd.DataFrame, years: float) -> tuple[float, float, float]:
    """``(cif, ci_low, ci_high)`` read off a ``cumulative_incidence`` table at ``years``.

    NaN beyond the last time when the last spell there was censored (the curve is not known
    past follow-up); a curve whose last spells all had an event stays flat afterwards.
    """
    if table.empty:
        return (np.nan, np.nan, np.nan)
    before = table[table["time"] <= years + 1e-9]
    last = table.iloc[-1]
    if years > last["time"] + 1e-9 and last["at_risk"] > last["events"] + last["competing"]:
        return (np.nan, np.nan, np.nan)
    row = before.iloc[-1]
    return (float(row["cif"]), float(row["ci_low"]), float(row["ci_high"]))


def _fit_kinds(
    spells_by_kind: dict[str, pd.DataFrame], mask: pd.Series | None, confidence: float
) -> dict[str, pd.DataFrame]:
    out = {}
    for kind, spells in spells_by_kind.items():
        part = spells if mask is None else spells[mask.to_numpy()]
        out[kind] = cumulative_incidence(part["duration_years"], part["status"], confidence)
    return out


def cif_by_strata(
    fates: pd.DataFrame,
    by: str | None,
    bins: int | None = None,
    kinds: tuple[str, ...] = EVENT_KINDS,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Long table of CIF curves: ``axis``, ``stratum``, ``kind`` and ``CIF_COLUMNS``.

    One curve per kind over all groups (``by=None``: axis "all groups", stratum "all") or per
    level of column ``by`` (quantile-binned into ``bins`` if given).
    """
    spells = {k: competing_spells(fates, k) for k in kinds}
    if by is None:
        strata = [("all groups", "all", None)]
    else:
        key = pd.qcut(fates[by], bins, duplicates="drop") if bins else fates[by]
        strata = [(by, str(level), key == level) for level in sorted(key.dropna().unique())]
    frames = []
    for axis, label, mask in strata:
        for kind, curve in _fit_kinds(spells, mask, confidence).items():
            if not curve.empty:
                frames.append(curve.assign(axis=axis, stratum=label, kind=kind))
    if not frames:
        return pd.DataFrame(columns=["axis", "stratum", "kind", *CIF_COLUMNS])
    table = pd.concat(frames, ignore_index=True)
    return table[["axis", "stratum", "kind", *CIF_COLUMNS]]


def event_incidence(
    fates: pd.DataFrame,
    points: pd.DataFrame,
    years: tuple[float, ...] = (5, 10),
    kinds: tuple[str, ...] = EVENT_KINDS,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Per point, kind and horizon: CIF within ``years`` of a group forming, with its interval.

    Groups of all replications of a point are pooled (``n_groups``; ``events``: groups with
    the kind observed within the horizon). Groups in one run are correlated, so the interval
    is too narrow; read it as descriptive. NaN beyond the point's simulated horizon or past
    follow-up.
    """
    axis_cols = [c for c in points.columns if c not in ("config_digest", "horizon_months")]
    horizon = points.set_index("point_id")["horizon_months"] if "horizon_months" in points else None
    rows = []
    for pid, part in fates.groupby("point_id", sort=True):
        limit = horizon.get(pid, np.nan) if horizon is not None else np.nan
        for kind in kinds:
            spells = competing_spells(part, kind)
            curve = cumulative_incidence(spells["duration_years"], spells["status"], confidence)
            hit = spells["status"] == EVENT
            for y in years:
                if 12 * y > limit:  # NaN horizon: trust the data
                    cif, low, high = np.nan, np.nan, np.nan
                else:
                    cif, low, high = cif_at(curve, y)
                rows.append(
                    {
                        "point_id": pid,
                        "kind": kind,
                        "years": y,
                        "n_groups": len(spells),
                        "events": int((hit & (spells["duration_years"] <= y + 1e-9)).sum()),
                        "cif": cif,
                        "ci_low": low,
                        "ci_high": high,
                    }
                )
    columns = [*axis_cols, "kind", "years", "n_groups", "events", "cif", "ci_low", "ci_high"]
    if not rows:
        return pd.DataFrame(columns=columns)
    table = points[axis_cols].merge(pd.DataFrame(rows), on="point_id", how="right")
    order = {k: i for i, k in enumerate(kinds)}
    table = table.sort_values(
        ["years", "kind", "point_id"], key=lambda c: c.map(order) if c.name == "kind" else c
    )
    return table[columns].reset_index(drop=True)
