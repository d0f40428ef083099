"""The quality premium: the overspend gate (default) and the published scheme's measures and gates."""

import numpy as np
import pandas as pd
import pytest
from reference.regression import compare
from support import small_config

from ccgabm.behaviours.quality_premium import (
    RTT_MONTHS,
    emergency_rates,
    emergency_rates_by_group,
    premium_amount,
    rtt_share_within,
)
from ccgabm.events import Event
from ccgabm.model import CommissioningModel
from ccgabm.params import ConfigError
from ccgabm.simulate import run_simulation

PUBLISHED = {"finance.quality_premium_scheme": "published"}


# ---- the amount, by hand ---------------------------------------------------------------------
def test_amount_hand_worked():
    # £5 a head, 10,000 patients: a pot of £50,000
    assert premium_amount(5.0, 10_000, 1.0, 0, 0.25, False) == pytest.approx(50_000)
    # emergency admissions (25%) missed, everything else met
    assert premium_amount(5.0, 10_000, 0.75, 0, 0.25, False) == pytest.approx(37_500)
    # two Constitution standards missed: a 50% cut
    assert premium_amount(5.0, 10_000, 1.0, 2, 0.25, False) == pytest.approx(25_000)
    # emergency missed and one standard missed: 0.75 x 0.75
    assert premium_amount(5.0, 10_000, 0.75, 1, 0.25, False) == pytest.approx(28_125)
    # the cut is floored at nothing
    assert premium_amount(5.0, 10_000, 1.0, 4, 0.3, False) == 0.0
    # an overspent group earns nothing, whatever it met
    assert premium_amount(5.0, 10_000, 1.0, 0, 0.25, True) == 0.0


def test_rtt_share_from_a_hand_built_waiting_list():
    assert abs(RTT_MONTHS - 126 / 30.4375) < 1e-12  # 18 weeks in months
    hist = np.zeros(256, dtype=np.int64)
    hist[1:5] = 10  # 40 patients waiting up to 4 months
    hist[5] = 50  # waiting 4 to 5 months: 0.1396 of them within 18 weeks
    hist[6] = 20
    assert rtt_share_within(hist) == pytest.approx((40 + 0.139630 * 50) / 110, abs=1e-6)
    assert rtt_share_within(np.zeros(256)) == 1.0  # nobody waiting
    hist = np.zeros(256)
    hist[3] = 7
    assert rtt_share_within(hist) == 1.0


def test_emergency_rates_compare_the_current_members_in_both_years():
    # rows: practices 0..3 as [emergency admissions, person-months]
    last = np.array([[120, 12_000], [100, 12_000], [300, 12_000], [0, 0]])
    this = np.array([[110, 12_000], [100, 12_000], [300, 12_000], [50, 6_000]])
    # the group had practices 0 and 1; practice 2 (a high rate) joins it this year
    now, before = emergency_rates(np.array([0, 1, 2]), this, last)
    assert now == pytest.approx(510 / 36_000) and before == pytest.approx(520 / 36_000)
    assert now <= before  # met: the members' rate fell, though the group's total rose
    # practice 3 had no patients last year: left out of both years
    assert emergency_rates(np.array([0, 3]), this, last) == pytest.approx((110 / 12_000, 120 / 12_000))
    # a practice beyond last year's arrays (opened this year) is left out as well
    assert emergency_rates(np.array([0, 4]), np.vstack([this, [[9, 100]]]), last) == pytest.approx(
        (110 / 12_000, 120 / 12_000))
    now, before = emergency_rates(np.array([3]), this, last)
    assert now != now and before != before  # nothing to compare


