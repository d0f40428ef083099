"""Group dynamics as traced events: the causal chain, distinct event kinds, trust, the Board.

The mission's chain is *contentious cuts -> outvoted practices lose trust -> a coalition
leaves*. These tests read the ``events`` and ``departures`` tables of runs and fail if the
chain does not occur where it should, or occurs where it should not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from support import small_config

from ccgabm.behaviours.trust import TrustNetwork, TrustParams
from ccgabm.coalitions import Rules, core_stable
from ccgabm.config import Config
from ccgabm.events import Event
from ccgabm.metrics import group_fates
from ccgabm.model import CommissioningModel
from ccgabm.params import ConfigError

# A region of 3 groups of ~200,000 patients (a tenth simulated), every group starting at its
# capitation target, so deficits come from the budget pressure alone.
REGION = {"run.years": 10, "region.target_population": 600_000, "world.scale": 0.1,
          "finance.initial_distance_sd": 0.0}
POLARISED_PRESSURED = {**REGION, "finance.budget_pressure": 0.01,
                       "region.imd_sd_within_group": 20.0, "behaviour.initial_trust": 0.8}
HOMOGENEOUS_CALM = {**REGION, "finance.budget_pressure": 0.0, "region.imd_sd_within_group": 0.0,
                    "region.deprivation_gap": 0.0, "behaviour.initial_trust": 0.8}


def run(overrides: dict, seed: int) -> dict[str, pd.DataFrame]:
    model = CommissioningModel(Config().with_overrides(overrides), seed=seed)
    model.run()
    return model.datacollector.frames()


def test_polarised_pressured_region_fractures_after_lost_votes():
    """Fractures occur; each follows votes its members lost in the group they left, or the
    Board placing a dissolved group's members in that group; most follow lost votes."""
    after_votes = 0
    for seed in range(1, 5):
        tables = run(POLARISED_PRESSURED, seed)
        events, departures = tables["events"], tables["departures"]
        if departures.empty:
            continue
        placed = events[(events["kind"] == "join") & events["detail"].str.startswith("dissolved")]
        done = departures[(departures["kind"] == "fracture")
                          & departures["board"].str.startswith("authorised")]
        for row in done.itertuples():
            took_in = (placed["group"] == row.source) & (placed["month"] < row.month)
            assert row.votes_lost > 0 or took_in.any(), row
            # they trusted each other more than the group they left
            assert row.trust_in_target > row.trust_in_source
            # the fracture is its own event on the source, and the new group was created
            assert ((events["kind"] == "fracture") & (events["group"] == row.source)
                    & (events["month"] == row.month)).sum() == 1
            assert ((events["kind"] == "group_created") & (events["group"] == row.target)).any()
            if row.votes_lost > 0:
                # the votes were lost in that group before the fracture
                assert ((events["kind"] == "vote") & (events["group"] == row.source)
                        & (events["month"] < row.month)).any()
                after_votes += 1
    assert after_votes >= 3


def test_homogeneous_unpressured_region_has_no_departures():
    for seed in range(1, 4):
        tables = run(HOMOGENEOUS_CALM, seed)
        kinds = set(tables["events"]["kind"])
        assert not kinds & {"fracture", "defection", "return"}, kinds
        assert tables["departures"].empty


def test_outvoted_practices_trust_the_winners_less():
    cfg = TrustParams()
    network = TrustNetwork(np.zeros(4, dtype=int), cfg, np.random.default_rng(0))
    before = network.trust.copy()
    network.lost_vote(np.array([0]), np.array([1, 2, 3]))
    assert np.allclose(network.trust[0, 1:], np.clip(before[0, 1:] - cfg.vote_loss_penalty, 0, 1))
    assert np.array_equal(network.trust[1:], before[1:])  # the winners' trust is unchanged


