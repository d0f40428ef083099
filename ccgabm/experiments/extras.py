"""The run function the experiment sweeps use: the model's summary plus figures read off its tables.

``run_with_extras(config, seed)`` calls ``ccgabm.simulate.run_simulation`` unchanged and adds a
few ``x_*`` summary keys that some findings need and the headline summary does not carry
(running cost per head, the cost of referral management per patient, ...). It returns a light
result (summary and group fates; tables dropped) so workers send little back. Being a module-level
function it pickles to loky and dask workers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ccgabm.config import Config

__all__ = ["LightResult", "run_with_extras", "table_extras"]


@dataclass
class LightResult:
    """What the sweep engine stores: the flat summary and the group fates."""

    summary: dict
    group_fates: pd.DataFrame
    tables: dict = field(default_factory=dict)


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den else float("nan")


def table_extras(tables: dict[str, pd.DataFrame], config: Config) -> dict[str, float]:
    """Extra run-level figures computed from a run's tables."""
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
            gy["spend_referral_management"].sum(), pop.sum()),
        "x_in_year_result_per_head": _ratio(gy["in_year_result"].sum(), pop.sum()),
        "x_spend_per_head": _ratio(spend.sum(axis=1).sum(), pop.sum()),
        "x_income_per_head": _ratio(income.sum(axis=1).sum(), pop.sum()),
        "x_deficit_share": float((gy["in_year_result"] < 0).mean()),
        "x_quality_premium_per_head": _ratio(gy["income_quality_premium"].sum(), pop.sum()),
        "x_community_investment_per_head": _ratio(gy["spend_community_investment"].sum(), pop.sum()),
        "x_outpatients_per_1000": _ratio(1000 * monthly["outpatient"].sum(), person_years),
        "x_practice_closures": int((kinds == "practice_closed").sum()),
        "x_co_commissioning_group_years": int(gy["co_commissioning"].astype(bool).sum()),
        "x_group_years": int(len(gy)),
    }
    return {k: (float(v) if isinstance(v, np.floating) else v) for k, v in out.items()}


def run_with_extras(config: Config, seed: int) -> LightResult:
    """One model run (``run_simulation``) with the ``x_*`` figures added to its summary."""
    from ccgabm.simulate import run_simulation

    result = run_simulation(config, seed)
    summary = dict(result.summary)
    summary.update(table_extras(result.tables, config))
    return LightResult(summary=summary, group_fates=result.group_fates)
