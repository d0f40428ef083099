"""Practice turnover: referral propensities renewed when a practice's team changes."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from support import small_config

import ccgabm.model as model_module
from ccgabm.behaviours import REGISTERED
from ccgabm.behaviours.practice_turnover import PracticeTurnover, renew_propensity
from ccgabm.config import Config, ConfigError
from ccgabm.events import Event
from ccgabm.model import CommissioningModel
from ccgabm.simulate import run_simulation

TURNOVER = str(Event.PRACTICE_TURNOVER)
SIGMA = Config().referral.practice_variation_sd


def many_practices(seed: int = 1, **overrides) -> CommissioningModel:
    """400 practices with few patients each: the turnover round is all that is exercised."""
    cfg = small_config(**{"region.n_groups": 4, "region.practices_per_group": 100,
                          "region.target_population": 40_000, "world.scale": 0.05, **overrides})
    return CommissioningModel(cfg, seed=seed)


def turn_over_in(model: CommissioningModel, year: int) -> pd.DataFrame:
    """Run the turnover round of April of ``year``; the turnover events it recorded."""
    model.steps = 12 * year  # between steps, the model's month is its step count
    before = len(model.datacollector.column("events", "kind"))
    model.behaviours["practice_turnover"].turn_over()
    events = model.datacollector.frames()["events"].iloc[before:]
    return events[events["kind"] == TURNOVER]


def propensity_by_year(result) -> pd.DataFrame:
    return result.tables["practice_year"].pivot(index="practice", columns="year",
                                                values="referral_propensity")


def comparable(summary: dict) -> str:
    return json.dumps({k: v for k, v in summary.items() if k != "config_digest"}, sort_keys=True)


# ---- off: nothing changes ------------------------------------------------------------------
def test_off_by_default_gives_the_same_run_as_without_the_behaviour(monkeypatch):
    cfg = small_config(**{"run.years": 3})
    default = run_simulation(cfg, seed=4)
    explicit = run_simulation(small_config(**{"run.years": 3, "referral.partner_turnover": 0.0,
                                              "referral.referral_habit_persistence": 0.0}), seed=4)
    monkeypatch.setattr(model_module, "REGISTERED",
                        tuple(b for b in REGISTERED if b is not PracticeTurnover))
    without = run_simulation(cfg, seed=4)

    wide = propensity_by_year(default)
    assert list(wide.columns) == [0, 1, 2]
    assert (wide.nunique(axis=1) == 1).all()  # every practice keeps its propensity every year
    assert not (default.tables["events"]["kind"] == TURNOVER).any()
    for other in (explicit, without):
        assert comparable(other.summary) == comparable(default.summary)
        for table in ("practice_year", "group_year", "events", "monthly"):
            pd.testing.assert_frame_equal(other.tables[table], default.tables[table])


# ---- on: who turns over, and what changes ---------------------------------------------------
def test_turnover_happens_at_its_rate_and_changes_only_those_practices():
    q, years = 0.1, 10
    model = many_practices(**{"referral.partner_turnover": q})
    arrays = model.practice_arrays
    n = len(arrays)
    total = 0
    for year in range(1, years + 1):
        before = arrays.propensity.copy()
        events = turn_over_in(model, year)
        turned = np.isin(arrays.code, events["practice"].to_numpy())
        assert events["practice"].is_unique
        assert (events["month"] == 12 * year).all()
        assert np.all(arrays.propensity[turned] != before[turned])
        assert np.array_equal(arrays.propensity[~turned], before[~turned])
        np.testing.assert_array_equal(events["value"].to_numpy(),
                                      arrays.propensity[np.flatnonzero(turned)])
        groups = {p.code: p.group.code for p in model.practices}
        assert events["group"].tolist() == [groups[c] for c in events["practice"]]
        total += len(events)
    trials = n * years
    half_width = 5.0 * math.sqrt(trials * q * (1 - q))  # binomial, ~5 standard deviations
    assert abs(total - trials * q) < half_width, (total, trials * q)


def test_not_in_the_first_year_and_closed_practices_keep_theirs():
    model = many_practices(**{"referral.partner_turnover": 1.0})
    arrays = model.practice_arrays
    start = arrays.propensity.copy()
    assert turn_over_in(model, 0).empty
    assert np.array_equal(arrays.propensity, start)  # the starting draw is untouched
    arrays.open[:3] = False
    events = turn_over_in(model, 1)
    assert len(events) == len(arrays) - 3
    assert np.array_equal(arrays.propensity[:3], start[:3])
    assert np.all(arrays.propensity[3:] != start[3:])


def test_practice_year_records_the_new_propensity():
    off = run_simulation(small_config(), seed=2)
    on = run_simulation(small_config(**{"referral.partner_turnover": 1.0}), seed=2)
    wide_off, wide_on = propensity_by_year(off), propensity_by_year(on)
    pd.testing.assert_series_equal(wide_on[0], wide_off[0])  # year 0: the same starting draw
    assert (wide_on[1] != wide_on[0]).all()  # every practice turned over in April of year 1
    events = on.tables["events"]
    changed = events[events["kind"] == TURNOVER].set_index("practice")["value"]
    pd.testing.assert_series_equal(changed.sort_index(), wide_on[1].loc[changed.index].sort_index(),
                                   check_names=False)


# ---- the update keeps the spread between practices ------------------------------------------
@pytest.mark.parametrize("persistence", [0.0, 0.5, 0.9])
def test_update_keeps_log_sd_and_mean_one(persistence):
    rng = np.random.default_rng(7)
    n = 200_000
    propensity = rng.lognormal(-SIGMA**2 / 2, SIGMA, n)
    for _ in range(20):
        propensity = renew_propensity(propensity, rng.standard_normal(n), persistence, SIGMA)
    assert np.log(propensity).std() == pytest.approx(SIGMA, abs=0.005)
    assert np.log(propensity).mean() == pytest.approx(-SIGMA**2 / 2, abs=0.005)
    assert propensity.mean() == pytest.approx(1.0, abs=0.005)


def test_update_by_hand():
    mu = -SIGMA**2 / 2
    # at the log mean, with z = 1: the new deviation is sqrt(1 - 0.25) sigma
    new = renew_propensity(np.array([math.exp(mu)]), np.array([1.0]), 0.5, SIGMA)
    assert new[0] == pytest.approx(math.exp(mu + math.sqrt(0.75) * SIGMA))
    # one sigma above the mean, z = 0: half the deviation is kept
    new = renew_propensity(np.array([math.exp(mu + SIGMA)]), np.array([0.0]), 0.5, SIGMA)
    assert new[0] == pytest.approx(math.exp(mu + 0.5 * SIGMA))
    # no spread between practices: everyone stays at 1
    assert renew_propensity(np.ones(3), np.array([-2.0, 0.0, 2.0]), 0.3, 0.0) == \
        pytest.approx(np.ones(3))


def test_every_practice_turning_over_every_year_keeps_the_cross_section():
    model = many_practices(**{"referral.partner_turnover": 1.0,
                              "referral.referral_habit_persistence": 0.0})
    arrays = model.practice_arrays
    start = arrays.propensity.copy()
    for year in range(1, 11):
        turn_over_in(model, year)
    n = len(arrays)
    log_p = np.log(arrays.propensity)
    assert np.corrcoef(log_p, np.log(start))[0, 1] == pytest.approx(0.0, abs=5 / math.sqrt(n))
    assert log_p.std() == pytest.approx(SIGMA, abs=5 * SIGMA / math.sqrt(2 * n))
    assert arrays.propensity.mean() == pytest.approx(
        1.0, abs=5 * math.sqrt(math.exp(SIGMA**2) - 1) / math.sqrt(n))


def test_full_persistence_changes_nothing():
    model = many_practices(**{"referral.partner_turnover": 1.0,
                              "referral.referral_habit_persistence": 1.0})
    start = model.practice_arrays.propensity.copy()
    for year in (1, 2, 3):
        assert len(turn_over_in(model, year)) == len(start)  # the team changes, the habits not
    np.testing.assert_allclose(model.practice_arrays.propensity, start, rtol=1e-12)


# ---- determinism and bad input --------------------------------------------------------------
def test_the_same_seed_gives_the_same_turnover():
    def history(seed):
        model = many_practices(seed, **{"referral.partner_turnover": 0.3})
        codes = [tuple(turn_over_in(model, year)["practice"]) for year in (1, 2, 3)]
        return codes, model.practice_arrays.propensity.copy()

    (codes_a, prop_a), (codes_b, prop_b), (codes_c, _) = history(5), history(5), history(6)
    assert codes_a == codes_b
    assert np.array_equal(prop_a, prop_b)
    assert codes_a != codes_c


@pytest.mark.parametrize(("key", "value"), [("referral_habit_persistence", 1.5),
                                            ("referral_habit_persistence", -0.1),
                                            ("partner_turnover", 1.2)])
def test_values_out_of_range_are_refused_in_one_line(key, value):
    with pytest.raises(ConfigError, match=rf"\[referral\] {key} = {value}") as caught:
        Config().with_overrides({f"referral.{key}": value})
    assert "\n" not in str(caught.value)