def test_a_defection_is_not_a_fracture():
    """Two practices joining a neighbour together are a defection, not a fracture."""
    cfg = small_config(**{"region.practices_per_group": 6, "behaviour.min_group_population": 0,
                          "run.years": 1})
    model = CommissioningModel(cfg, seed=3)
    model.run()
    leavers = [p.index for p in model.groups["G00"].members[:2]]
    others = [p.index for p in model.groups["G01"].members]
    trust = model.behaviours["trust"].network.trust
    trust[np.ix_(leavers, others)] = 1.0
    model.groups["G00"].neighbours.add("G01")
    model._in_step = True
    model.behaviours["practice_choices"].choose()
    model._in_step = False
    model.check_invariants()
    fates = group_fates(model).set_index("group_id")
    assert not fates.loc["G00", "fractured"] and np.isnan(fates.loc["G00", "fracture_month"])
    assert fates.loc["G00", "defection_month"] == model.month - 1
    kinds = model.datacollector.frames()["events"]["kind"].value_counts()
    assert kinds.get("defection", 0) >= 1 and kinds.get("fracture", 0) == 0


def test_a_move_back_is_a_return():
    cfg = small_config(**{"region.practices_per_group": 6, "behaviour.min_group_population": 0,
                          "run.years": 1})
    model = CommissioningModel(cfg, seed=3)
    model.run()
    mover = model.groups["G00"].members[0]
    model.move_practices([mover], model.groups["G01"], reason="test")
    trust = model.behaviours["trust"].network.trust
    trust[mover.index, [p.index for p in model.groups["G00"].members]] = 1.0
    trust[mover.index, [p.index for p in model.groups["G01"].members if p is not mover]] = 0.0
    model.groups["G01"].neighbours.add("G00")
    model._in_step = True
    model.behaviours["practice_choices"].choose()
    model._in_step = False
    assert mover.group.code == "G00"
    departures = model.datacollector.frames()["departures"]
    assert departures["kind"].tolist() == ["return"]


def test_trust_inversion_refused_unless_asked_for():
    with pytest.raises(ConfigError, match=r"initial_trust = 0.2 is below trust_outside = 0.3"):
        Config().with_overrides({"behaviour.initial_trust": 0.2})
    Config().with_overrides({"behaviour.initial_trust": 0.2, "behaviour.allow_trust_inversion": True})


def test_newcomers_build_trust_and_old_ties_fade():
    """Trust drifts towards initial_trust among co-members and trust_outside between groups."""
    cfg = TrustParams(trust_noise_sd=0.0, trust_decay=0.2)
    network = TrustNetwork(np.array([0, 0, 1, 1]), cfg, np.random.default_rng(0))
    # practice 1 moves to group 1: it now shares a group with 2 and 3, and not with 0
    groups = [np.array([0]), np.array([1, 2, 3])]
    for _ in range(30):
        network.decay(groups)
    assert network.trust[1, 2] == pytest.approx(cfg.initial_trust, abs=1e-3)
    assert network.trust[1, 0] == pytest.approx(cfg.trust_outside, abs=1e-3)
    one = TrustNetwork(np.array([0, 0, 1, 1]), cfg, np.random.default_rng(0))
    one.decay(groups)
    assert one.trust[1, 2] == pytest.approx(0.8 * cfg.trust_outside + 0.2 * cfg.initial_trust)


def blocking_pair():
    """Three practices of 1,000 patients; 0 and 1 trust each other fully and 2 not at all, so
    {0, 1} would rather leave together: (members, trust, stay utilities, list sizes)."""
    trust = np.full((3, 3), 0.6, dtype=np.float32)
    trust[0, 1] = trust[1, 0] = 1.0
    trust[0, 2] = trust[1, 2] = 0.0
    return np.arange(3), trust, {0: 0.5, 1: 0.5, 2: 0.3}, np.full(3, 1000)


def test_core_stability_counts_only_moves_the_rules_allow():
    members, trust, stay, sizes = blocking_pair()
    open_rules = Rules(min_size=2, cap_share=1.0)
    assert not core_stable(members, trust, stay, sizes, lambda pop: 0.0, 0.1, open_rules)
    # the blocking coalition {0, 1} is 2/3 of the group: above a cap of one half
    assert core_stable(members, trust, stay, sizes, lambda pop: 0.0, 0.1,
                       Rules(min_size=2, cap_share=0.5))
    # nor can it leave when a new group needs more patients than it has
    assert core_stable(members, trust, stay, sizes, lambda pop: 0.0, 0.1,
                       Rules(min_size=2, cap_share=1.0, min_population=2500))
    # nor when the group left behind would fall below the minimum
    assert core_stable(members, trust, stay, sizes, lambda pop: 0.0, 0.1,
                       Rules(min_size=2, cap_share=1.0, source_minimum=1500))


