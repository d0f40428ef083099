"""The model's shape: a declared schedule, behaviour modules, Mesa-native organisations, one clock."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from support import ROOT, small_config

from ccgabm import core
from ccgabm.agents import CommissioningGroup, Practice
from ccgabm.behaviours import REGISTERED, Behaviour, check_registry
from ccgabm.config import PARAMETER_OWNER, SECTIONS
from ccgabm.events import ENDINGS, Event
from ccgabm.model import CommissioningModel
from ccgabm.params import ConfigError, param
from ccgabm.recorder import Recorder
from ccgabm.schedule import When, declared_phases, schedule_text


def test_schedule_is_ordered_data_and_timings_use_its_names():
    phases = [p for p, _, _ in declared_phases(REGISTERED)]
    assert [p.order for p in phases] == sorted(p.order for p in phases)
    names = [p.name for p in phases]
    assert names.index("allocation") < names.index("group levers") < names.index("patients")
    assert names.index("accounts") < names.index("trust") < names.index("practice choices")
    assert names[-1] == "record"
    model = CommissioningModel(small_config(**{"run.years": 1}), seed=1)
    model.run()
    assert set(model.timings) == set(names)  # every phase ran at least once in a year
    text = schedule_text(model.cfg)
    for name in names:
        assert name in text


def test_when_runs_each_phase_in_its_months():
    months = range(24)
    assert [m for m in months if When.YEAR_START.due(m, 6)] == [0, 12]
    assert [m for m in months if When.FORECAST.due(m, 6)] == [6, 18]
    assert [m for m in months if When.YEAR_END.due(m, 6)] == [11, 23]
    assert all(When.MONTHLY.due(m, 6) for m in months)


def test_every_behaviour_parameter_is_in_its_section_once():
    for behaviour in REGISTERED:
        for section, params in behaviour.params.items():
            for f in dataclasses.fields(params):
                assert f.name in {g.name for g in dataclasses.fields(SECTIONS[section])}
                assert PARAMETER_OWNER[(section, f.name)] == behaviour.name


def test_registry_refuses_duplicates_and_missing_requirements():
    class Needy(Behaviour):
        name = "needy"
        requires = ("nothing_of_the_kind",)

    with pytest.raises(ValueError, match="requires"):
        check_registry((*REGISTERED, Needy))
    with pytest.raises(ValueError, match="unique"):
        check_registry((*REGISTERED, REGISTERED[0]))


def test_a_parameter_declared_twice_is_refused(monkeypatch):
    import ccgabm.behaviours as registry
    from ccgabm.config import _assemble_sections

    @dataclasses.dataclass(frozen=True)
    class Clash:
        initial_trust: float = param(0.5, lo=0.0, hi=1.0, source="test")

    class Copycat(Behaviour):
        name = "copycat"
        params = {"behaviour": Clash}

    monkeypatch.setattr(registry, "REGISTERED", (*REGISTERED, Copycat))
    with pytest.raises(ValueError, match="initial_trust is declared by both trust and copycat"):
        _assemble_sections()


def test_organisations_are_mesa_agents_and_retired_ones_are_removed():
    cfg = small_config(**{"run.years": 3, "region.n_groups": 4, "region.practices_per_group": 4,
                          "finance.budget_pressure": 0.05, "behaviour.initial_trust": 0.3,
                          "region.deprivation_gap": 35.0, "behaviour.closure_rate": 1.0,
                          "behaviour.closure_imd": 0.0, "behaviour.closure_list_size": 100_000,
                          "behaviour.co_commissioning_year": -1,
                          "behaviour.dissolve_after_years": 1})
    model = CommissioningModel(cfg, seed=2)
    model.run(check_invariants=True)
    closed = [p for p in model.practices if not p.open]
    ended = [g for g in model.groups.values() if not g.active]
    assert closed, "the scenario should close practices"
    assert ended, "the scenario should end groups"
    live = set(model.agents_by_type[Practice])
    assert live == {p for p in model.practices if p.open}
    assert set(model.agents_by_type[CommissioningGroup]) == set(model.active_groups)
    assert not (set(closed) | set(ended)) & set(model.agents)
    fates = {g.fate for g in ended}
    assert fates <= set(ENDINGS)


def test_datacollector_gives_the_tables_and_agent_variables():
    model = CommissioningModel(small_config(**{"run.years": 2}), seed=3)
    model.run()
    record = model.datacollector
    frames = record.frames()
    monthly = record.get_model_vars_dataframe()
    assert len(monthly) == 24 and monthly.equals(frames["monthly"])
    agents = record.get_agent_vars_dataframe()
    steps = sorted(agents.index.get_level_values("Step").unique())
    assert steps == [12.0, 24.0]  # collected at each year end (Mesa time after March)
    groups = agents[agents["type"] == "CommissioningGroup"]
    assert len(groups) == 2 * len(model.active_groups)
    practices = agents[agents["type"] == "Practice"].xs(24.0, level="Step")
    assert practices["list_size"].sum() == model.practice_arrays.list_size.sum()
    assert set(record.get_table_dataframe("events")["kind"]) <= {str(e) for e in Event}


def test_columns_given_as_arrays_read_as_their_values_would():
    as_lists, as_arrays = Recorder({}), Recorder({})
    for year in range(2):
        counts = np.array([3, 400, 7], dtype=np.int64) * (year + 1)
        spend = np.array([1.5, 2.25, 0.1]) * (year + 1)
        codes = ["A", "B", "C"]
        as_lists.add_columns("t", {"n": counts.tolist(), "spend": spend.tolist(), "code": codes})
        as_arrays.add_columns("t", {"n": counts, "spend": spend, "code": codes})
    pd.testing.assert_frame_equal(as_arrays.get_table_dataframe("t"),
                                  as_lists.get_table_dataframe("t"), check_exact=True)
    assert as_arrays.column("t", "n") == as_lists.column("t", "n") == [3, 400, 7, 6, 800, 14]
    assert as_arrays.n_rows("t") == 6
    with pytest.raises(ValueError, match="every column"):
        as_arrays.add_columns("t", {"n": counts})


def test_one_clock_and_no_step_past_the_horizon():
    model = CommissioningModel(small_config(**{"run.years": 1}), seed=1)
    assert model.month == model.steps == 0
    model.step()
    assert model.month == model.steps == 1 and model.time == 1.0
    model.run()
    assert model.month == model.horizon and not model.running
    for _ in range(2):  # refused before Mesa counts a step: the clock stays at the horizon
        with pytest.raises(ConfigError, match="horizon"):
            model.step()
        assert model.month == model.steps == model.horizon


def test_practice_state_has_one_home():
    model = CommissioningModel(small_config(), seed=1)
    practice = model.practices[0]
    base = core.levers_of(model).refer[0]
    model.practice_arrays.propensity[0] *= 1.5
    assert practice.referral_propensity == pytest.approx(model.practice_arrays.propensity[0])
    assert core.levers_of(model).refer[0] == pytest.approx(min(1.0, base * 1.5))
    practice.list_size = 1234
    assert model.practice_arrays.list_size[0] == 1234


def test_installed_package_runs_outside_the_checkout(tmp_path: Path):
    """``pip install .`` (here into a target folder), then ``ccgabm run`` from another folder."""
    source = tmp_path / "source"  # what a fresh clone holds of the package (no build files here)
    shutil.copytree(ROOT / "ccgabm", source / "ccgabm",
                    ignore=shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "tiny.toml").write_text(
        "[run]\nyears = 1\n[world]\nscale = 0.02\n[region]\nn_groups = 2\npractices_per_group = 3\n"
    )
    env = {"PYTHONPATH": str(target), "PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path)}
    where = subprocess.run([sys.executable, "-c", "import ccgabm; print(ccgabm.__file__)"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, check=True)
    assert Path(where.stdout.strip()).is_relative_to(target)
    run = subprocess.run(
        [sys.executable, "-m", "ccgabm", "run", "tiny.toml", "--out", "out", "--no-progress"],
        cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert (elsewhere / "out" / "summary.json").is_file()
    schedule = subprocess.run([sys.executable, "-m", "ccgabm", "schedule"], cwd=elsewhere, env=env,
                              capture_output=True, text=True, check=True)
    assert "practice choices" in schedule.stdout
    assert not (target / "ccgabm" / "reference").exists()  # the test oracle is not shipped
    assert np.isfinite(float(run.stdout.split("patients")[0].replace(",", "").split()[-1]))


def test_practice_rows_of_the_agent_variables_are_what_the_reporters_give():
    from ccgabm.recorder import AGENT_REPORTERS

    model = CommissioningModel(small_config(**{"run.years": 1}), seed=2)
    model.run()
    fast = [row for row in model.datacollector._record_agents(model) if row[2] == "Practice"]
    slow = [(model.time, p.unique_id, *(
        (getattr(p, r) if isinstance(r, str) else r(p)) for r in AGENT_REPORTERS.values()))
        for p in model.agents_by_type[Practice]]
    assert sorted(fast) == sorted(slow)
