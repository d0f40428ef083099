"""The dilemma: the affluent group's consent, the Board's approval, and outcomes in a window."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from support import small_config

from ccgabm.behaviours.dilemma import Dilemma, Sides, outcomes
from ccgabm.events import Event
from ccgabm.model import CommissioningModel
from ccgabm.simulate import run_simulation

# A calm world: budgets above expected spend (no deficits, so no cuts, votes or dissolutions)
# and no minimum group size (no forced mergers).
CALM = {"finance.budget_pressure": -0.05, "behaviour.min_group_population": 0}


def decided(cfg, seed: int = 1) -> CommissioningModel:
    """A model stepped through its first month (decision year 0)."""
    model = CommissioningModel(cfg, seed=seed)
    model.step()
    return model


def events_of(model: CommissioningModel) -> pd.DataFrame:
    return model.datacollector.get_table_dataframe("events")


def practice(model: CommissioningModel, code: str):
    return next(p for p in model.practices if p.code == code)


def decision_detail(model: CommissioningModel) -> str:
    ev = events_of(model)
    rows = ev[ev["kind"] == str(Event.DILEMMA_DECISION)]
    assert len(rows) == 1
    return str(rows["detail"].iloc[0])


def dilemma_joins(model: CommissioningModel) -> pd.DataFrame:
    ev = events_of(model)
    return ev[(ev["kind"] == str(Event.JOIN)) & ev["detail"].str.startswith("dilemma")]


def test_decision_event_is_declared():
    assert Event.DILEMMA_DECISION in Dilemma.events


def test_affluent_group_that_distrusts_newcomers_refuses_and_nobody_moves():
    cfg = small_config(**{"dilemma.choice": "join", "dilemma.decision_year": 0,
                          "dilemma.affluent_head_start": 0.3,  # the newcomer dilutes its budget
                          "dilemma.acceptance_trust": 1.0, "dilemma.acceptance_dilution": 0.0,
                          "run.years": 1})
    model = decided(cfg)
    d = model.behaviours["dilemma"]
    assert d.decision.dilution > 0
    assert d.decision.acceptance_share == 0.0 and d.decision.accepted is False
    assert math.isnan(d.decision.approved) and d.decision.moved is False
    detail = decision_detail(model)
    assert "affluent group: refused" in detail and "Board: not asked" in detail
    assert "nobody moves" in detail
    assert practice(model, d.sides.focal).group.code == d.sides.deprived
    assert dilemma_joins(model).empty


def test_trusted_newcomers_are_accepted_whatever_the_dilution():
    cfg = small_config(**{"dilemma.choice": "join", "dilemma.decision_year": 0,
                          "dilemma.affluent_head_start": 0.3, "dilemma.acceptance_trust": 0.0,
                          "dilemma.acceptance_dilution": 0.0, "behaviour.min_group_population": 0,
                          "run.years": 1})
    model = decided(cfg)
    d = model.behaviours["dilemma"]
    assert d.decision.dilution > 0 and d.decision.acceptance_share == 1.0
    assert d.decision.approved is True and d.decision.moved is True
    assert practice(model, d.sides.focal).group.code == d.sides.affluent


@pytest.mark.parametrize("seed", [0, 2, 3])
def test_accepted_join_moves_the_practice_and_it_does_not_go_home_in_a_calm_world(seed):
    cfg = small_config(**CALM, **{"dilemma.choice": "join", "dilemma.decision_year": 1,
                                  "dilemma.acceptance_dilution": 1.0, "run.years": 4})
    result = run_simulation(cfg, seed=seed)
    s = result.summary
    assert s["dilemma_group_accepted"] is True and s["dilemma_board_approved"] is True
    assert s["dilemma_moved"] is True and s["dilemma_window_years"] == 3
    ev = result.tables["events"]
    focal = s["dilemma_focal"]
    decision = ev[ev["kind"] == str(Event.DILEMMA_DECISION)]
    assert decision["month"].tolist() == [12]
    assert "Board: approved" in decision["detail"].iloc[0]
    # the old artefact: home again at the first year end (month 23)
    assert not ((ev["kind"] == str(Event.JOIN)) & (ev["practice"] == focal)
                & (ev["month"] == 23)).any()
    assert s["dilemma_focal_returned"] is False
    assert s["dilemma_focal_in_affluent_end"] is True
    assert s["dilemma_affluent_return"] is False


def test_without_the_welcome_the_newcomer_goes_home_at_the_first_year_end():
    """With welcome = 0 the newcomer trusts its new partners as outsiders (0.3) and its old ones
    as partners (0.6): it returns at the first year end."""
    cfg = small_config(**CALM, **{"dilemma.choice": "join", "dilemma.decision_year": 1,
                                  "dilemma.acceptance_dilution": 1.0, "dilemma.welcome": 0.0,
                                  "run.years": 4})
    s = run_simulation(cfg, seed=2).summary
    assert s["dilemma_moved"] is True
    assert s["dilemma_focal_returned"] is True and s["dilemma_affluent_return"] is True


def test_negotiate_moves_both_practices():
    cfg = small_config(**CALM, **{"dilemma.choice": "negotiate", "dilemma.decision_year": 0,
                                  "dilemma.acceptance_dilution": 1.0, "run.years": 1})
    model = decided(cfg)
    d = model.behaviours["dilemma"]
    for code in (d.sides.focal, d.sides.partner):
        assert practice(model, code).group.code == d.sides.affluent
    assert sorted(dilemma_joins(model)["practice"]) == sorted([d.sides.focal, d.sides.partner])
    assert "Board: approved" in decision_detail(model)
    # newcomers and the members who voted them in start as co-members
    trust = model.behaviours["trust"].network.trust
    newcomers = [practice(model, c).index for c in (d.sides.focal, d.sides.partner)]
    members = [p.index for p in model.groups[d.sides.affluent].members if p.index not in newcomers]
    assert trust[np.ix_(newcomers, members)].min() >= cfg.behaviour.initial_trust - 1e-6


def test_stay_moves_nobody_and_asks_nobody():
    model = decided(small_config(**{"dilemma.choice": "stay", "dilemma.decision_year": 0,
                                    "run.years": 1}))
    ev = events_of(model)
    assert (ev["kind"] == str(Event.DILEMMA_CHOICE)).sum() == 1
    assert not (ev["kind"] == str(Event.DILEMMA_DECISION)).any()
    assert dilemma_joins(model).empty


@pytest.mark.parametrize(("margin", "approved"), [(1, False), (0, True)])
def test_board_refuses_when_the_deprived_group_would_fall_below_the_minimum(margin, approved):
    common = {"dilemma.choice": "negotiate", "dilemma.decision_year": 0,
              "dilemma.acceptance_dilution": 1.0, "run.years": 1}
    probe = CommissioningModel(small_config(**common), seed=1)
    sides = probe.behaviours["dilemma"].sides
    deprived = probe.groups[sides.deprived].population
    moving = sum(practice(probe, c).list_size for c in (sides.focal, sides.partner))
    minimum = deprived - moving + margin  # the group keeps deprived - moving patients
    assert minimum <= deprived  # the group meets the minimum now
    model = decided(small_config(**common, **{"behaviour.min_group_population": minimum}))
    d = model.behaviours["dilemma"]
    assert d.sides == sides and d.decision.accepted is True
    assert d.decision.approved is approved and d.decision.moved is approved
    detail = decision_detail(model)
    assert ("Board: approved" if approved else "Board: refused") in detail
    focal = practice(model, sides.focal).group.code
    assert focal == (sides.affluent if approved else sides.deprived)
    assert len(dilemma_joins(model)) == (2 if approved else 0)


# ---- outcomes within the window -----------------------------------------------------------
def _tables(late_emergency: float):
    """Five years; focal F leaves deprived group D for affluent group A at the start of year 1;
    neighbours N1, N2 stay in D. Year 3 is after a two-year window from year 1."""
    rows, groups = [], []
    for year in range(5):
        for code in ("F", "N1", "N2", "P"):
            group = "A" if code == "F" and year >= 1 else "D"
            rows.append({
                "year": year, "practice": code, "group": group, "person_months": 12_000,
                "emergency": late_emergency if (code == "F" and year == 3) else 100.0,
                "outpatient": 50.0, "wait_months_treated": 50.0 * (1 + year),
                "need_weight": 1000.0, "activity_spend": 900.0 if year < 3 else 5000.0,
                "list_size": 1000,
            })
        groups += [{"year": year, "group": "A", "allocation": 1100.0 * (1 + year),
                    "need_weight": 1000.0, "plcv_restrictions": int(year >= 3),
                    "in_year_result": -11.0 if year < 3 else -5000.0},
                   {"year": year, "group": "D", "allocation": 1000.0, "need_weight": 1000.0,
                    "plcv_restrictions": 0, "in_year_result": 10.0}]
    events = pd.DataFrame([
        {"month": 12, "kind": "join", "group": "A", "practice": "F", "value": np.nan,
         "detail": "dilemma <- D"},
        {"month": 40, "kind": "fracture", "group": "A", "practice": "", "value": 2.0,
         "detail": "A.1"},
        {"month": 47, "kind": "join", "group": "D", "practice": "F", "value": np.nan,
         "detail": "return <- A"},
        {"month": 47, "kind": "return", "group": "A", "practice": "", "value": 1.0,
         "detail": "D"},
    ])
    return pd.DataFrame(rows), pd.DataFrame(groups), events


SIDES = Sides(focal="F", partner="P", deprived="D", affluent="A", neighbours=("N1", "N2"))


def test_outcomes_are_measured_only_within_the_window():
    window = {}
    for late in (100.0, 10_000.0):  # a later year's emergencies must not change the figures
        practice_year, group_year, events = _tables(late)
        window[late] = outcomes(practice_year, group_year, events, SIDES, decision_year=1,
                                outcome_years=2)
    a, b = window[100.0], window[10_000.0]
    assert a == b
    assert a["dilemma_window_years"] == 2
    assert a["dilemma_focal_emergency_per_1000"] == pytest.approx(100.0)
    assert a["dilemma_emergency_gap_per_1000"] == pytest.approx(0.0)
    # years 1 and 2: A's budget per need 2.2 and 3.3, the focal's mean 2.75; D's 1.0
    assert a["dilemma_focal_budget_per_need"] == pytest.approx(2.75)
    assert a["dilemma_budget_per_need_gap"] == pytest.approx(1.75)
    assert a["dilemma_focal_spend_per_need"] == pytest.approx(0.9)
    assert a["dilemma_focal_mean_wait_months"] == pytest.approx((2 + 3) / 2)
    assert a["dilemma_focal_restricted_share"] == 0.0
    assert a["dilemma_affluent_result_share"] == pytest.approx(-22.0 / (2200 + 3300))
    assert a["dilemma_deprived_result_share"] == pytest.approx(0.01)
    # the fracture (month 40) and the return (month 47) fall after the window
    assert a["dilemma_affluent_fracture"] is False and a["dilemma_affluent_return"] is False
    assert a["dilemma_focal_returned"] is False and a["dilemma_focal_in_affluent_end"] is True

    practice_year, group_year, events = _tables(10_000.0)
    longer = outcomes(practice_year, group_year, events, SIDES, decision_year=1, outcome_years=3)
    assert longer["dilemma_window_years"] == 3
    assert longer["dilemma_focal_emergency_per_1000"] > 1000
    assert longer["dilemma_focal_restricted_share"] == pytest.approx(1 / 3)
    assert longer["dilemma_affluent_fracture"] is True and longer["dilemma_affluent_return"] is True
    assert longer["dilemma_focal_returned"] is True
    assert longer["dilemma_focal_in_affluent_end"] is False
    # a window past the end of the run stops at the last year simulated
    past = outcomes(practice_year, group_year, events, SIDES, decision_year=1, outcome_years=10)
    assert past["dilemma_window_years"] == 4


def test_run_summary_ignores_years_after_the_window():
    cfg = small_config(**CALM, **{"dilemma.choice": "join", "dilemma.decision_year": 1,
                                  "dilemma.acceptance_dilution": 1.0, "dilemma.outcome_years": 1,
                                  "run.years": 3})
    result = run_simulation(cfg, seed=0)
    t = result.tables
    sides = CommissioningModel(cfg, seed=0).behaviours["dilemma"].sides
    full = outcomes(t["practice_year"], t["group_year"], t["events"], sides, 1, 1)
    cut = outcomes(t["practice_year"][t["practice_year"]["year"] <= 1], t["group_year"],
                   t["events"][t["events"]["month"] < 24], sides, 1, 1)
    assert full["dilemma_window_years"] == 1
    for key, value in full.items():
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(cut[key]), key
        else:
            assert cut[key] == value, key
        assert result.summary[key] == value or (
            isinstance(value, float) and math.isnan(value)), key