def test_voluntary_mergers_have_their_own_threshold():
    """Whether groups merge depends on merger_trust, not on initial_trust."""
    def mergers(**overrides):
        cfg = small_config(**{"run.years": 4, "finance.budget_pressure": 0.05,
                              "behaviour.min_group_population": 0,
                              "behaviour.dissolve_after_years": 50,
                              "behaviour.trust_outside": 0.5, **overrides})
        model = CommissioningModel(cfg, seed=1)
        model.run()
        return {g.fate for g in model.groups.values()}

    assert "voluntary_merger" in mergers(**{"behaviour.merger_trust": 0.0})
    assert "voluntary_merger" not in mergers(**{"behaviour.merger_trust": 1.0})
    assert "voluntary_merger" not in mergers(**{"behaviour.merger_trust": 1.0,
                                                "behaviour.initial_trust": 0.5})


def test_movers_take_their_share_of_the_balance():
    model = CommissioningModel(small_config(), seed=1)
    source, target = model.groups["G00"], model.groups["G01"]
    source.receive(1000.0, "programme")
    mover = source.members[0]
    share = mover.list_size / source.population
    before = source.balance + target.balance
    model.move_practices([mover], target, reason="test")
    assert target.balance == pytest.approx(1000.0 * share)
    assert source.balance + target.balance == pytest.approx(before)


def test_a_new_group_inherits_its_parents_cuts_and_failing_years():
    model = CommissioningModel(small_config(**{"region.practices_per_group": 6}), seed=1)
    parent = model.groups["G00"]
    parent.community_cuts, parent.plcv_restrictions, parent.deficit_years = 2, 1, 2
    parent.community_factor = 0.9
    group = model.form_group(parent, parent.members[:2])
    assert (group.community_cuts, group.plcv_restrictions, group.deficit_years) == (2, 1, 2)
    assert group.community_factor == 0.9
    group.set_levers()
    parent.set_levers()
    assert group.emergency_multiplier > 1.0
    assert group.emergency_multiplier == pytest.approx(parent.emergency_multiplier)


def test_a_dissolved_groups_debt_is_written_off_not_passed_on():
    cfg = small_config(**{"run.years": 4, "finance.budget_pressure": 0.3,
                          "behaviour.dissolve_after_years": 2, "behaviour.min_group_population": 0})
    model = CommissioningModel(cfg, seed=1)
    model.run(check_invariants=True)
    dissolved = [g for g in model.groups.values() if g.fate == Event.DISSOLVED]
    assert dissolved
    assert all(g.received.get("debt_write_off", 0.0) > 0 for g in dissolved)
    assert all(g.balance == pytest.approx(0.0, abs=1e-6) for g in dissolved)


def test_activity_saved_stays_saved():
    """Unmodelled services are re-estimated once, after the first year, then fixed."""
    model = CommissioningModel(small_config(**{"run.years": 4}), seed=1)
    shares = []
    for _ in range(4):
        model.run(months=12)
        shares.append(model.board.other_share)
    assert shares[1] == shares[2] == shares[3]


def test_need_held_back_returns_as_emergencies():
    from ccgabm.patients import Counter

    def deferred(**overrides):
        cfg = small_config(**{"run.years": 2, "policy.budget_incentive": True,
                              "policy.budget_holding_effect": 0.5,
                              "finance.budget_pressure": 0.1, **overrides})
        model = CommissioningModel(cfg, seed=2)
        model.run()
        monthly = model.datacollector.frames()["monthly"]
        assert (monthly[Counter.DEFERRED_EMERGENCY.column] <= monthly["emergency"]).all()
        return int(monthly[Counter.DEFERRED_EMERGENCY.column].sum())

    assert deferred() > 0
    assert deferred(**{"emergency.deferred_need_emergency": 0.0}) == 0


