"""Closure draws, the mid-year forecast, year-0 hospital capacity and parameters that were
constants: each behaves as documented, and each new parameter's default is the old value."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
from support import small_config

from ccgabm.behaviours import check_registry
from ccgabm.behaviours.base import Behaviour, Levers
from ccgabm.behaviours.budget_holding import BudgetHolding, BudgetHoldingParams
from ccgabm.behaviours.closures import ClosureParams
from ccgabm.behaviours.community_investment import CommunityInvestment, CommunityInvestmentParams
from ccgabm.model import CommissioningModel
from ccgabm.patients.epidemiology import AGES, IMD_BY_CODE, build_rate_tables, ltc_lambda
from ccgabm.sections import PopulationSection


def default_of(cls: type, name: str):
    return {f.name: f.default for f in dataclasses.fields(cls)}[name]


# ---- practice closures -------------------------------------------------------------------------
CLOSING = {
    "region.n_groups": 2, "region.practices_per_group": 10,
    "behaviour.closure_rate": 0.3, "behaviour.closure_list_size": 100_000,
    "behaviour.closure_imd": 0.0, "behaviour.co_commissioning_year": -1,
}


def closures_decided(cfg, disperse: bool) -> list[int]:
    """Indices of the practices the year's closure round decides to close; with ``disperse``
    false, a decided closure is recorded but nobody moves and no random number is used."""
    model = CommissioningModel(cfg)
    decided: list[int] = []
    real = model.close_practice

    def close(practice, rng):
        decided.append(practice.index)
        if disperse:
            real(practice, rng)

    model.close_practice = close
    model.behaviours["closures"].close_practices()
    return decided


def test_closure_decisions_do_not_depend_on_earlier_closures():
    cfg = small_config(**CLOSING)
    dispersed = closures_decided(cfg, disperse=True)
    undisturbed = closures_decided(cfg, disperse=False)
    assert len(undisturbed) >= 2  # a closure comes before other decisions
    assert dispersed == undisturbed


def test_closure_dispersal_has_its_own_stream():
    cfg = small_config(**CLOSING)
    model = CommissioningModel(cfg)
    streams = []
    model.close_practice = lambda practice, rng: streams.append(rng)
    model.behaviours["closures"].close_practices()
    assert streams
    first = model.streams.fresh("behaviour.closure", 0).random()
    used = streams[0].random()
    assert used != first
    assert used == model.streams.fresh("behaviour.closure_dispersal", 0).random()


def test_closure_full_protection_is_a_parameter():
    assert default_of(ClosureParams, "closure_full_protection") == 0.01
    sure = {**CLOSING, "behaviour.closure_rate": 1.0, "policy.community_investment": 0.005}
    # half protected by default: some close
    assert closures_decided(small_config(**sure), disperse=False)
    # investing 0.5% is full protection when that is the threshold: none close
    full = small_config(**sure, **{"behaviour.closure_full_protection": 0.005})
    assert closures_decided(full, disperse=False) == []


# ---- the mid-year forecast ---------------------------------------------------------------------
def balanced_group(model, monthly_income: dict[str, float], lump: dict[str, float], months: int):
    """A group whose year, if it goes on as it has, ends exactly balanced."""
    group = model.active_groups[0]
    for kind, amount in lump.items():
        group.receive(amount, kind)
    year_income = sum(lump.values()) + 12 * sum(monthly_income.values())
    for _ in range(months):
        for kind, amount in monthly_income.items():
            group.receive(amount, kind)
        group.pay(year_income / 12.0, "activity")
    return group


def test_forecast_annualises_delegated_budgets():
    model = CommissioningModel(small_config())
    allocation = 1e8
    delegated = 0.01 * allocation / 12.0  # co-commissioning at 1% of the programme budget
    group = balanced_group(model, {"delegated_primary_care": delegated},
                           {"programme": allocation}, months=6)
    group.co_commissioning = True
    assert group.forecast_deficit(6) == pytest.approx(0.0, abs=1e-12)


def test_forecast_counts_lump_sums_as_received():
    model = CommissioningModel(small_config())
    group = balanced_group(model, {}, {"programme": 1e8, "running_allowance": 2e6,
                                       "quality_premium": 1e5}, months=6)
    assert group.forecast_deficit(6) == pytest.approx(0.0, abs=1e-12)
    group.pay(1e6, "activity")  # GBP 1m over in six months: GBP 2m over the year
    assert group.forecast_deficit(6) == pytest.approx(2e6 / (1e8 + 2e6 + 1e5))


def test_monthly_income_lines_must_be_income_lines():
    class Stray(Behaviour):
        name = "stray"
        income_kinds = ("grant",)
        monthly_income_kinds = ("bonus",)

    with pytest.raises(ValueError, match="monthly income lines"):
        check_registry((Stray,))


# ---- year-0 hospital capacity -------------------------------------------------------------------
def year0_capacity(**overrides) -> float:
    model = CommissioningModel(small_config(**overrides))
    model.step()  # month 0: levers, then capacity
    return sum(h.monthly_capacity for h in model.hospitals)


def test_year0_capacity_follows_levers_set_in_month0():
    free = year0_capacity(**{"policy.budget_incentive": False})
    held = year0_capacity(**{"policy.budget_incentive": True, "policy.budget_holding_effect": 0.2})
    assert free > 0
    assert held / free == pytest.approx(0.8, abs=0.02)


# ---- parameters that were constants -------------------------------------------------------------
def levers_after(behaviour_cls, cfg, group, levers: Levers) -> Levers:
    behaviour_cls(SimpleNamespace(cfg=cfg)).adjust_levers(group, levers)
    return levers


def test_deficit_referral_floor():
    assert default_of(BudgetHoldingParams, "deficit_referral_floor") == 0.5
    overspent = SimpleNamespace(forecast_deficit_share=0.9)  # response would take 90% off
    base = {"policy.budget_incentive": True, "policy.budget_holding_effect": 0.0,
            "policy.deficit_referral_response": 1.0}
    default = levers_after(BudgetHolding, small_config(**base), overspent, Levers())
    assert default.referral == pytest.approx(0.5)
    lower = small_config(**base, **{"policy.deficit_referral_floor": 0.3})
    assert levers_after(BudgetHolding, lower, overspent, Levers()).referral == pytest.approx(0.3)
    none = small_config(**base, **{"policy.deficit_referral_floor": 0.0})
    assert levers_after(BudgetHolding, none, overspent, Levers()).referral == pytest.approx(0.1)


def test_community_effect_floor():
    assert default_of(CommunityInvestmentParams, "community_effect_floor") == 0.2
    group = SimpleNamespace()
    base = {"policy.community_effect": 2.0}
    heavy = Levers(investment=0.5)  # 2 x 0.5: every emergency avoided without a floor
    assert levers_after(CommunityInvestment, small_config(**base), group,
                        heavy).emergency == pytest.approx(0.2)
    higher = small_config(**base, **{"policy.community_effect_floor": 0.6})
    assert levers_after(CommunityInvestment, higher, group,
                        Levers(investment=0.5)).emergency == pytest.approx(0.6)
    light = Levers(investment=0.1)  # above any floor: 1 - 2 x 0.1
    assert levers_after(CommunityInvestment, higher, group, light).emergency == pytest.approx(0.8)


def test_imd_reference_and_span_defaults_are_the_old_constants():
    assert default_of(PopulationSection, "imd_reference") == 21.7
    assert default_of(PopulationSection, "imd_quintile_span") == 35.0
    cfg = small_config()
    pop, em = cfg.population, cfg.emergency
    tables = build_rate_tables(cfg)
    expected_dep = np.exp(em.deprivation_log_rr_per_10_imd * (IMD_BY_CODE - 21.7) / 10.0)
    np.testing.assert_allclose(tables.dep_emergency, expected_dep)
    imd = np.array([5.0, 21.7, 60.0])
    shift = pop.ltc_deprivation_years_earlier * (imd - 21.7) / 35.0
    expected_lam = pop.ltc_rate_at_30 * np.exp(pop.ltc_growth_per_year * (40.0 + shift - 30.0))
    np.testing.assert_allclose(ltc_lambda(cfg, np.full(3, 40.0), imd), expected_lam)


def test_imd_reference_sets_where_deprivation_is_neutral():
    cfg = small_config(**{"population.imd_reference": 30.0})
    tables = build_rate_tables(cfg)
    code = int(np.flatnonzero(IMD_BY_CODE == 30.0)[0])
    assert tables.dep_emergency[code] == pytest.approx(1.0)
    lam = ltc_lambda(cfg, AGES, np.full_like(AGES, 30.0))
    no_shift = cfg.population.ltc_rate_at_30 * np.exp(cfg.population.ltc_growth_per_year
                                                      * (AGES - 30.0))
    np.testing.assert_allclose(lam, no_shift)


def test_imd_quintile_span_scales_the_onset_shift():
    imd = np.array([56.7])  # 35 above the reference: one default span
    age = np.array([50.0])
    default = ltc_lambda(small_config(), age, imd)
    wider = ltc_lambda(small_config(**{"population.imd_quintile_span": 70.0}), age, imd)
    pop = small_config().population
    years = pop.ltc_deprivation_years_earlier
    assert default / wider == pytest.approx(np.exp(pop.ltc_growth_per_year * years / 2))
