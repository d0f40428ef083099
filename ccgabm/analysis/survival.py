"""Kaplan–Meier survival of groups (event: fracture or dissolution; lifelines).

Each group contributes one spell from its ``start_month``. The event time is the first of
fracture (``fracture_month``) and dissolution (``end_month`` of a dissolved group). Groups
still alive are censored at the horizon; groups that merge are censored at the merger
(ending by agreement is not failure — a competing-risk reading would need Aalen–Johansen).
Times are reported in years since the group formed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["group_spells", "kaplan_meier", "km_by_strata", "survival_at"]


def group_spells(fates: pd.DataFrame) -> pd.DataFrame:
    """Add ``duration_years`` and ``event`` (bool) columns to a group-fates table."""
    fractured = fates["fractured"].astype(bool) & fates["fracture_month"].notna()
    dissolved = fates["dissolved"].astype(bool)
    end = fates["end_month"].astype(float)
    event_month = np.where(fractured, np.minimum(fates["fracture_month"], end), end)
    out = fates.copy()
    out["event"] = (fractured | dissolved).to_numpy()
    out["duration_years"] = (event_month - fates["start_month"].astype(float)) / 12.0
    return out


def kaplan_meier(durations: np.ndarray, events: np.ndarray, label: str = "all") -> pd.DataFrame:
    """KM estimate as a table: time, at_risk, events, survival, ci_low, ci_high (95%)."""
    from lifelines import KaplanMeierFitter

    kmf = KaplanMeierFitter(label=label)
    kmf.fit(np.asarray(durations, float), event_observed=np.asarray(events, bool))
    sf = kmf.survival_function_[label]
    ci = kmf.confidence_interval_survival_function_
    table = kmf.event_table
    return pd.DataFrame(
        {
            "time": sf.index.to_numpy(),
            "at_risk": table["at_risk"].reindex(sf.index).to_numpy(),
            "events": table["observed"].reindex(sf.index).to_numpy(),
            "survival": sf.to_numpy(),
            "ci_low": ci.iloc[:, 0].to_numpy(),
            "ci_high": ci.iloc[:, 1].to_numpy(),
        }
    )


def km_by_strata(spells: pd.DataFrame, by: str | None, bins: int | None = None) -> pd.DataFrame:
    """KM tables per level of column ``by`` (quantile-binned if ``bins``); all groups if None."""
    if by is None:
        return kaplan_meier(spells["duration_years"], spells["event"]).assign(stratum="all")
    key = pd.qcut(spells[by], bins, duplicates="drop") if bins else spells[by]
    frames = []
    for level, part in spells.groupby(key, observed=True, sort=True):
        km = kaplan_meier(part["duration_years"], part["event"])
        frames.append(km.assign(axis=by, stratum=str(level)))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def survival_at(km: pd.DataFrame, years: float) -> float:
    """S(t) read off a KM table at ``years`` (step function, right-continuous)."""
    before = km[km["time"] <= years]
    return float(before["survival"].iloc[-1]) if len(before) else 1.0
