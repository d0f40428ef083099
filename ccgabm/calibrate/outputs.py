"""What a calibration target can name: summary figures and per-year series, and the run that
reports them.

A target names either a **summary figure** of a run (``summary_figures()``: the headline,
stability and departure figures, the behaviours' figures and the ``x_*`` figures of
``ccgabm.metrics.extra_figures``) or a **per-year series** (``SERIES``), computed here from the
run's tables for each financial year of the run (0 = the first). Every series is a rate, a
share, a count of organisations or events, or an amount per head, so that it does not depend on
``world.scale`` (the share of each practice's patients simulated).

``calibration_run(config, seed, series)`` is what the sweep workers execute: one run, its
summary with the ``x_*`` figures and the requested series added as ``series.<name>.<year>``
columns; the tables are dropped so that workers send little back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd

from ccgabm.events import MERGERS, Event

__all__ = ["SERIES", "Series", "calibration_run", "series_values", "summary_figures"]

Tables = dict[str, pd.DataFrame]

# Figures of ccgabm.metrics.run_summary and extra_figures that a target may name (numbers only:
# the per-group balances, seed, digest and notes are left out). tests/test_calibrate.py checks
# this list against the summary of a real run.
_FIGURES = (
    # headline
    "years_simulated", "population_start", "population_end", "emergency_admissions_per_1000",
    "referrals_per_1000", "elective_admissions_per_1000", "deaths_per_1000", "registrations_per_1000",
    "share_referred_per_year", "mean_wait_months", "waiting_list_end", "practice_referral_p90_p10",
    "emergency_gradient_q5_q1", "spend_per_head", "groups_in_deficit_end", "n_groups_end",
    # stability and departures
    "groups_fractured", "any_fracture", "first_fracture_month", "groups_with_defection",
    "groups_with_return", "groups_dissolved", "groups_merged", "voluntary_mergers", "forced_mergers",
    "consolidation_mergers",
    "groups_emptied", "groups_created", "mean_group_lifetime_years", "decommissioning_votes",
    "decommissionings", "decommissioning_votes_rejected", "fractures", "defections", "returns",
    "fractures_after_lost_votes", "fractures_after_placement", "defections_after_lost_votes",
    "departures_refused", "practice_switches", "practices_closed", "budget_per_need_gap",
)


@cache
def summary_figures() -> frozenset[str]:
    """Every summary figure a target may name: the core's, the ``x_*`` figures and those each
    registered behaviour declares (``Behaviour.figures``)."""
    from ccgabm.behaviours import REGISTERED
    from ccgabm.metrics import EXTRA_FIGURES

    names = set(_FIGURES) | set(EXTRA_FIGURES)
    for behaviour in REGISTERED:
        names.update(behaviour.figures)
    return frozenset(names)


@dataclass(frozen=True)
class Series:
    """A per-year series: what it measures, and how it is computed from a run's tables."""

    description: str
    unit: str
    compute: Callable[[Tables], pd.Series]  # indexed by financial year of the run


def _monthly_rate(column: str) -> Callable[[Tables], pd.Series]:
    def rate(tables: Tables) -> pd.Series:
        yearly = tables["monthly"].groupby("year")[[column, "person_months"]].sum()
        person_years = yearly["person_months"] / 12.0
        return 1000.0 * yearly[column] / person_years.where(person_years > 0)
    return rate


def _groups(tables: Tables) -> pd.Series:
    return tables["group_year"].groupby("year")["group"].nunique().astype(float)


def _deficit_share(tables: Tables) -> pd.Series:
    return tables["group_year"].groupby("year")["balance"].apply(lambda b: float((b < 0).mean()))


def _allocation_per_head(tables: Tables) -> pd.Series:
    gy = tables["group_year"].groupby("year")[["allocation", "population"]].sum()
    return gy["allocation"] / gy["population"].where(gy["population"] > 0)


def _waiting_per_1000(tables: Tables) -> pd.Series:
    last = tables["monthly"].groupby("year")[["waiting", "list_end"]].last()
    return 1000.0 * last["waiting"] / last["list_end"].where(last["list_end"] > 0)


def _mean_wait(tables: Tables) -> pd.Series:
    yearly = tables["monthly"].groupby("year")[["wait_months_treated", "outpatient"]].sum()
    return yearly["wait_months_treated"] / yearly["outpatient"].where(yearly["outpatient"] > 0)


def _events(*kinds: Event) -> Callable[[Tables], pd.Series]:
    def count(tables: Tables) -> pd.Series:
        years = tables["monthly"]["year"].unique()
        events = tables["events"]
        hits = events[events["kind"].isin([str(k) for k in kinds])] if len(events) else events
        per_year = (hits["month"] // 12).value_counts() if len(hits) else pd.Series(dtype=float)
        return per_year.reindex(years, fill_value=0).astype(float)
    return count


SERIES: dict[str, Series] = {
    "groups": Series("commissioning groups closing the year's accounts", "groups", _groups),
    "groups_in_deficit_share": Series("share of groups ending the year with a negative balance", "share",
                                      _deficit_share),
    "emergency_admissions_per_1000": Series("emergency admissions per 1,000 patients a year",
                                            "per 1,000", _monthly_rate("emergency")),
    "referrals_per_1000": Series("referrals per 1,000 patients a year", "per 1,000",
                                 _monthly_rate("referrals")),
    "deaths_per_1000": Series("deaths per 1,000 patients a year", "per 1,000", _monthly_rate("deaths")),
    "allocation_per_head": Series("groups' programme allocations per registered patient", "GBP",
                                  _allocation_per_head),
    "waiting_list_per_1000": Series("patients waiting at the year end per 1,000 registered", "per 1,000",
                                    _waiting_per_1000),
    "mean_wait_months": Series("mean wait of the patients treated in the year", "months", _mean_wait),
    "fractures": Series("fractures in the year", "events", _events(Event.FRACTURE)),
    "defections": Series("defections in the year", "events", _events(Event.DEFECTION)),
    "mergers": Series("groups merged into another in the year (voluntary, forced and consolidation)",
                      "events", _events(*MERGERS)),
    "dissolutions": Series("groups dissolved by the Board in the year", "events", _events(Event.DISSOLVED)),
    "practice_closures": Series("practices closed in the year", "events", _events(Event.PRACTICE_CLOSED)),
}


def series_values(name: str, tables: Tables) -> dict[str, float]:
    """``{year: value}`` of one series (years as strings, values as floats; NaN where undefined)."""
    values = SERIES[name].compute(tables)
    return {str(int(y)): float(v) if np.isfinite(v) else float("nan") for y, v in values.items()}


def calibration_run(config, seed: int, series: tuple[str, ...] = ()):
    """One run for a calibration: summary, ``x_*`` figures and the requested series; no tables."""
    from ccgabm.metrics import extra_figures
    from ccgabm.simulate import RunResult, run_simulation

    result = run_simulation(config, seed)
    summary = dict(result.summary)
    summary.update(extra_figures(result.tables, config))
    for name in series:
        summary[f"series.{name}"] = series_values(name, result.tables)
    return RunResult(summary=summary)
