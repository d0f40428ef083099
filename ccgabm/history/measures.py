"""The model's figures for each financial year of a run, in the record's terms.

``year_measures(tables)`` computes, for each year of the run (0 = the first), the figures the
history experiment compares with the published record (``ccgabm.history.record``). Each is a
share, a rate, an amount per head or a count of organisations or events, so that it does not
depend on ``world.scale`` (all practices are kept at any scale). A measure the run's tables
cannot give (an event kind or a column this model version does not have) is left out, and the
report marks its rows "not modelled in this run".

``history_run(config, seed)`` is what the sweep workers execute: one run; its summary carries
each measure as a ``h.<name>`` dict of ``{year: value}`` (stored as ``h.<name>.<year>``
columns) and, when the model can describe how its groups were formed
(``ccgabm.formation.formation_summary``), that description as ``formation.*`` figures.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from ccgabm.calibrate.outputs import SERIES
from ccgabm.events import Event

__all__ = ["MEASURES", "MERGER_KINDS", "formation_figures", "history_run", "year_measures"]

Tables = dict[str, pd.DataFrame]

# Merger event kinds: by agreement, forced for size, the Board's consolidation of a footprint.
MERGER_KINDS = {
    "voluntary": str(Event.VOLUNTARY_MERGER),
    "forced": str(Event.FORCED_MERGER),
    "consolidation": str(Event.CONSOLIDATION_MERGER),
}

# name -> (description, unit)
MEASURES: dict[str, tuple[str, str]] = {
    "groups": ("groups closing the year's accounts (the groups at the start of the year)", "groups"),
    "mergers": ("groups absorbed by mergers of any kind in the year", "groups"),
    "mergers_voluntary": ("groups absorbed by voluntary mergers", "groups"),
    "mergers_forced": ("groups absorbed by forced mergers", "groups"),
    "mergers_consolidation": ("groups absorbed by the Board's consolidation mergers", "groups"),
    "fractures": ("fractures", "events"),
    "defections": ("defections", "events"),
    "deficit_count": ("groups overspending in the year (in-year result < 0)", "groups"),
    "deficit_share": ("share of groups overspending in the year", "share"),
    "deficit_cumulative_count": ("groups with a cumulative deficit (balance < 0)", "groups"),
    "deficit_cumulative_share": ("share of groups with a cumulative deficit", "share"),
    "mean_deficit_pct": ("mean overspend of the overspending groups, % of their allocation",
                         "% of allocation"),
    "qp_paid_share": ("quality premium paid / the pot", "share"),
    "qp_paid_nothing": ("groups paid no quality premium", "groups"),
    "qp_paid_nothing_share": ("share of groups paid no quality premium", "share"),
    "emergency_per_1000": ("emergency admissions per 1,000 patients a year", "per 1,000"),
    "emergency_index": ("emergency admissions relative to the first year", "index"),
    "waiting_per_1000": ("waiting list at the year end per 1,000 registered", "per 1,000"),
    "practice_closures_pct": ("practices closed in the year, % of the year's practices",
                              "% of practices"),
    "allocation_per_head": ("programme allocation per registered patient", "GBP"),
}


def _years(tables: Tables) -> np.ndarray:
    return np.sort(tables["monthly"]["year"].unique())


def _event_counts(tables: Tables, kinds: list[str]) -> pd.Series:
    years = _years(tables)
    events = tables["events"]
    if not len(events):
        return pd.Series(0.0, index=years)
    hits = events[events["kind"].astype(str).isin(kinds)]
    return (hits["month"] // 12).value_counts().reindex(years, fill_value=0).astype(float)


def _deficits(gy: pd.DataFrame) -> dict[str, pd.Series]:
    by = gy.groupby("year")
    over = gy[gy["in_year_result"] < 0]
    pct = 100.0 * (-over["in_year_result"]) / over["allocation"].where(over["allocation"] > 0)
    years = by.size().index
    return {
        "deficit_count": by["in_year_result"].apply(lambda r: float((r < 0).sum())),
        "deficit_share": by["in_year_result"].apply(lambda r: float((r < 0).mean())),
        "deficit_cumulative_count": by["balance"].apply(lambda b: float((b < 0).sum())),
        "deficit_cumulative_share": by["balance"].apply(lambda b: float((b < 0).mean())),
        # NaN in a year with no overspending group (no mean deficit to take)
        "mean_deficit_pct": pct.groupby(over["year"]).mean().reindex(years),
    }


def _quality_premium(gy: pd.DataFrame) -> dict[str, pd.Series]:
    if not {"qp_potential", "qp_paid"} <= set(gy.columns):
        return {}
    by = gy.groupby("year")
    pot, paid = by["qp_potential"].sum(), by["qp_paid"].sum()
    eligible = gy[gy["qp_potential"] > 0]
    nothing = (eligible["qp_paid"] <= 0).groupby(eligible["year"])
    return {
        "qp_paid_share": paid / pot.where(pot > 0),
        "qp_paid_nothing": nothing.sum().astype(float).reindex(pot.index, fill_value=0.0),
        "qp_paid_nothing_share": nothing.mean().reindex(pot.index),
    }


def year_measures(tables: Tables) -> dict[str, dict[str, float]]:
    """``{measure: {year: value}}`` (years as strings; NaN where the year has no value)."""
    gy = tables["group_year"]
    monthly = tables["monthly"]
    out: dict[str, pd.Series] = {
        "groups": SERIES["groups"].compute(tables),
        "fractures": _event_counts(tables, [str(Event.FRACTURE)]),
        "defections": _event_counts(tables, [str(Event.DEFECTION)]),
        "emergency_per_1000": SERIES["emergency_admissions_per_1000"].compute(tables),
        "waiting_per_1000": SERIES["waiting_list_per_1000"].compute(tables),
        # on the Board's basis: per patient registered when it allocates (the first month)
        "allocation_per_head": gy.groupby("year")["allocation"].sum()
        / monthly.groupby("year")["list_end"].first().where(lambda n: n > 0),
    }
    for label, kind in MERGER_KINDS.items():
        out[f"mergers_{label}"] = _event_counts(tables, [kind])
    out["mergers"] = _event_counts(tables, list(MERGER_KINDS.values()))
    out.update(_deficits(gy))
    out.update(_quality_premium(gy))
    emergencies = monthly.groupby("year")["emergency"].sum().astype(float)
    first = emergencies.iloc[0] if len(emergencies) else float("nan")
    out["emergency_index"] = emergencies / first if first > 0 else emergencies * float("nan")
    practices = tables["practice_year"].groupby("year")["practice"].nunique().astype(float)
    closed = _event_counts(tables, [str(Event.PRACTICE_CLOSED)])
    out["practice_closures_pct"] = 100.0 * closed / practices.reindex(closed.index).where(
        practices > 0)
    years = _years(tables)
    return {name: {str(int(y)): (float(v) if np.isfinite(v) else float("nan"))
                   for y, v in series.reindex(years).items()}
            for name, series in out.items()}


def formation_figures(world) -> dict[str, float | str]:
    """What ``ccgabm.formation.formation_summary(world)`` says, as summary figures (empty when
    the model has no such function). A mapping or Series gives one number each; a table is
    kept whole as JSON (``formation.table``)."""
    try:
        from ccgabm.formation import formation_summary  # type: ignore[attr-defined]
    except ImportError:
        return {}
    try:
        summary = formation_summary(world)
    except TypeError as exc:  # a signature this code does not know: said in the report
        return {"unavailable": f"formation_summary(world) failed: {exc}"}
    if isinstance(summary, pd.DataFrame):
        return {"table": summary.to_json(orient="split")}
    if isinstance(summary, pd.Series):
        summary = summary.to_dict()
    out: dict[str, float | str] = {}
    if isinstance(summary, dict):
        for key, value in summary.items():
            if isinstance(value, bool | int | float | np.integer | np.floating):
                out[str(key)] = float(value)
            elif isinstance(value, str):
                out[str(key)] = value
            else:
                out[str(key)] = json.dumps(value, default=str)
    return out


def history_run(config, seed: int):
    """One run of a history sweep: summary, group fates and the year measures (no tables)."""
    from ccgabm.metrics import group_fates, run_summary
    from ccgabm.model import CommissioningModel
    from ccgabm.simulate import RunResult

    model = CommissioningModel(config, seed=seed)
    model.run()
    tables = model.datacollector.frames()
    fates = group_fates(model)
    summary = dict(run_summary(model, tables, fates))
    for name, values in year_measures(tables).items():
        summary[f"h.{name}"] = values
    formation = formation_figures(model.world)
    if formation:
        summary["formation"] = formation
    return RunResult(summary=summary, group_fates=fates)