def test_demand_growth_raises_emergencies_year_on_year():
    cfg = small_config(**{"run.years": 4, "population.demand_growth": 0.1})
    model = CommissioningModel(cfg, seed=1)
    model.run()
    monthly = model.datacollector.frames()["monthly"]
    rate = monthly.groupby("year")["emergency"].sum() / monthly.groupby("year")["person_months"].sum()
    assert rate.iloc[-1] > 1.2 * rate.iloc[0]


def test_a_group_formed_at_this_year_end_keeps_its_record_and_is_not_merged_back():
    model = CommissioningModel(small_config(**{"region.practices_per_group": 6,
                                               "behaviour.min_group_population": 0,
                                               "behaviour.merger_trust": 0.0}), seed=1)
    model.run(months=11)
    model._in_step = True  # as within March's step, after the practices' choices
    parent = model.groups["G00"]
    parent.receive(-1e6, "programme")  # both in deficit: a voluntary merger is open to them
    parent.deficit_years = 1
    child = model.form_group(parent, parent.members[:2])
    model.behaviours["group_fate"].decide()
    model._in_step = False
    assert child.active and child.fate == ""
    assert child.deficit_years == 1  # inherited, not reset by its empty first accounts


def test_a_dissolved_groups_balance_is_shared_by_list_size():
    model = CommissioningModel(small_config(**{"region.n_groups": 3}), seed=1)
    group, a, b = model.groups["G00"], model.groups["G01"], model.groups["G02"]
    group.receive(-600.0, "programme")
    members = list(group.members)
    balance, population = group.balance, group.population
    receivers = [a] * 2 + [b] * (len(members) - 2)
    before = {g.code: g.balance for g in (a, b)}
    model.end_group(group, Event.DISSOLVED, receivers)
    to_a = balance * sum(p.list_size for p in members[:2]) / population
    assert a.balance - before["G01"] == pytest.approx(to_a)
    assert b.balance - before["G02"] == pytest.approx(balance - to_a)


def test_core_stability_honours_the_boards_reformation_bar():
    members, trust, stay, sizes = blocking_pair()
    rules = Rules(min_size=2, cap_share=1.0)
    assert not core_stable(members, trust, stay, sizes, lambda pop: 0.0, 0.1, rules)
    barred = Rules(min_size=2, cap_share=1.0, barred=np.array([True, True, False]))
    assert core_stable(members, trust, stay, sizes, lambda pop: 0.0, 0.1, barred)


def test_votes_lost_count_only_the_current_membership():
    model = CommissioningModel(small_config(), seed=1)
    decommissioning = model.behaviours["decommissioning"]
    practice = model.groups["G00"].members[0]
    decommissioning._lost_in[(practice.index, "G00")] = [0, 5]
    assert decommissioning.votes_lost_in(practice.index, "G00") == 2
    model.run(months=12)
    model.move_practices([practice], model.groups["G01"], reason="test")
    model.move_practices([practice], model.groups["G00"], reason="test")  # back, at month 12
    assert decommissioning.votes_lost_in(practice.index, "G00") == 0
    decommissioning._lost_in[(practice.index, "G00")].append(18)
    assert decommissioning.votes_lost_in(practice.index, "G00") == 1


def test_deprivation_raises_only_the_emergency_part_of_need_weights():
    """Need weights: elective care by age and conditions, emergencies also by deprivation."""
    def weights(code: int, **costs) -> float:
        cfg = small_config(**{f"costs.{k}": v for k, v in costs.items()})
        population = CommissioningModel(cfg, seed=1).population
        population.patients.imd_code[:] = code
        return float(population.need_weights(0).sum())

    elective_only = {"non_elective": 0.0}
    assert weights(20, **elective_only) == pytest.approx(weights(100, **elective_only))
    emergency_only = {"outpatient": 0.0, "day_case": 0.0, "elective_inpatient": 0.0}
    assert weights(100, **emergency_only) > 1.5 * weights(20, **emergency_only)
