"""Every run-level figure derived from a run's tables: one home for the summary, sweeps and findings.

- ``headline_figures``: rates per 1,000 a year, share referred, spend per head, balances,
  gradients (the calibration targets);
- ``stability_figures``: fractures, dissolutions, mergers, switches, lifetimes, decisions;
- ``extra_figures``: the ``x_*`` figures some findings need (running cost per head, ...);
- ``group_fates``: one row per group that ever existed;
- one definition of each organisational event, used everywhere (the summary, ``ccgabm
  analyze``, the findings): a group *fractured* when a coalition of at least
  ``behaviour.min_coalition`` of its members left together to form a new group
  (``fracture_month``: the first time, in months since the start). Defections to existing
  groups, returns, mergers and dissolutions are other events with their own columns
  (``ccgabm.events``). A run has *a fracture within N years* when any group that existed in
  it, including groups formed during the run, fractured at ``fracture_month <= 12 N``. The
  *cohort* is the groups present at the start (``start_month == 0``).

Behaviours add their own figures (``Behaviour.summary``), e.g. core stability or the dilemma.

Undefined figures: a figure a run cannot define (a percentile ratio whose 10th percentile is
0, a quintile ratio with an empty quintile or no admissions in Q1, a mean over nothing) is
``None``, and ``summary["figure_notes"][name]`` says why; ``figure_notes`` is present only
when a run has such a figure. ``check_figures`` is the check every summary passes before it is
written (``summary.json``, a sweep store row): any figure still NaN or infinite becomes
``None`` with a note, so no written figure is NaN or infinite. In memory, a run with no
fracture keeps ``first_fracture_month`` as NaN (as do behaviours' "nothing to measure"
markers); written, it is null with the note "no group fractured".
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ccgabm.events import MERGERS, Event

if TYPE_CHECKING:
    from ccgabm.config import Config
    from ccgabm.model import CommissioningModel


# ---- fractures ---------------------------------------------------------------------------------
def fractured_by(fates: pd.DataFrame, months: float = np.inf) -> pd.Series:
    """Per group (row of ``fates``): did it fracture at ``fracture_month <= months``?"""
    return fates["fractured"].astype(bool) & (fates["fracture_month"] <= months)


def cohort(fates: pd.DataFrame) -> pd.DataFrame:
    """The groups present at the start of the run."""
    return fates[fates["start_month"] == 0]


# Per group: the first month of each departure kind, and how (if at all) it ended.
FIRST_MONTH_COLUMNS = {Event.FRACTURE: "fracture_month", Event.DEFECTION: "defection_month",
                       Event.RETURN: "return_month"}


def group_fates(model: CommissioningModel) -> pd.DataFrame:
    """One row per group that ever existed: lifetime, first departures and how it ended.

    ``fate`` is "" for a group still in play at the end, else the ending event's kind
    (``ccgabm.events.ENDINGS``); ``end_month`` is then the month it ended (else the last month).
    """
    rows = []
    for g in model.groups.values():
        row = {
            "group_id": g.code,
            "start_month": g.created_month,
            "end_month": g.ended_month if g.ended_month is not None else model.month,
            "fate": str(g.fate),
        }
        for kind, column in FIRST_MONTH_COLUMNS.items():
            row[column] = float(g.first[kind]) if kind in g.first else np.nan
        row.update(
            fractured=Event.FRACTURE in g.first,
            dissolved=g.fate == Event.DISSOLVED,
            merged=g.fate in MERGERS,
        )
        rows.append(row)
    return pd.DataFrame(rows)


# ---- undefined figures -----------------------------------------------------------------------
NOTES_KEY = "figure_notes"
# why a figure left as NaN (a "nothing happened" marker) is undefined, when it is written
_NAN_REASONS = {
    "first_fracture_month": "no group fractured",
    "core_stable_share": "no core-stability test was made",
}


UNDEFINED_MARKERS = frozenset(_NAN_REASONS)
"""Figures whose null only says that nothing happened (e.g. no fracture), not a problem."""


def _undefined(notes: dict[str, str], name: str, reason: str) -> None:
    notes[name] = reason
    return None


def check_figures(summary: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``summary`` safe to write: every NaN or infinite figure becomes ``None``.

    Each such figure gets a reason in ``summary["figure_notes"]`` (kept if the run gave one;
    nested figures such as ``group_balances`` are named ``outer.inner``). NumPy scalars become
    Python numbers. Nothing else changes, so a run with only finite figures is written as is.
    """
    notes = dict(summary.get(NOTES_KEY) or {})
    out: dict[str, Any] = {}

    def clean(name: str, value: Any) -> Any:
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            if name not in notes:
                notes[name] = _NAN_REASONS.get(
                    name, f"not a finite number ({value}): undefined for this run"
                )
            return None
        return value

    for key, value in summary.items():
        if key == NOTES_KEY:
            continue
        if isinstance(value, dict):
            out[key] = {k: clean(f"{key}.{k}", v) for k, v in value.items()}
        else:
            out[key] = clean(key, value)
    if notes:
        out[NOTES_KEY] = {str(k): str(v) for k, v in notes.items()}
    return out


