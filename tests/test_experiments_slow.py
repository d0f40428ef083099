"""Direction of each experiment's effect at a size where it is statistically clear (slow).

Run with ``pytest -m slow tests/test_experiments_slow.py``. Each test runs the experiment's own
sweep spec (configs/experiments/NAME.toml) through the sweep engine, at a smaller region or
fewer replications than the full experiment, and checks the sign (and where the model is
calibrated to it, the size) of the effect with a 95% interval over replications.
"""

from __future__ import annotations

import pytest
from support import ROOT

from ccgabm.findings import (
    derive_spec,
    mean_interval,
    newcombe_difference,
    ols_slope,
    paired_difference,
)
from ccgabm.findings.runner import spec_dir
from ccgabm.simulate import run_with_extras
from ccgabm.sweep import load_results, run_sweep

pytestmark = pytest.mark.slow
REGION_100K = {"region.target_population": 100_000, "run.years": 5}


def sweep(tmp_path, name, replications, fixed=None, axes=None):
    spec = derive_spec(spec_dir(ROOT) / f"{name}.toml", replications, fixed, axes)
    report = run_sweep(spec, tmp_path / name, jobs=-1, run_fn=run_with_extras, progress=False)
    assert report.ok, report.format()
    runs, fates = load_results(tmp_path / name)
    return runs, fates


def test_fundholding_removing_incentive_raises_electives_not_emergencies(tmp_path):
    runs, _ = sweep(tmp_path, "fundholding", 3, REGION_100K)
    axis = "policy.budget_incentive"
    elective = paired_difference(runs, axis, True, False, "elective_admissions_per_1000")
    emergency = paired_difference(runs, axis, True, False, "emergency_admissions_per_1000")
    assert elective.low > 0, elective
    assert 3.5 <= elective.value <= 5.1, elective
    assert emergency.within(-1.0, 1.0), emergency


def test_referral_management_costs_money_without_cutting_referrals(tmp_path):
    runs, _ = sweep(tmp_path, "referral_management", 3, REGION_100K)
    axis = "policy.referral_management"
    referrals = paired_difference(runs, axis, False, True, "referrals_per_1000")
    cost = mean_interval(runs.loc[runs[axis], "x_referral_management_cost_per_patient"])
    assert referrals.within(-1.0, 1.0), referrals
    assert cost.low >= 0.55 and cost.high <= 6.23, cost
    off = runs.loc[~runs[axis], "x_referral_management_cost_per_patient"]
    assert (off == 0).all()


def test_co_commissioning_investment_lowers_emergencies(tmp_path):
    # The closure half of the finding is not statistically clear at the baseline (see the
    # report), so only the emergency effect is asserted here.
    runs, _ = sweep(tmp_path, "co_commissioning", 10, {"region.target_population": 300_000})
    year, inv = "behaviour.co_commissioning_year", "behaviour.co_commissioning_investment"
    emergency = paired_difference(runs, year, -1, 2, "emergency_admissions_per_1000",
                                  where={inv: 0.01})
    assert emergency.high < 0, emergency


def test_group_size_cost_per_head_falls_steeply_below_100k(tmp_path):
    runs, _ = sweep(tmp_path, "group_size", 2, {"world.scale": 0.05, "run.years": 2},
                    axes={"finance.shared_support": [True]})
    import numpy as np

    x = np.log2(runs["x_group_population_start"])
    small = runs["x_group_population_start"] < 100_000
    below = ols_slope(x[small], runs.loc[small, "x_running_cost_per_head_y0"])
    above = ols_slope(x[~small], runs.loc[~small, "x_running_cost_per_head_y0"])
    assert below.high < 0 and above.high < 0
    assert below.value < 2 * above.value  # at least twice as steep (both negative)


def test_fractures_need_pressure_and_follow_lost_votes(tmp_path):
    """In a polarised region, pressure makes fractures likely, and each follows lost votes."""
    axes = {"finance.budget_pressure": [0.0, 0.01], "region.imd_sd_within_group": [20.0],
            "behaviour.initial_trust": [0.8]}
    fixed = {"region.target_population": 600_000, "world.scale": 0.1,
             "finance.initial_distance_sd": 0.0}
    runs, fates = sweep(tmp_path, "fracture_map", 12, fixed, axes)
    from ccgabm.analysis import fracture_indicators

    hit = fracture_indicators(runs, fates, 10)
    calm = hit[runs["finance.budget_pressure"] == 0.0]
    pressed = hit[runs["finance.budget_pressure"] == 0.01]
    diff = newcombe_difference(int(pressed.sum()), len(pressed), int(calm.sum()), len(calm))
    assert diff.low > 0, diff
    # every fracture traces back to lost votes or to the Board placing strangers in the group
    traced = runs["fractures_after_lost_votes"] + runs["fractures_after_placement"]
    assert (traced >= runs["fractures"]).all()
    assert runs["fractures_after_lost_votes"].sum() >= 0.5 * runs["fractures"].sum()
