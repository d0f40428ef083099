"""The dated policy timeline: validation, when changes take effect, and Board policies it dates
(consolidation, the merger moratorium, the marginal rate emergency tariff)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from support import ROOT, small_config

from ccgabm.config import Config, load_config
from ccgabm.events import Event
from ccgabm.model import CommissioningModel
from ccgabm.params import ConfigError
from ccgabm.patients import Counter
from ccgabm.simulate import run_simulation
from ccgabm.timeline import date_month, overrides_at, parse_timeline

HEAD = "[run]\nyears = 4\n[world]\nscale = 0.1\n"


def entry(frm="2014/15", until=None, changes='"finance.allocation_per_head" = 1400.0',
          source="a cited document"):
    text = f'[[timeline]]\nfrom = "{frm}"\n'
    if until:
        text += f'until = "{until}"\n'
    return text + f"set = {{ {changes} }}\nsource = \"{source}\"\n"


def write(tmp_path, text):
    path = tmp_path / "scenario.toml"
    path.write_text(text + HEAD)
    return path


@pytest.mark.parametrize("text, message", [
    (entry(frm="2014"), "must be a financial year such as"),
    (entry(frm="2014/16"), "is not a financial year"),
    (entry(frm="2014-13"), "the month must be 01 to 12"),
    (entry(frm="1900/01"), "is out of range"),
    (entry(until="2014/15"), "is not after from"),
    (entry(changes='"finance.no_such_key" = 1.0'), "[finance] no_such_key is not a known parameter"),
    (entry(changes='"nowhere.key" = 1.0'), "is not a parameter"),
    (entry(changes='"world.scale" = 0.5'), "[world] scale cannot change during a run"),
    (entry(changes='"finance.allocation_per_head" = -5.0'), "[finance] allocation_per_head = -5.0 "
                                                            "is out of range"),
    (entry(source=""), "source = '' is not allowed"),
    (entry() + 'colour = "red"\n', "'colour' is not a known key"),
    ('[[timeline]]\nfrom = "2014/15"\nsource = "x"\n', "set is missing"),
    ('timeline = 3\n', "timeline must be an array of tables"),
    (entry() + entry(), "both set finance.allocation_per_head from '2014/15'"),
    (entry(frm="2013/14", until="2016/17") + entry(frm="2015-07"), "past entry 2's from"),
])
def test_a_bad_timeline_is_refused_with_one_line(tmp_path, text, message):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_a_state_out_of_range_names_when_it_starts(tmp_path):
    text = entry(changes='"behaviour.running_cost_cut" = 1.5')
    with pytest.raises(ConfigError, match="in force from April 2014: .*running_cost_cut = 1.5"):
        load_config(write(tmp_path, text))


def test_the_command_line_refuses_a_bad_timeline_without_a_traceback(tmp_path):
    path = write(tmp_path, entry(frm="2014/16"))
    done = subprocess.run([sys.executable, "-m", "ccgabm", "run", str(path), "--out",
                           str(tmp_path / "out")], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "is not a financial year" in done.stderr
    assert not (tmp_path / "out").exists()


def test_dates_and_which_entry_is_in_force():
    assert date_month("2013/14", 2013) == 0
    assert date_month("2015-07", 2013) == 27
    assert date_month("2012/13", 2013) == -12
    dated = {"finance": ["allocation_per_head", "quality_premium"]}
    entries = parse_timeline([
        {"from": "2012/13", "set": {"finance.allocation_per_head": 1000.0}, "source": "a"},
        {"from": "2014/15", "until": "2015-10", "set": {"finance.allocation_per_head": 1100.0},
         "source": "b"},
        {"from": "2016/17", "set": {"finance.allocation_per_head": 1200.0}, "source": "c"},
    ], dated)
    value = {m: overrides_at(entries, m, 2013).get("finance.allocation_per_head")
             for m in (0, 11, 12, 29, 30, 35, 36, 100)}
    # entry 1 holds from the start; entry 2 replaces it, then ends: the scenario's value again
    assert value == {0: 1000.0, 11: 1000.0, 12: 1100.0, 29: 1100.0, 30: None, 35: None,
                     36: 1200.0, 100: 1200.0}


def test_changes_take_effect_in_their_month_and_are_recorded(tmp_path):
    cfg = load_config(write(tmp_path, entry(frm="2014/15", until="2016/17")))
    result = run_simulation(cfg, 1)
    events = result.tables["events"]
    policy = events[events["kind"] == Event.POLICY_CHANGE]
    assert policy["month"].tolist() == [12, 36]
    scenario = Config().finance.allocation_per_head
    assert policy["detail"].tolist() == ["finance.allocation_per_head = 1400.0",
                                         f"finance.allocation_per_head = {scenario!r}"]
    gy = result.tables["group_year"].groupby("year")[["allocation", "population"]].sum()
    per_head = (gy["allocation"] / gy["population"]).to_numpy()
    # year 1 and 2 allocations follow the dated value; years 0 and 3 the scenario's
    assert per_head[1] / per_head[0] == pytest.approx(1400.0 / 1318.0, rel=0.03)
    assert per_head[3] / per_head[0] == pytest.approx(1.0, rel=0.03)


def test_a_timeline_changes_the_digest_and_survives_overrides(tmp_path):
    plain = load_config(write(tmp_path, ""))
    dated = load_config(write(tmp_path, entry()))
    assert plain.digest() != dated.digest()
    again = dated.with_overrides({"run.seed": 7})
    assert again.timeline == dated.timeline
    assert "timeline" not in plain.to_dict() and "timeline" in dated.to_dict()


def test_no_timeline_leaves_a_run_unchanged():
    # (tests/test_regression_baseline.py holds every figure of timeline-free runs fixed)
    cfg = small_config()
    timeline_free = CommissioningModel(cfg, seed=3)
    assert timeline_free.timeline_states == {} and timeline_free.cfg is cfg
    assert Event.POLICY_CHANGE not in set(run_simulation(cfg, 3).tables["events"]["kind"])


# ---- consolidation and the moratorium -----------------------------------------------------------
def footprint_model(rate: float, years: int = 2) -> CommissioningModel:
    """Four groups in two footprints (F1: G00, G01; F2: G02, G03)."""
    cfg = small_config(**{"region.n_groups": 4, "run.years": years,
                          "behaviour.consolidation_policy": "one_per_footprint",
                          "behaviour.consolidation_rate_pushed": rate,
                          "behaviour.voluntary_mergers": False})
    model = CommissioningModel(cfg, seed=2)
    for code, footprint in (("G00", "F1"), ("G01", "F1"), ("G02", "F2"), ("G03", "F2")):
        model.groups[code].footprint = footprint
    return model


def test_consolidation_merges_each_footprint_into_its_largest_group():
    model = footprint_model(1.0, years=1)
    largest = {f: max((g for g in model.groups.values() if g.footprint == f),
                      key=lambda g: (g.population, g.code)).code for f in ("F1", "F2")}
    model.run()
    active = {g.code for g in model.active_groups}
    assert active == set(largest.values())
    fates = {g.code: g.fate for g in model.groups.values() if not g.active}
    assert set(fates.values()) == {Event.CONSOLIDATION_MERGER}
    assert sum(len(g.members) for g in model.active_groups) == 16


def test_a_footprint_named_by_the_board_is_consolidated_whatever_the_policy():
    model = footprint_model(0.0, years=1)
    model.cfg = model.cfg.with_overrides({"behaviour.consolidation_policy": "none",
                                          "behaviour.consolidate_footprints": " F1 , nowhere"})
    model.run()
    remaining = {g.footprint: [] for g in model.groups.values()}
    for g in model.active_groups:
        remaining[g.footprint].append(g.code)
    assert len(remaining["F1"]) == 1 and len(remaining["F2"]) == 2
    ended = [g for g in model.groups.values() if not g.active]
    assert [g.fate for g in ended] == [Event.CONSOLIDATION_MERGER]


def test_no_consolidation_without_the_push_or_across_footprints():
    model = footprint_model(0.0)
    model.run()
    assert len(model.active_groups) == 4
    model = footprint_model(1.0)
    for g in model.groups.values():
        g.footprint = g.code  # every group its own footprint: nothing to consolidate
    model.run()
    assert len(model.active_groups) == 4


def test_the_moratorium_stops_voluntary_mergers(tmp_path):
    # groups in deficit with full mutual trust merge, unless a moratorium is in force
    over = {"finance.budget_pressure": 0.08, "behaviour.merger_trust": 0.0, "run.years": 3}
    free = run_simulation(small_config(**over), 1).summary
    held = run_simulation(small_config(**over, **{"behaviour.voluntary_mergers": False}), 1).summary
    assert free["voluntary_mergers"] >= 1
    assert held["voluntary_mergers"] == 0


# ---- the marginal rate emergency tariff ------------------------------------------------------
def _emergency_run(extra: dict, months: int):
    """Full-tariff and discounted models side by side: year 0, then ``months`` of year 1 (before
    the forecast month, so both see the same admissions); each group's admissions counted."""
    over = {"run.years": 2, "population.demand_growth": 0.1}
    full = CommissioningModel(small_config(**over), seed=4)
    part = CommissioningModel(small_config(**over, **extra), seed=4)
    full.run(12)
    part.run(12)
    spent = [{g.code: g.spent["activity"] for g in m.groups.values()} for m in (full, part)]
    admitted = {g.code: 0.0 for g in full.groups.values()}
    for _ in range(months):
        full.step()
        part.step()
        for g in full.active_groups:
            admitted[g.code] += float(full.month_result.counts[g.member_indices(),
                                                               Counter.EMERGENCY].sum())
    saved = {g.code: (g.spent["activity"] - spent[0][g.code])
             - (part.groups[g.code].spent["activity"] - spent[1][g.code])
             for g in full.groups.values()}
    return full, part, admitted, saved