# ---- the summary -----------------------------------------------------------------------------
def _referral_variation(practices: pd.DataFrame, notes: dict[str, str]) -> float | None:
    """Mean over years of p90 / p10 of practices' referral rates (practices >= 1,000 patients,
    or all practices when none is that large); None when a year's p10 is 0 or nothing to rank."""
    name = "practice_referral_p90_p10"
    sizable = practices[practices["list_size"] >= 1000]
    if sizable.empty:
        sizable = practices
    if sizable.empty:
        return _undefined(notes, name, "no practice to rank")
    rates = sizable["referrals"] / sizable["person_months"].clip(lower=1) * 12000
    low = rates.groupby(sizable["year"]).apply(lambda r: np.percentile(r, 10))
    if (low <= 0).any():
        year = int(low.index[low.to_numpy() <= 0][0])
        return _undefined(
            notes, name,
            f"the 10th percentile of practices' referral rates is 0 in year {year} (lists too "
            "small to refer in a year; raise [world] scale or the population)",
        )
    variation = rates.groupby(sizable["year"]).apply(
        lambda r: np.percentile(r, 90) / max(np.percentile(r, 10), 1e-9)
    )
    return float(variation.mean())


def _emergency_gradient(quintile_year: pd.DataFrame, notes: dict[str, str]) -> float | None:
    """Emergency admission rate of the most deprived quintile over the least deprived."""
    name = "emergency_gradient_q5_q1"
    quint = quintile_year.groupby("quintile")[["person_months", "emergency"]].sum()
    for q in (1, 5):
        if q not in quint.index or quint.loc[q, "person_months"] <= 0:
            return _undefined(notes, name, f"deprivation quintile {q} has no patients")
    if quint.loc[1, "emergency"] <= 0:
        return _undefined(notes, name, "no emergency admissions in the least deprived quintile (1)")
    q_rate = quint["emergency"] / quint["person_months"]
    return float(q_rate.loc[5] / q_rate.loc[1])


