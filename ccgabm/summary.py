"""Headline figures of a finished run, computed from its tables."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def headline_figures(tables: dict[str, pd.DataFrame], n_groups_end: int) -> dict[str, Any]:
    """Rates per 1,000 a year, share referred, spend per head, balances and gradients."""
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
    per_1000 = lambda col: float((1000 * yearly[col] / person_years).mean())  # noqa: E731
    groups = tables["group_year"]
    spend_cols = [c for c in groups.columns if c.startswith("spend_")]
    spend_per_head = groups[spend_cols].sum(axis=1) / groups["population"]
    last_year = groups[groups["year"] == groups["year"].max()]
    quint = tables["quintile_year"].groupby("quintile")[["person_months", "emergency"]].sum()
    q_rate = quint["emergency"] / quint["person_months"]
    practices = tables["practice_year"]
    sizable = practices[practices["list_size"] >= 1000]
    if sizable.empty:
        sizable = practices
    rates = sizable["referrals"] / sizable["person_months"].clip(lower=1) * 12000
    variation = rates.groupby(sizable["year"]).apply(
        lambda r: np.percentile(r, 90) / max(np.percentile(r, 10), 1e-9)
    )
    return {
        "years_simulated": int(len(yearly)),
        "population_start": int(monthly["person_months"].iloc[0]),
        "population_end": int(monthly["list_end"].iloc[-1]),
        "emergency_admissions_per_1000": per_1000("emergency"),
        "referrals_per_1000": per_1000("referrals"),
        "elective_admissions_per_1000": float(
            (1000 * (yearly["day_case"] + yearly["elective_inpatient"]) / person_years).mean()
        ),
        "deaths_per_1000": per_1000("deaths"),
        "registrations_per_1000": per_1000("registrations"),
        "share_referred_per_year": float((yearly["newly_referred"] / person_years).mean()),
        "mean_wait_months": float(
            yearly["wait_months_treated"].sum() / max(yearly["outpatient"].sum(), 1)
        ),
        "waiting_list_end": int(monthly["waiting"].iloc[-1]),
        "practice_referral_p90_p10": float(variation.mean()),
        "emergency_gradient_q5_q1": float(q_rate.loc[5] / q_rate.loc[1]),
        "spend_per_head": float(spend_per_head.mean()),
        "group_balances": {str(r.group): float(r.balance) for r in last_year.itertuples()},
        "groups_in_deficit_end": int((last_year["balance"] < 0).sum()),
        "n_groups_end": int(n_groups_end),
    }
