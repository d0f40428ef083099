"""Group behaviour: votes, trust, leaving, fracture, dissolution, closure, co-commissioning."""

from __future__ import annotations

import numpy as np
import pytest
from support import ROOT, small_config

from ccgabm.behaviours.decommissioning import burden_ratios, vote
from ccgabm.coalitions import Rules, core_stable
from ccgabm.config import load_config
from ccgabm.model import CommissioningModel
from ccgabm.simulate import run_simulation


def run_checked(cfg, seed=1):
    """Run to the horizon, checking every conservation law after each month."""
    model = CommissioningModel(cfg, seed=seed)
    model.run(check_invariants=True)
    return model


def kinds(model):
    return model.datacollector.frames()["events"]["kind"].value_counts().to_dict()


def test_vote_with_known_weights():
    burden = burden_ratios(np.array([10, 10, 40]), np.array([100, 100, 100]))
    assert burden == pytest.approx([0.5, 0.5, 2.0])
    trust = np.array([0.5, 0.5, 0.5])
    result = vote("community", burden, trust, np.array([100, 100, 100]), tolerance=0.5,
                  majority=0.5)
    assert result.yes.tolist() == [True, True, False]
    assert result.yes_share == pytest.approx(2 / 3) and result.passed
    heavy = vote("community", burden, trust, np.array([100, 100, 300]), tolerance=0.5,
                 majority=0.5)
    assert heavy.yes_share == pytest.approx(0.4) and not heavy.passed
    tolerant = vote("community", burden, np.ones(3), np.array([100, 100, 300]), tolerance=1.5,
                    majority=0.5)
    assert tolerant.passed  # trust widens what a practice accepts: 2.0 <= 1 + 1.5 * 1
    assert not vote("community", burden, trust, np.array([100, 100, 100]), tolerance=0.5,
                    majority=0.7).passed  # 2/3 does not pass a two-thirds-plus rule


def test_burden_of_a_member_without_patients_is_zero_not_nan():
    burden = burden_ratios(np.array([5.0, 0.0, 5.0]), np.array([100, 0, 100]))
    assert np.isfinite(burden).all() and burden.tolist() == [1.0, 0.0, 1.0]
    result = vote("community", burden, np.full(3, 0.5), np.array([100, 0, 100]), tolerance=0.5,
                  majority=0.5)
    assert result.yes.all()  # the empty member does not count as a "no"


def test_core_stability_exact_small_case():
    sizes = np.full(3, 1000)
    members = np.arange(3)
    trust = np.full((3, 3), 0.6, dtype=np.float32)
    np.fill_diagonal(trust, 1.0)
    stay = {p: 0.6 for p in range(3)}
    rules = Rules(min_size=1, cap_share=1.0)
    assert core_stable(members, trust, stay, sizes, lambda pop: 0.0, 0.1, rules)
    trust[0, 1] = trust[1, 0] = 1.0  # 0 and 1 trust each other fully, distrust 2
    trust[0, 2] = trust[1, 2] = 0.0
    stay = {0: 0.5, 1: 0.5, 2: 0.3}
    assert not core_stable(members, trust, stay, sizes, lambda pop: 0.0, 0.1, rules)


def test_distrusted_members_leave_together_as_a_fracture():
    cfg = small_config(**{"region.practices_per_group": 6, "behaviour.min_group_population": 0,
                          "run.years": 1})
    model = CommissioningModel(cfg, seed=3)
    model.run()  # one year, ends with the year-end rounds
    group = model.groups["G00"]
    by_size = sorted(group.members, key=lambda p: p.list_size)  # a minority leaves
    rebels = [p.index for p in by_size[:2]]
    rest = [p.index for p in by_size[2:]]
    trust = model.behaviours["trust"].network.trust
    trust[np.ix_(rebels, rest)] = 0.0
    trust[np.ix_(rebels, rebels)] = 1.0
    before = len(model.groups)
    model._in_step = True  # play the year-end choices again, as within March's step
    model.behaviours["practice_choices"].choose()
    model._in_step = False
    model.check_invariants()
    assert len(model.groups) == before + 1
    assert model.groups["G00"].first["fracture"] == model.month - 1
    new = model.groups["G00.1"]
    assert sorted(p.index for p in new.members) == sorted(rebels)
    assert kinds(model).get("fracture") == 1


def test_no_pressure_high_trust_nobody_leaves():
    # groups this small (10,000 patients) cannot carry a fixed running cost: without it and at
    # their capitation target, nothing pushes them into deficit
    cfg = small_config(**{"run.years": 4, "behaviour.initial_trust": 0.9,
                          "finance.budget_pressure": 0.0, "region.deprivation_gap": 0.0,
                          "behaviour.min_group_population": 0, "finance.running_cost_fixed": 0.0,
                          "finance.initial_distance_sd": 0.0})
    model = run_checked(cfg, seed=2)
    counts = kinds(model)
    assert counts.get("leave", 0) == 0 and counts.get("fracture", 0) == 0
    assert len(model.active_groups) == 2


