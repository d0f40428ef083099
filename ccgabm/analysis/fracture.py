"""P(fracture within N years) per sweep point, at run level and group level, with Wilson CIs.

Definitions. A group *fractures* when a coalition of its members (at least
``behaviour.min_coalition``) leaves together to form a new group; ``fracture_month`` is the
first month it happens (``ccgabm.metrics.fractured_by``). Members leaving for an existing group
(a defection), members going back to a group they had belonged to (a return) and a group
ending because every member left (fate "emptied") are other events, not fractures; mergers and
dissolutions end a group. Months count elapsed simulated time from the start, so "within N
years" means ``fracture_month <= 12 N``.

* **run level** (primary): a run is a success if *any* group that existed in it, including
  groups formed during the run, fractures within N years. Replications are independent, so
  this is an exact binomial proportion over runs and the Wilson interval (Wilson 1927) is
  valid. This is the figure the fracture map reports.
* **group level**: over the cohort of groups present at the start (``start_month == 0``), the
  share that fracture within N years. A group that merged, dissolved or was emptied first
  counts as "did not fracture" (an empirical cumulative incidence, not a survival
  probability; ``ccgabm.analysis.competing`` estimates it for groups of every start month,
  with censoring). Groups in one run are not independent, so this Wilson interval is too
  narrow; read it as descriptive.

A horizon N years beyond a point's simulated horizon gives NaN (not estimable).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ccgabm.analysis.intervals import wilson_interval
from ccgabm.metrics import cohort, fractured_by

__all__ = ["fracture_indicators", "fracture_probability"]


def fracture_indicators(runs: pd.DataFrame, fates: pd.DataFrame, years: float) -> pd.Series:
    """Per run (aligned to ``runs``): did any group fracture within ``years``? (bool)"""
    hit = fates.loc[fractured_by(fates, 12 * years), ["point_id", "replication"]]
    keys = set(map(tuple, hit.drop_duplicates().to_numpy().tolist()))
    pairs = zip(runs["point_id"], runs["replication"], strict=True)
    return pd.Series([(int(p), int(r)) in keys for p, r in pairs], index=runs.index, dtype=bool)


def fracture_probability(
    runs: pd.DataFrame,
    fates: pd.DataFrame,
    points: pd.DataFrame,
    years: tuple[float, ...] = (5, 10),
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Long table: one row per (point, years, level) with n, x, p, ci_low, ci_high."""
    axis_cols = [c for c in points.columns if c not in ("config_digest", "horizon_months")]
    horizon = points.set_index("point_id")["horizon_months"]
    n_runs = runs.groupby("point_id").size()
    start = cohort(fates)
    n_groups = start.groupby("point_id").size()
    rows = []
    for y in years:
        run_hit = fracture_indicators(runs, fates, y).groupby(runs["point_id"]).sum()
        grp_hit = fractured_by(start, 12 * y).groupby(start["point_id"]).sum()
        for pid in points["point_id"]:
            ok = not (12 * y > horizon.get(pid, np.nan))  # NaN horizon: trust the data
            for level, n, x in (
                ("run", n_runs.get(pid, 0), run_hit.get(pid, 0)),
                ("group", n_groups.get(pid, 0), grp_hit.get(pid, 0)),
            ):
                rows.append(
                    {
                        "point_id": pid,
                        "years": y,
                        "level": level,
                        "n": int(n),
                        "x": int(x) if ok else np.nan,
                    }
                )
    table = pd.DataFrame(rows)
    estimable = table["x"].notna() & (table["n"] > 0)
    x = table["x"].fillna(0).to_numpy()
    n = table["n"].to_numpy()
    low, high = wilson_interval(np.where(estimable, x, 0), np.where(estimable, n, 0), confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        table["p"] = np.where(estimable, x / np.maximum(n, 1), np.nan)
    table["ci_low"], table["ci_high"] = low, high
    table["x"] = table["x"].astype("Int64")
    table = points[axis_cols].merge(table, on="point_id", how="right")
    return table.sort_values(["level", "years", "point_id"], ascending=[False, True, True], ignore_index=True)