def test_the_marginal_rate_bills_the_year_so_fars_admissions_above_the_baseline():
    full, part, admitted, saved = _emergency_run({"costs.emergency_marginal_rate": 0.3}, 6)
    assert full.emergency_baseline is not None
    np.testing.assert_array_equal(full.emergency_baseline, part.emergency_baseline)
    tariff = 0.7 * full.cfg.costs.non_elective
    for g in full.active_groups:
        baseline = 6 * float(full.emergency_baseline[g.member_indices()].sum())
        assert admitted[g.code] > baseline  # demand grew 10%: above the 83% baseline
        assert saved[g.code] == pytest.approx(tariff * (admitted[g.code] - baseline), rel=1e-9)


def test_blended_payment_bills_last_years_admissions_and_a_share_of_the_difference():
    full, part, admitted, saved = _emergency_run({"costs.emergency_marginal_rate": 0.0,
                                                  "costs.emergency_payment": "blended"}, 6)
    for g in full.active_groups:
        planned = 6 * float(full.emergency_last_year[g.member_indices()].sum())
        # a block contract: the group pays for last year's admissions whatever happens
        assert saved[g.code] == pytest.approx(full.cfg.costs.non_elective
                                              * (admitted[g.code] - planned), rel=1e-9)



def test_no_new_group_while_the_board_expects_one_per_footprint():
    """The polarised, pressured region fractures; with the Board expecting one group per
    footprint (every group its own footprint here, so nothing is consolidated) it does not."""
    region = {"run.years": 10, "region.target_population": 600_000, "world.scale": 0.1,
              "finance.initial_distance_sd": 0.0, "finance.budget_pressure": 0.01,
              "region.imd_sd_within_group": 20.0, "behaviour.initial_trust": 0.8}
    pushed = {**region, "behaviour.consolidation_policy": "one_per_footprint"}
    free = [run_simulation(Config().with_overrides(region), s).summary["fractures"]
            for s in (1, 2, 3)]
    held = [run_simulation(Config().with_overrides(pushed), s).summary for s in (1, 2, 3)]
    assert sum(free) >= 1
    assert [s["fractures"] for s in held] == [0, 0, 0]
    assert [s["consolidation_mergers"] for s in held] == [0, 0, 0]