def test_emergency_rates_of_every_group_at_once_equal_one_by_one():
    rng = np.random.default_rng(5)
    n, n_groups = 300, 12
    last = np.column_stack([rng.integers(0, 400, n), rng.integers(0, 30_000, n)])
    this = np.column_stack([rng.integers(0, 400, n), rng.integers(0, 30_000, n)])
    last[rng.random(n) < 0.1, 1] = 0  # no patients last year
    this[rng.random(n) < 0.1, 1] = 0
    member_of = rng.integers(0, n_groups + 2, n)  # n_groups and above: in no group
    member_of[member_of == 3] = 4  # group 3 has no members
    member_of[(member_of == 5) & (this[:, 1] > 0)] = n_groups  # nor group 5 any to compare
    now, before = emergency_rates_by_group(member_of, n_groups, this, last)
    for g in range(n_groups):
        expected = emergency_rates(np.flatnonzero(member_of == g), this, last)
        if expected[0] != expected[0]:
            assert np.isnan(now[g]) and np.isnan(before[g])
        else:
            assert (now[g], before[g]) == expected  # the same bits


# ---- the behaviour in a model ------------------------------------------------------------------
def assess_at_start(**overrides):
    model = CommissioningModel(small_config(**PUBLISHED, **overrides), seed=1)
    group = next(iter(model.groups.values()))
    group.last_in_year_result = 1.0
    return model, group, model.behaviours["quality_premium"].assess(group)


@pytest.mark.parametrize("n_other, each", [(6, 0.125), (5, 0.15)])  # 2013/14 and 2014/15
def test_measure_weights_sum_to_the_whole_pot(n_other, each):
    base = {"finance.quality_premium_other_measures": n_other,
            "finance.quality_premium_standard_missed": 0.0}
    # first year: the emergency measure is drawn like the others; all met
    _, group, a = assess_at_start(**base, **{"finance.quality_premium_other_measures_met": 1.0})
    assert a.measures_weight_met == pytest.approx(1.0)
    assert a.paid == pytest.approx(a.potential) and a.potential == pytest.approx(5.0 * group.population)
    # nothing met
    _, _, a = assess_at_start(**base, **{"finance.quality_premium_other_measures_met": 0.0})
    assert a.measures_weight_met == 0.0 and a.paid == 0.0
    assert (1.0 - 0.25) / n_other == pytest.approx(each)


def test_rtt_standard_read_from_the_groups_hospital_waiting_list():
    model = CommissioningModel(small_config(**PUBLISHED, **{
        "finance.quality_premium_other_measures_met": 1.0,
        "finance.quality_premium_standard_missed": 0.0}), seed=1)
    group = next(iter(model.groups.values()))
    group.last_in_year_result = 1.0
    hist = np.zeros(256, dtype=np.int64)
    hist[1], hist[8] = 90, 10  # 90% within 18 weeks: below the 92% standard
    group.hospital.waiting_hist = hist
    a = model.behaviours["quality_premium"].assess(group)
    assert a.standards_missed == ("rtt_18_weeks",)
    assert a.paid == pytest.approx(0.75 * 5.0 * group.population)
    model.behaviours["quality_premium"].year_closed(group)
    assert group.received["quality_premium"] == pytest.approx(a.paid)
    events = model.datacollector
    assert events.column("events", "kind")[-1] == str(Event.QUALITY_PREMIUM)
    assert "rtt_18_weeks" in events.column("events", "detail")[-1]


def test_emergency_measure_over_the_current_members_after_a_move():
    """Hand check against the practice table: the emergency measure (the only one that can be
    met here) of year 1 compares the members' admissions per person-month with their year 0."""
    cfg = small_config(**PUBLISHED, **{"finance.quality_premium_other_measures_met": 0.0,
                                       "finance.quality_premium_standard_missed": 0.0})
    model = CommissioningModel(cfg, seed=3)
    for _ in range(12):
        model.step()
    a, b = model.active_groups[:2]
    model.move_practices([a.members[0]], b, reason="test")  # b's membership changes
    for _ in range(12):
        model.step()
    tables = model.datacollector.frames()
    practices, groups = tables["practice_year"], tables["group_year"]
    year0 = groups[groups["year"] == 0]
    assert (year0["qp_measures_weight_met"] == 0.0).all()  # no previous year: drawn, never met
    for code in (a.code, b.code):
        members = practices[(practices["year"] == 1) & (practices["group"] == code)]["practice"]
        rows = practices[practices["practice"].isin(members)]
        by_year = rows.groupby("year")[["emergency", "person_months"]].sum()
        rate = by_year["emergency"] / by_year["person_months"]
        expected = 0.25 if rate[1] <= rate[0] else 0.0
        row = groups[(groups["year"] == 1) & (groups["group"] == code)]
        assert row["qp_measures_weight_met"].item() == expected