def headline_figures(tables: dict[str, pd.DataFrame], n_groups_end: int) -> dict[str, Any]:
    """Rates per 1,000 a year, share referred, spend per head, balances and gradients.

    ``share_referred_per_year`` is the patients newly referred in a financial year per
    person-year registered (the calibration target "share of patients referred a year"); with
    turnover of lists it can pass 1 only when nearly every patient is referred.
    """
    notes: dict[str, str] = {}
    monthly = tables["monthly"]
    full_years = monthly.groupby("year").filter(lambda d: len(d) == 12)
    yearly = full_years.groupby("year").agg(
        person_months=("person_months", "sum"), referrals=("referrals", "sum"),
        newly_referred=("newly_referred", "sum"), emergency=("emergency", "sum"),
        outpatient=("outpatient", "sum"), day_case=("day_case", "sum"),
        elective_inpatient=("elective_inpatient", "sum"), deaths=("deaths", "sum"),
        registrations=("registrations", "sum"), waiting=("waiting", "last"),
        wait_months_treated=("wait_months_treated", "sum"),
    )
    person_years = yearly["person_months"] / 12.0
    no_patients = (
        f"no patients in year {int(yearly.index[(person_years <= 0).to_numpy()][0])}"
        if (person_years <= 0).any() else "no full year was simulated" if yearly.empty else ""
    )

    def per_year(name: str, values: pd.Series) -> float | None:
        if no_patients:
            return _undefined(notes, name, no_patients)
        return float(values.mean())

    def per_1000(name: str, col: str) -> float | None:
        return per_year(name, 1000 * yearly[col] / person_years)

    groups = tables["group_year"]
    spend_cols = [c for c in groups.columns if c.startswith("spend_")]
    spend_per_head = groups[spend_cols].sum(axis=1) / groups["population"]
    spend = float(spend_per_head.mean())
    if not math.isfinite(spend):  # group-years without patients have no spend per head
        spend = float(spend_per_head[groups["population"] > 0].mean())
        if not math.isfinite(spend):
            spend = _undefined(notes, "spend_per_head", "no group had registered patients")
    last_year = groups[groups["year"] == groups["year"].max()]
    treated = yearly["outpatient"].sum()
    figures = {
        "years_simulated": int(len(yearly)),
        "population_start": int(monthly["person_months"].iloc[0]),
        "population_end": int(monthly["list_end"].iloc[-1]),
        "emergency_admissions_per_1000": per_1000("emergency_admissions_per_1000", "emergency"),
        "referrals_per_1000": per_1000("referrals_per_1000", "referrals"),
        "elective_admissions_per_1000": per_year(
            "elective_admissions_per_1000",
            1000 * (yearly["day_case"] + yearly["elective_inpatient"]) / person_years,
        ),
        "deaths_per_1000": per_1000("deaths_per_1000", "deaths"),
        "registrations_per_1000": per_1000("registrations_per_1000", "registrations"),
        "share_referred_per_year": per_year(
            "share_referred_per_year", yearly["newly_referred"] / person_years
        ),
        "mean_wait_months": float(yearly["wait_months_treated"].sum() / max(treated, 1))
        if treated > 0 else _undefined(notes, "mean_wait_months", "no patient was treated"),
        "waiting_list_end": int(monthly["waiting"].iloc[-1]),
        "practice_referral_p90_p10": _referral_variation(tables["practice_year"], notes),
        "emergency_gradient_q5_q1": _emergency_gradient(tables["quintile_year"], notes),
        "spend_per_head": spend,
        "group_balances": {str(r.group): float(r.balance) for r in last_year.itertuples()},
        "groups_in_deficit_end": int((last_year["balance"] < 0).sum()),
        "n_groups_end": int(n_groups_end),
    }
    if notes:
        figures[NOTES_KEY] = notes
    return figures