def test_pooled_budgets_take_their_share_of_the_allocation():
    model = CommissioningModel(small_config(**{"run.years": 1,
                                               "finance.pooled_budget_share": 0.05}), seed=5)
    model.run()
    for group in model.active_groups:
        allocation = model.board.allocations[group.code]
        assert group.spent["pooled_budget"] == pytest.approx(0.05 * allocation, rel=1e-9)
    model.check_invariants()
    off = CommissioningModel(small_config(**{"run.years": 1}), seed=5)
    off.run()
    assert all(g.spent["pooled_budget"] == 0.0 for g in off.groups.values())
    for group in model.active_groups:  # ring-fenced: services in line with the rest
        other = off.groups[group.code]
        assert group.other_services_cost == pytest.approx(0.95 * other.other_services_cost)
        assert group.community_services_cost == pytest.approx(
            0.95 * other.community_services_cost)


@pytest.mark.parametrize("raw, message", [
    ([{"from": "2014/15", "set": {1: 0.5}, "source": "s"}], "1 is not a parameter"),
    ([{"from": "\uff12\uff10\uff11\uff14/15", "set": {"finance.quality_premium": 4.0},
       "source": "s"}], "must be a financial year"),
    ([{"from": "2014/15\n", "set": {"finance.quality_premium": 4.0}, "source": "s"}],
     "must be a financial year"),
    ([{"from": "2030/31", "set": {"behaviour.running_cost_cut": 2.0}, "source": "s"}],
     "in force from April 2030"),  # after the run's end: still checked
])
def test_the_python_api_refuses_what_a_file_cannot_hold(raw, message):
    with pytest.raises(ConfigError, match=message):
        Config.from_dict({"timeline": raw})


