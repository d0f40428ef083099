"""Known analytic cases: mortality, waiting-list cut-off, capitation with pace of change."""

from __future__ import annotations

import numpy as np
import pytest
from support import small_config

from ccgabm.agents.board import CommissioningBoard
from ccgabm.agents.group import CommissioningGroup
from ccgabm.agents.hospital import Hospital
from ccgabm.model import CommissioningModel


def test_deaths_match_a_constant_hazard():
    """Gompertz slope 0 and one LTC hazard of 1: every patient has the same monthly risk."""
    q = 0.06
    cfg = small_config(**{
        "run.years": 1, "population.mortality_log_slope": 0.0,
        "population.mortality_log_intercept": float(np.log(q)),
        "population.mortality_hr_per_ltc": 1.0, "population.birth_rate": 0.0,
        "population.in_registration_rate": 0.0,
    })
    model = CommissioningModel(cfg, seed=2)
    start = model.patients_start
    model.run()
    expected = start * q  # annual probability q, no registrations
    sd = np.sqrt(start * q * (1 - q))
    assert abs(model.deaths_total - expected) < 4 * sd
    assert model.registrations_total == 0
    assert model.population.alive.sum() == start - model.deaths_total


def test_registrations_match_rate():
    rate = 30.0
    cfg = small_config(**{"run.years": 1, "population.birth_rate": rate,
                          "population.in_registration_rate": 0.0})
    model = CommissioningModel(cfg, seed=4)
    start = model.patients_start
    model.run()
    assert model.registrations_total == pytest.approx(start * rate / 1000, rel=0.1)


def test_waiting_list_cutoff_treats_longest_waits_first():
    model = CommissioningModel(small_config(), seed=1)
    h = Hospital(model, 0, "H", 1.0)
    h.waiting_hist[[1, 2, 3]] = [50, 30, 20]
    h.monthly_capacity = 35
    cut, frac = h.treatment_cutoff()
    assert cut == 2 and frac == pytest.approx(15 / 30)  # all 20 at 3 months, half of those at 2
    h.monthly_capacity = 1000
    assert h.treatment_cutoff() == (0, 1.0)
    h.monthly_capacity = 0
    cut, frac = h.treatment_cutoff()
    assert cut == 3 and frac == 0.0


class StandIn:
    """A practice as the Board sees it: index, list size and need weight."""

    def __init__(self, index: int, list_size: int, need_weight: float) -> None:
        self.index, self.list_size, self.need_weight = index, list_size, need_weight


def test_capitation_and_pace_of_change():
    model = CommissioningModel(small_config().with_overrides({"finance.pace_of_change": 0.5}),
                               seed=1)
    fin = model.cfg.finance
    board = CommissioningBoard(model, scale=1.0)
    a, b = (CommissioningGroup(model, c, model.hospitals[0]) for c in ("A", "B"))
    a.members, b.members = [StandIn(0, 1000, 3.0)], [StandIn(1, 1000, 1.0)]
    a.need_weight, b.need_weight = 3.0, 1.0
    board.allocate([a, b], {"A": -0.2, "B": 0.2})
    budget = 2000 * fin.allocation_per_head
    first = dict(board.allocations)
    assert sum(first.values()) == pytest.approx(budget)
    assert first["A"] / first["B"] == pytest.approx((0.75 * 0.8) / (0.25 * 1.2))
    board.allocate([a, b], {})
    second = board.allocations
    target_a = 0.75 * budget
    assert second["A"] == pytest.approx(first["A"] + 0.5 * (target_a - first["A"]))
    assert board.paid_total == pytest.approx(
        sum(first.values()) + sum(second.values()) + 2 * 2 * 1000 * fin.running_cost_allowance
    )


def test_money_follows_a_practice_that_changes_group():
    model = CommissioningModel(small_config().with_overrides({"finance.pace_of_change": 0.0}),
                               seed=1)
    board = CommissioningBoard(model, scale=1.0)
    a, b = (CommissioningGroup(model, c, model.hospitals[0]) for c in ("A", "B"))
    movers = StandIn(1, 1000, 1.0)
    a.members, b.members = [StandIn(0, 1000, 1.0), movers], [StandIn(2, 1000, 1.0)]
    a.need_weight, b.need_weight = 2.0, 1.0
    board.allocate([a, b], {"A": 0.1, "B": -0.2})
    rate_a, rate_b = board.allocation_per_need["A"], board.allocation_per_need["B"]
    assert rate_a > rate_b
    a.members, b.members = a.members[:1], b.members + [movers]
    a.need_weight, b.need_weight = 1.0, 2.0
    board.allocate([a, b], {})
    # With no pace of change each practice brings its old budget per need to its new group.
    assert board.allocations["A"] == pytest.approx(rate_a)
    assert board.allocations["B"] == pytest.approx(rate_a + rate_b)


def test_budget_pressure_creates_deficits():
    cfg = small_config(**{"finance.budget_pressure": 0.1, "run.years": 1})
    model = CommissioningModel(cfg, seed=1)
    model.run()
    results = [g.last_in_year_result for g in model.groups.values()]
    assert all(r < 0 for r in results)
    assert model.board.national_budget == pytest.approx(
        0.9 * cfg.finance.allocation_per_head * sum(g.population for g in model.groups.values()),
        rel=0.05,
    )