def stability_figures(fates: pd.DataFrame, tables: dict[str, pd.DataFrame]) -> dict[str, Any]:
    """Fractures, lifetimes, decisions and moves of one run (definitions: module docstring)."""
    events = tables["events"]
    kinds = events["kind"] if not events.empty else pd.Series(dtype=str)
    fractured = fractured_by(fates)
    first = fates.loc[fractured, "fracture_month"].min()
    return {
        "groups_fractured": int(fractured_by(cohort(fates)).sum()),
        "any_fracture": bool(fractured.any()),
        "first_fracture_month": float(first) if pd.notna(first) else float("nan"),
        "groups_with_defection": int(fates["defection_month"].notna().sum()),
        "groups_with_return": int(fates["return_month"].notna().sum()),
        "groups_dissolved": int(fates["dissolved"].sum()),
        "groups_merged": int(fates["merged"].sum()),
        "voluntary_mergers": int((fates["fate"] == Event.VOLUNTARY_MERGER).sum()),
        "forced_mergers": int((fates["fate"] == Event.FORCED_MERGER).sum()),
        "consolidation_mergers": int((fates["fate"] == Event.CONSOLIDATION_MERGER).sum()),
        "groups_emptied": int((fates["fate"] == Event.EMPTIED).sum()),
        "groups_created": int((fates["start_month"] > 0).sum()),
        "mean_group_lifetime_years": float(((fates["end_month"] - fates["start_month"]) / 12).mean()),
        "decommissioning_votes": int((kinds == Event.VOTE).sum()),
        "decommissionings": int((kinds == Event.DECOMMISSIONING).sum()),
        "decommissioning_votes_rejected": int(
            events["detail"].str.endswith("rejected").where(kinds == Event.VOTE, False).sum())
        if not events.empty else 0,
        "fractures": int((kinds == Event.FRACTURE).sum()),
        "defections": int((kinds == Event.DEFECTION).sum()),
        "returns": int((kinds == Event.RETURN).sum()),
        **departure_causes(tables.get("departures", pd.DataFrame()), events),
        "practice_switches": int((kinds == Event.LEAVE).sum()),
        "practices_closed": int((kinds == Event.PRACTICE_CLOSED).sum()),
        "budget_per_need_gap": budget_per_need_gap(tables["group_year"]),
    }


def departure_causes(departures: pd.DataFrame, events: pd.DataFrame) -> dict[str, int]:
    """How many carried-out fractures and defections followed what (``departures`` table).

    *After lost votes*: the movers had lost at least one decommissioning vote in the group
    they left (since they last joined it). *After placement*: the group they left had taken in
    members placed by the Board (from a group it dissolved or merged by force) before they
    left. A departure can be both or neither; *refused*: departures the Board refused.
    """
    out = {"fractures_after_lost_votes": 0, "fractures_after_placement": 0,
           "defections_after_lost_votes": 0, "departures_refused": 0}
    if departures.empty:
        return out
    refused = departures["board"].str.startswith("refused")
    out["departures_refused"] = int(refused.sum())
    done = departures[~refused]
    placed = events[(events["kind"] == Event.JOIN) & events["detail"].str.match(
        f"({Event.DISSOLVED}|{Event.FORCED_MERGER}|{Event.CONSOLIDATION_MERGER}) <-")] \
        if not events.empty else events
    first_placed = placed.groupby("group")["month"].min() if len(placed) else pd.Series(dtype=float)
    fractures = done[done["kind"] == Event.FRACTURE]
    out["fractures_after_lost_votes"] = int((fractures["votes_lost"] > 0).sum())
    after = fractures["source"].map(first_placed) < fractures["month"]
    out["fractures_after_placement"] = int(after.sum())
    defections = done[done["kind"] == Event.DEFECTION]
    out["defections_after_lost_votes"] = int((defections["votes_lost"] > 0).sum())
    return out


def budget_per_need_gap(group_year: pd.DataFrame) -> float:
    """Final-year spread of allocation per need weight across groups (max / min - 1).

    Groups without need (no patients) are left out; NaN when no group has need and an
    allocation (``check_figures`` writes it as null, "not a finite number").
    """
    last = group_year[group_year["year"] == group_year["year"].max()]
    last = last[last["need_weight"] > 0]
    per_need = last["allocation"] / last["need_weight"].clip(lower=1e-9)
    if not len(per_need) or not per_need.min() > 0:
        return float("nan")
    return float(per_need.max() / per_need.min() - 1.0)


# ---- figures some findings need --------------------------------------------------------------
def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else float("nan")