def test_published_run_pays_a_share_of_the_pot_and_is_deterministic():
    cfg = small_config(**PUBLISHED, **{"finance.budget_pressure": -0.05})
    first, again = run_simulation(cfg, seed=2), run_simulation(cfg, seed=2)
    g = first.tables["group_year"]
    pd.testing.assert_frame_equal(g, again.tables["group_year"])
    assert 0.1 < first.summary["quality_premium_paid_share"] < 0.9
    # each row: the pot x the weight met x (1 - 25% per missed standard), nothing after a deficit
    cut = (1 - 0.25 * g["qp_standards_missed"]).clip(lower=0)
    expected = (g["qp_potential"] * g["qp_measures_weight_met"] * cut).where(g["in_year_result"] >= 0, 0.0)
    np.testing.assert_allclose(g["qp_paid"], expected)
    np.testing.assert_allclose(g["qp_potential"], 5.0 * g["population"])
    # paid at the year's close, booked in the next year's income
    paid0 = g[g["year"] == 0].set_index("group")["qp_paid"]
    booked1 = g[g["year"] == 1].set_index("group")["income_quality_premium"]
    np.testing.assert_allclose(booked1.loc[paid0.index], paid0)


def test_default_scheme_unchanged_and_fills_the_columns():
    default = run_simulation(small_config(), seed=1)
    explicit = run_simulation(
        small_config(**{"finance.quality_premium_scheme": "overspend_gate"}), seed=1)
    strip = ("config_digest",)
    diffs = compare({k: v for k, v in default.summary.items() if k not in strip},
                    {k: v for k, v in explicit.summary.items() if k not in strip}, rel=0.0)
    assert not diffs, diffs
    for name, table in default.tables.items():
        pd.testing.assert_frame_equal(table, explicit.tables[name], obj=name)
    g = default.tables["group_year"]
    np.testing.assert_allclose(g["qp_potential"], 5.0 * g["population"])
    np.testing.assert_allclose(g["qp_paid"], g["qp_potential"].where(g["in_year_result"] >= 0, 0.0))
    assert (g["qp_measures_weight_met"] == 1.0).all() and (g["qp_standards_missed"] == 0).all()
    paid = g["qp_paid"].sum() / g["qp_potential"].sum()
    assert default.summary["quality_premium_paid_share"] == pytest.approx(paid)
    assert default.summary["groups_paid_no_premium_share"] == pytest.approx((g["qp_paid"] == 0).mean())


def test_the_default_scheme_draws_nothing():
    model = CommissioningModel(small_config(), seed=1)
    group = next(iter(model.groups.values()))
    model.behaviours["quality_premium"].year_closed(group)
    assert "quality_premium.measures" not in model.streams._cache


@pytest.mark.parametrize("key, value", [
    ("quality_premium_emergency_weight", 1.5),
    ("quality_premium_emergency_weight", -0.1),
    ("quality_premium_other_measures_met", 2.0),
    ("quality_premium_standard_reduction", 1.2),
    ("quality_premium_other_measures", 0),
    ("quality_premium_scheme", "bonus"),
])
def test_bad_values_are_refused_naming_the_key(key, value):
    with pytest.raises(ConfigError, match=rf"^\[finance\] {key} = .*(out of range|not allowed)"):
        small_config(**{f"finance.{key}": value})