@pytest.mark.parametrize("payment", ["marginal_rate", "blended"])
def test_practices_activity_spend_adds_up_to_what_their_groups_pay(payment):
    cfg = small_config(**{"run.years": 2, "population.demand_growth": 0.1,
                          "costs.emergency_marginal_rate": 0.3,
                          "costs.emergency_payment": payment})
    tables = run_simulation(cfg, 6).tables
    practices = tables["practice_year"].groupby("year")["activity_spend"].sum()
    groups = tables["group_year"].groupby("year")["spend_activity"].sum()
    np.testing.assert_allclose(practices.to_numpy(), groups.to_numpy(), rtol=1e-9)


def test_a_rate_changed_mid_year_does_not_reprice_the_months_before():
    """From October the rate is 0.9: the discount of the months before stays as it was."""
    over = {"run.years": 2, "population.demand_growth": 0.1, "costs.emergency_marginal_rate": 0.3}
    model = CommissioningModel(small_config(**over), seed=4)
    model.run(18)  # year 0, then April to September of year 1 at 0.3
    before = {g.code: g.spent["activity"] for g in model.groups.values()}
    discounted = {g.code: g.emergency_year_to_date[3] for g in model.active_groups}
    model.cfg = model.cfg.with_overrides({"costs.emergency_marginal_rate": 0.9})
    model.step()  # October at 0.9: a new period
    for g in model.active_groups:
        period, admitted, baseline, discount = g.emergency_year_to_date
        assert period == (1, 0.9, "marginal_rate")
        assert discount == pytest.approx(0.1 * model.cfg.costs.non_elective
                                         * max(admitted - baseline, 0.0))
        assert discounted[g.code] > 0  # what was taken off before October stays taken off
        assert g.spent["activity"] > before[g.code]