def test_group_over_budget_for_set_years_is_dissolved():
    cfg = small_config(**{"run.years": 4, "finance.budget_pressure": 0.3,
                          "behaviour.dissolve_after_years": 2, "behaviour.min_group_population": 0,
                          "behaviour.initial_trust": 0.9})
    model = run_checked(cfg, seed=1)
    fates = {g.code: g.fate for g in model.groups.values()}
    assert "dissolved" in fates.values()
    dissolved = [g for g in model.groups.values() if g.fate == "dissolved"]
    assert all(not g.members and g.ended_month is not None for g in dissolved)
    assert len(model.active_groups) >= 1


def test_quality_premium_withheld_on_overspend(small_cfg):
    model = CommissioningModel(small_cfg, seed=1)
    premium = model.behaviours["quality_premium"]
    group = next(iter(model.groups.values()))
    group.last_in_year_result = -1.0
    premium.year_closed(group)
    assert group.received["quality_premium"] == 0.0
    group.last_in_year_result = 1.0
    premium.year_closed(group)
    assert group.received["quality_premium"] == pytest.approx(
        small_cfg.finance.quality_premium * group.population)


def test_small_deprived_practices_close_without_investment_and_patients_are_kept():
    cfg = small_config(**{"run.years": 2, "behaviour.closure_rate": 1.0,
                          "behaviour.closure_list_size": 100_000, "behaviour.closure_imd": 0.0,
                          "behaviour.co_commissioning_year": -1, "behaviour.min_group_population": 0})
    model = run_checked(cfg, seed=4)
    closed = [p for p in model.practices if not p.open]
    assert closed and all(p.list_size == 0 for p in closed)
    assert all(g.members for g in model.active_groups)
    protected = small_config(**{"run.years": 2, "behaviour.closure_rate": 1.0,
                                "behaviour.closure_list_size": 100_000, "behaviour.closure_imd": 0.0,
                                "behaviour.co_commissioning_year": 0,
                                "behaviour.co_commissioning_adoption": 1.0,
                                "behaviour.min_group_population": 0})
    assert all(p.open for p in run_checked(protected, seed=4).practices)


def test_co_commissioning_spreads_and_lowers_emergencies():
    common = {"run.years": 3, "behaviour.min_group_population": 0, "behaviour.initial_trust": 0.9}
    off = small_config(**common, **{"behaviour.co_commissioning_year": -1})
    on = small_config(**common, **{"behaviour.co_commissioning_year": 0,
                                   "behaviour.co_commissioning_adoption": 1.0,
                                   "behaviour.co_commissioning_investment": 0.05})
    model_on = run_checked(on, seed=5)
    assert all(g.co_commissioning for g in model_on.active_groups)
    rate_on = run_simulation(on, seed=5).summary["emergency_admissions_per_1000"]
    rate_off = run_simulation(off, seed=5).summary["emergency_admissions_per_1000"]
    assert rate_on < 0.95 * rate_off


@pytest.mark.parametrize(("choice", "movers"), [("stay", 0), ("join", 1), ("negotiate", 2)])
def test_dilemma_choices_move_the_right_practices(choice, movers):
    cfg = load_config(ROOT / "configs" / "dilemma.toml").with_overrides({
        "dilemma.choice": choice, "run.years": 1, "dilemma.decision_year": 0,
        "world.scale": 0.1,
    })
    model = CommissioningModel(cfg, seed=1)
    model.step()
    d = model.behaviours["dilemma"].sides
    events = model.datacollector.get_table_dataframe("events")
    moved = events[(events["kind"] == "join") & events["detail"].str.startswith("dilemma")]
    assert len(moved) == movers
    focal = next(p for p in model.practices if p.code == d.focal)
    assert (focal.group.code == d.affluent) == (choice != "stay")


def test_invariants_hold_through_mergers_fractures_closures_and_dissolutions():
    cfg = small_config(**{"run.years": 8, "region.n_groups": 4, "region.practices_per_group": 5,
                          "finance.budget_pressure": 0.05, "behaviour.initial_trust": 0.3,
                          "region.deprivation_gap": 35.0, "behaviour.closure_rate": 0.3,
                          "behaviour.closure_imd": 0.0, "behaviour.co_commissioning_year": -1,
                          "behaviour.dissolve_after_years": 2})
    seen: set[str] = set()
    for seed in range(3):
        seen |= set(kinds(run_checked(cfg, seed=seed)))
    assert {"practice_closed", "leave"} <= seen
    assert seen & {"voluntary_merger", "forced_merger", "dissolved", "fracture", "defection"}