EXTRA_FIGURES = (  # the names extra_figures returns
    "x_group_population", "x_group_population_start", "x_running_cost_per_head",
    "x_running_cost_per_head_y0", "x_running_cost_over_allowance_per_head",
    "x_referral_management_cost_per_patient", "x_in_year_result_per_head", "x_spend_per_head",
    "x_income_per_head", "x_deficit_share", "x_quality_premium_per_head", "x_community_investment_per_head",
    "x_outpatients_per_1000", "x_practice_closures", "x_co_commissioning_group_years", "x_group_years",
)


def extra_figures(tables: dict[str, pd.DataFrame], config: Config) -> dict[str, float]:
    """The ``x_*`` figures: running costs, premiums, investment and deficits per head, ..."""
    gy = tables["group_year"]
    pop = gy["population"].astype(float)
    scale = float(config.world.scale)
    events = tables["events"]
    kinds = events["kind"] if not events.empty else pd.Series(dtype=str)
    income = gy[[c for c in gy.columns if c.startswith("income_") and c != "income_transfer_in"]]
    spend = gy[[c for c in gy.columns if c.startswith("spend_") and c != "spend_transfer_out"]]
    monthly = tables["monthly"]
    person_years = monthly["person_months"].sum() / 12.0
    first = gy["year"] == gy["year"].min()

    def column(name: str) -> pd.Series:
        """A behaviour's column of group_year; zeros if that behaviour is not registered."""
        return gy[name] if name in gy.columns else pd.Series(0, index=gy.index)

    out = {
        # group-year means; population in represented patients (simulated / world.scale)
        "x_group_population": float(pop.mean() / scale),
        "x_group_population_start": float(pop[first].mean() / scale),
        "x_running_cost_per_head": _ratio(gy["spend_running_costs"].sum(), pop.sum()),
        # first financial year only: before any merger, fracture or running-cost cut
        "x_running_cost_per_head_y0": _ratio(gy.loc[first, "spend_running_costs"].sum(),
                                             pop[first].sum()),
        "x_running_cost_over_allowance_per_head": _ratio(
            (gy["spend_running_costs"] - gy["income_running_allowance"]).sum(), pop.sum()),
        "x_referral_management_cost_per_patient": _ratio(
            column("spend_referral_management").sum(), pop.sum()),
        "x_in_year_result_per_head": _ratio(gy["in_year_result"].sum(), pop.sum()),
        "x_spend_per_head": _ratio(spend.sum(axis=1).sum(), pop.sum()),
        "x_income_per_head": _ratio(income.sum(axis=1).sum(), pop.sum()),
        "x_deficit_share": float((gy["in_year_result"] < 0).mean()),
        "x_quality_premium_per_head": _ratio(column("income_quality_premium").sum(), pop.sum()),
        "x_community_investment_per_head": _ratio(column("spend_community_investment").sum(), pop.sum()),
        "x_outpatients_per_1000": _ratio(1000 * monthly["outpatient"].sum(), person_years),
        "x_practice_closures": int((kinds == Event.PRACTICE_CLOSED).sum()),
        "x_co_commissioning_group_years": int(column("co_commissioning").astype(bool).sum()),
        "x_group_years": int(len(gy)),
    }
    return {k: (float(v) if isinstance(v, np.floating) else v) for k, v in out.items()}


def run_summary(model: CommissioningModel, tables: dict[str, pd.DataFrame],
                fates: pd.DataFrame) -> dict[str, Any]:
    """The summary of a finished run: headline, stability and every behaviour's figures.

    Figures the run cannot define are None with a reason in ``figure_notes`` (module docstring).
    """
    summary = headline_figures(tables, n_groups_end=len(model.active_groups))
    notes = summary.pop(NOTES_KEY, {})
    summary.update(stability_figures(fates, tables))
    for behaviour in model.behaviours.values():
        summary.update(behaviour.summary(tables, fates))
    summary.update(seed=model.seed, config_digest=model.scenario_cfg.digest())
    if notes:
        summary[NOTES_KEY] = notes
    return summary
