"""``ccgabm calibrate``: specs refused cleanly, the loss, resume after SIGKILL, and round trips.

The resume and study tests replace the model with a cheap fake (module level, so that the
sweep engine's workers could unpickle it) whose figures are smooth functions of two parameters;
the round trips run the real model on the baseline region.
"""

from __future__ import annotations

import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from support import ROOT

from ccgabm.calibrate import (
    SERIES,
    CalibrationError,
    load_calibration,
    parse_calibration,
    run_calibration,
    summary_figures,
)
from ccgabm.calibrate.loss import fit_candidate
from ccgabm.calibrate.outputs import calibration_run
from ccgabm.cli import main
from ccgabm.config import load_config

BASE = ROOT / "configs" / "baseline.toml"
NEED, EMERGENCY = 0.022, 0.0033  # the cited defaults of referral.need_rate and emergency.base_rate


@dataclass
class FakeResult:
    summary: dict[str, Any]
    group_fates: pd.DataFrame = field(default_factory=pd.DataFrame)


def fake_run(config, seed: int) -> FakeResult:
    """Referrals and emergencies proportional to the two rates, with a little seeded noise."""
    rng = np.random.default_rng(seed)
    referrals = 6700.0 * config.referral.need_rate * (1 + 0.02 * rng.standard_normal())
    emergencies = 30300.0 * config.emergency.base_rate * (1 + 0.02 * rng.standard_normal())
    return FakeResult({"referrals_per_1000": referrals, "seed": seed, "config_digest": config.digest(),
                       "series.emergency_admissions_per_1000": {"0": emergencies, "1": emergencies}})


def slow_fake_run(config, seed: int) -> FakeResult:
    time.sleep(0.1)
    return fake_run(config, seed)


def spec_data(**head) -> dict[str, Any]:
    """A valid spec: two parameters, a summary figure and a series."""
    return {
        "calibration": {"base": str(BASE), "seed": 3, "replications": 2, "trials": 6, "batch": 2,
                        "check_replications": 2, **head},
        "fixed": {"run.years": 2, "world.scale": 0.05},
        "parameters": {"referral.need_rate": {"low": 0.011, "high": 0.044, "log": True},
                       "emergency.base_rate": {"low": 0.00165, "high": 0.0066}},
        "targets": [{"output": "referrals_per_1000", "value": 6700.0 * NEED, "sd": 3.0},
                    {"series": "emergency_admissions_per_1000", "years": [0, 1],
                     "values": [30300.0 * EMERGENCY] * 2, "sd": [2.0, 2.0]}],
    }


def write_spec(path: Path, data: dict[str, Any]) -> Path:
    """Write spec data as TOML (flat enough for a hand-written writer)."""
    def value(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return f'"{v}"'
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        return repr(v)

    lines = []
    for table in ("calibration", "fixed", "parameters"):
        lines.append(f"[{table}]")
        lines += [f'"{k}" = {value(v)}' for k, v in data.get(table, {}).items()]
    for target in data.get("targets", []):
        lines.append("[[targets]]")
        lines += [f"{k} = {value(v)}" for k, v in target.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


# ---- the spec ----------------------------------------------------------------------------------
def test_valid_spec_parses():
    spec = parse_calibration(spec_data())
    assert spec.parameter_names == ["referral.need_rate", "emergency.base_rate"]
    assert spec.series == ("emergency_admissions_per_1000",)
    assert spec.targets[1].columns == ["series.emergency_admissions_per_1000.0",
                                       "series.emergency_admissions_per_1000.1"]


def _broken(path: tuple, value: Any) -> dict[str, Any]:
    data = spec_data()
    node = data
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


_DELETE = object()
BAD_SPECS = [
    (("calibration", "sampler"), "gp", "sampler must be one of"),
    (("calibration", "replicates"), 2, "unknown key 'replicates'"),
    (("calibration", "seed"), _DELETE, "seed is required"),
    (("calibration", "replications"), 0, "replications must be an int from 1 to 1,000, got 0"),
    (("parameters", "referral.need_rate"), {"low": 0.04, "high": 0.01}, "low must be < high"),
    (("parameters", "referral.need_rate"), {"low": 0.0, "high": 0.04, "log": True},
     "log-scale search needs low > 0"),
    (("parameters", "referral.need_rate"), {"low": 0.01}, "needs 'high'"),
    (("parameters", "needrate"), {"low": 0.01, "high": 0.02}, "dotted 'section.name'"),
    (("targets", 0, "output"), "referrals_per_100", "did you mean 'referrals_per_1000'"),
    (("targets", 0, "sd"), 0.0, "sd must be > 0"),
    (("targets", 0, "sd"), 1e-170, "at least 1e-150"),
    (("calibration", "replications"), 10**6, "replications must be an int from 1 to 1,000, got 1000000"),
    (("parameters", "run.seed"), {"low": 1, "high": 9}, "'run.seed' cannot be calibrated"),
    (("targets", 0, "weight"), -1.0, "weight must be > 0"),
    (("targets", 0, "years"), [0], "years goes with series"),
    (("targets", 1, "series"), "group", "not a known series (did you mean 'groups'"),
    (("targets", 1, "values"), [1.0], "one value per year"),
    (("targets", 1, "sd"), [1.0, 2.0, 3.0], "one value or one per year"),
    (("targets", 1, "years"), [0, 0], "repeats a year"),
    (("targets",), [], "[[targets]] is required"),
]


@pytest.mark.parametrize(("path", "value", "message"), BAD_SPECS, ids=[m for _, _, m in BAD_SPECS])
def test_bad_specs_refused_with_one_line(path, value, message):
    with pytest.raises(CalibrationError) as err:
        parse_calibration(_broken(path, value))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(("override", "message"), [
    ({"parameters": {"referral.nonsense": {"low": 0.1, "high": 0.2}}}, "rejected by the config"),
    ({"parameters": {"referral.need_rate": {"low": 0.5, "high": 2.0}}},
     "bound 2.0 rejected by the config"),
    ({"parameters": {"region.n_groups": {"low": 2, "high": 4.5}}}, "integer parameter"),
    ({"fixed": {"run.years": 1}}, "lie beyond the run's 1 years"),
])
def test_parameters_checked_against_the_config_before_any_run(tmp_path, override, message, capsys):
    data = spec_data()
    data.update(override)
    path = write_spec(tmp_path / "bad.toml", data)
    assert main(["calibrate", str(path), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # nothing written


def test_cli_refuses_a_missing_or_malformed_spec(tmp_path, capsys):
    assert main(["calibrate", str(tmp_path / "none.toml"), "--no-progress"]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "broken.toml").write_text("[calibration\nseed = 1\n")
    assert main(["calibrate", str(tmp_path / "broken.toml"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1


def test_shipped_spec_is_valid():
    spec = load_calibration(ROOT / "configs" / "calibration" / "baseline_roundtrip.toml")
    assert spec.parameter_names == ["referral.need_rate", "emergency.base_rate"]


def test_summary_figures_declared_match_a_real_run():
    """The catalogue a target is checked against is what runs report (numbers only)."""
    result = calibration_run(load_config(BASE).with_overrides({"run.years": 1, "world.scale": 0.05}), 1,
                             tuple(SERIES))
    numeric = {k for k, v in result.summary.items()
               if k not in ("seed", "config_digest") and not isinstance(v, dict | str)}
    assert numeric <= summary_figures()
    dilemma = {f for f in summary_figures() if f.startswith("dilemma_")}
    assert summary_figures() - numeric == dilemma  # the dilemma is off by default
    for name in SERIES:  # every series gives one finite value a year
        values = result.summary[f"series.{name}"]
        assert list(values) == ["0"] and math.isfinite(values["0"]), name


def test_dilemma_declares_its_figures():
    cfg = load_config(ROOT / "configs" / "dilemma.toml").with_overrides(
        {"run.years": 2, "world.scale": 0.05, "dilemma.choice": "join"})
    result = calibration_run(cfg, 1)
    reported = {k for k, v in result.summary.items() if k.startswith("dilemma_") and not isinstance(v, str)}
    assert reported == {f for f in summary_figures() if f.startswith("dilemma_")}


# ---- the loss ----------------------------------------------------------------------------------
def test_loss_adds_model_noise_to_the_target_uncertainty():
    spec = parse_calibration(spec_data())
    rows = pd.DataFrame({"referrals_per_1000": [150.0, 154.0],
                         "series.emergency_admissions_per_1000.0": [100.0, 100.0],
                         "series.emergency_admissions_per_1000.1": [np.nan, 96.0]})
    fit = fit_candidate(spec, rows)
    ref, e0, e1 = fit.values
    observed = 6700 * NEED
    assert ref.z2 == pytest.approx((152.0 - observed) ** 2 / (3.0**2 + 8.0 / 2))  # s^2 = 8, n = 2
    assert e1.n == 1 and e1.model_sd == 0.0  # the NaN replicate is left out
    emergency = (e0.z2 + e1.z2) / 2  # a series counts once, as the mean over its years
    assert fit.loss == pytest.approx(ref.z2 + emergency)
    undefined = rows.assign(referrals_per_1000=np.nan)
    assert not fit_candidate(spec, undefined).ok
    assert "undefined in every replicate" in fit_candidate(spec, undefined).error


# ---- the study ---------------------------------------------------------------------------------
def _trials(db: Path) -> list[tuple[int, str]]:
    try:
        with sqlite3.connect(db) as con:
            return con.execute("SELECT number, state FROM trials ORDER BY number").fetchall()
    except sqlite3.OperationalError:  # the tables are still being made
        return []


def test_study_extends_and_refuses_another_spec(tmp_path, capsys):
    import matplotlib

    spec = write_spec(tmp_path / "c.toml", spec_data())
    out = tmp_path / "out"

    def style() -> dict:  # every setting but the backend (the report draws with Agg)
        return {k: v for k, v in matplotlib.rcParams.items() if not k.startswith("backend")}

    before = style()
    first = run_calibration(spec, out, trials=4, run_fn=fake_run, progress=False)
    # the report's figures leave matplotlib's settings as they were (Optuna's style included)
    assert style() == before
    assert first.n_trials == 4 and first.n_new == 4 and first.best_number is not None
    again = run_calibration(spec, out, trials=6, run_fn=fake_run, progress=False)
    assert again.n_trials == 6 and again.n_new == 2  # finished trials are not rerun
    assert [n for n, _ in _trials(out / "study.db")] == list(range(6))
    report = (out / "report.md").read_text()
    for heading in ("## Best candidate", "## Fit of the best candidate", "## Check", "## Search"):
        assert heading in report
    assert (out / "figures" / "history.png").is_file() and (out / "figures" / "fit.png").is_file()
    other = spec_data()
    other["targets"][0]["value"] = 100.0
    write_spec(tmp_path / "c.toml", other)
    assert main(["calibrate", str(tmp_path / "c.toml"), "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "was made for another calibration" in err and len(err.strip().splitlines()) == 1
    assert len(_trials(out / "study.db")) == 6


def test_bad_storage_url_is_one_line(tmp_path, capsys):
    spec = write_spec(tmp_path / "c.toml", spec_data())
    code = main(["calibrate", str(spec), "--out", str(tmp_path / "o"), "--storage", "nosuchdb://x",
                 "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "cannot open the study" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()  # nothing written


def test_failed_candidates_are_failed_trials_not_crashes(tmp_path):
    data = spec_data()
    data["targets"][0]["output"] = "practice_referral_p90_p10"  # the fake run does not report it
    spec = write_spec(tmp_path / "c.toml", data)
    result = run_calibration(spec, tmp_path / "out", trials=2, run_fn=fake_run, progress=False)
    assert result.n_failed == 2 and result.best_number is None
    assert "the runs report no 'practice_referral_p90_p10'" in (tmp_path / "out" / "trials.csv").read_text()


_CHILD = textwrap.dedent(
    """
    import sys
    sys.path[:0] = [{tests!r}]
    import test_calibrate as t
    from ccgabm.calibrate import run_calibration

    run_calibration({spec!r}, {out!r}, jobs=1, trials=12, run_fn=t.slow_fake_run, progress=False)
    """
)


def test_resume_after_sigkill_keeps_the_count_and_duplicates_nothing(tmp_path):
    spec = write_spec(tmp_path / "c.toml", spec_data(batch=3, check_replications=0))
    out = tmp_path / "out"
    code = _CHILD.format(tests=str(Path(__file__).parent), spec=str(spec), out=str(out))
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    try:  # kill while a batch is under way, after at least one finished
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "child calibration exited early"
            assert time.monotonic() < deadline, "child calibration made no progress"
            states = [s for _, s in _trials(out / "study.db")] if (out / "study.db").exists() else []
            if states.count("COMPLETE") >= 3 and "RUNNING" in states:
                break
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    import optuna

    study = optuna.load_study(study_name="c", storage=f"sqlite:///{out / 'study.db'}")
    running = {t.number: t.params for t in study.trials if t.state.name == "RUNNING"}
    assert running
    out = out.rename(tmp_path / "moved")  # the folder's trials go with it
    result = run_calibration(spec, out, jobs=1, trials=12, run_fn=fake_run, progress=False)
    assert result.n_resumed == len(running)
    study = optuna.load_study(study_name="c", storage=f"sqlite:///{out / 'study.db'}")
    assert [t.number for t in study.trials] == list(range(12))
    assert all(t.state.name == "COMPLETE" for t in study.trials)
    for number, params in running.items():  # finished with the parameters drawn before the kill
        assert study.trials[number].params.items() >= params.items()
        assert len(study.trials[number].params) == 2
    from ccgabm.sweep import load_results

    runs = pd.concat([load_results(b)[0].assign(batch=b.name) for b in (out / "batches").iterdir()])
    assert len(runs) == 12 * 2 and not runs.duplicated(["batch", "point_id", "replication"]).any()


# ---- round trips on the real model --------------------------------------------------------------
def make_targets(years: int, scale: float, seeds: range) -> tuple[float, list[float]]:
    """Referrals per 1,000 and the emergency series at the default rates, on ``seeds``."""
    cfg = load_config(BASE).with_overrides({"run.years": years, "world.scale": scale})
    runs = [calibration_run(cfg, s, ("emergency_admissions_per_1000",)).summary for s in seeds]
    referrals = float(np.mean([r["referrals_per_1000"] for r in runs]))
    series = [float(np.mean([r["series.emergency_admissions_per_1000"][str(y)] for r in runs]))
              for y in range(years)]
    return referrals, series


def test_tiny_round_trip_recovers_the_emergency_rate(tmp_path):
    _, series = make_targets(1, 0.05, range(100, 104))
    data = {
        "calibration": {"base": str(BASE), "seed": 5, "replications": 2, "trials": 10, "batch": 2,
                        "check_replications": 2},
        "fixed": {"run.years": 1, "world.scale": 0.05},
        "parameters": {"emergency.base_rate": {"low": 0.00165, "high": 0.0066, "log": True}},
        "targets": [{"series": "emergency_admissions_per_1000", "years": [0], "values": series,
                     "sd": [2.0]}],
    }
    result = run_calibration(write_spec(tmp_path / "tiny.toml", data), tmp_path / "out", progress=False)
    assert result.n_trials == 10 and result.n_failed == 0
    assert result.best_params["emergency.base_rate"] == pytest.approx(EMERGENCY, rel=0.15)


@pytest.mark.slow
def test_round_trip_recovers_both_rates(tmp_path):
    """From bounds twice as wide on either side, 40 trials of 4 replicates recover both rates
    within 10%."""
    referrals, series = make_targets(2, 0.1, range(100, 116))
    data = spec_data(replications=4, trials=40, batch=2, check_replications=4)
    data["fixed"] = {"run.years": 2, "world.scale": 0.1}
    data["parameters"]["emergency.base_rate"]["log"] = True
    data["targets"] = [{"output": "referrals_per_1000", "value": referrals, "sd": 3.5},
                       {"series": "emergency_admissions_per_1000", "years": [0, 1], "values": series,
                        "sd": 2.0}]
    result = run_calibration(write_spec(tmp_path / "rt.toml", data), tmp_path / "out", jobs=2,
                             progress=False)
    assert result.best_params["referral.need_rate"] == pytest.approx(NEED, rel=0.10)
    assert result.best_params["emergency.base_rate"] == pytest.approx(EMERGENCY, rel=0.10)
    assert result.check is not None and result.check.ok


def test_dask_cluster_gives_the_loky_results(tmp_path):
    """The same spec through a dask LocalCluster and through loky: same candidates, same losses
    (common random numbers and a seeded sampler carry over whatever the backend)."""
    data = spec_data(replications=1, trials=2, batch=2, check_replications=0)
    data["fixed"] = {"run.years": 1, "world.scale": 0.05}
    data["targets"][1].update(years=[0], values=[100.0], sd=[2.0])
    spec = write_spec(tmp_path / "c.toml", data)
    import optuna

    losses = {}
    for backend in ("loky", "dask"):
        run_calibration(spec, tmp_path / backend, jobs=2, backend=backend, progress=False, report=False)
        study = optuna.load_study(study_name="c", storage=f"sqlite:///{tmp_path / backend / 'study.db'}")
        losses[backend] = [(t.params, t.value) for t in study.trials]
    assert len(losses["loky"]) == 2 and losses["dask"] == losses["loky"]


def test_a_candidate_the_config_refuses_is_a_failed_trial(tmp_path):
    data = spec_data(trials=6)
    data["parameters"] = {"population.newcomer_age_min": {"low": 18, "high": 44},  # each bound alone is
                          "population.newcomer_age_max": {"low": 18, "high": 44}}  # allowed, not every pair
    result = run_calibration(write_spec(tmp_path / "c.toml", data), tmp_path / "out", run_fn=fake_run,
                             progress=False)
    table = pd.read_csv(tmp_path / "out" / "trials.csv")
    refused = table[table["error"].fillna("").str.contains("rejected by the config")]
    assert result.n_trials == 6 and len(refused) >= 1
    assert (refused["population.newcomer_age_min"] > refused["population.newcomer_age_max"]).all()
    assert (table["state"] != "RUNNING").all()


def test_one_replicate_report_and_a_changed_check(tmp_path):
    spec = write_spec(tmp_path / "c.toml", spec_data(replications=1, trials=2, check_replications=3))
    run_calibration(spec, tmp_path / "out", run_fn=fake_run, progress=False)
    report = (tmp_path / "out" / "report.md").read_text()
    assert "the model's noise is not estimated" in report and "(n/a, n/a)" in report
    assert "importances need 20 or more" in report
    write_spec(tmp_path / "c.toml", spec_data(replications=1, trials=2, check_replications=1))
    again = run_calibration(spec, tmp_path / "out", run_fn=fake_run, progress=False)
    assert again.check is not None and again.check.ok and again.n_new == 0


CHECK_SEEDS = set()  # filled by the test below: the check rerun's seeds


def fail_on_check(config, seed: int) -> FakeResult:
    if seed in CHECK_SEEDS:
        raise RuntimeError("the check's runs fail")
    return fake_run(config, seed)


def test_a_failed_check_is_reported_not_a_number(tmp_path):
    from ccgabm.calibrate.batches import check_seed
    from ccgabm.sweep import run_seeds

    CHECK_SEEDS.update(s.seed for s in run_seeds(check_seed(3), 1, 2, True)[0])
    result = run_calibration(write_spec(tmp_path / "c.toml", spec_data(trials=2)), tmp_path / "out",
                             run_fn=fail_on_check, progress=False)
    assert result.check is not None and not result.check.ok
    assert "failed (" in result.format() and "inf" not in result.format()
    assert '"loss": null' in (tmp_path / "out" / "check.json").read_text()
    assert "The check failed" in (tmp_path / "out" / "report.md").read_text()


def test_one_folder_holds_one_study(tmp_path, capsys):
    spec = write_spec(tmp_path / "c.toml", spec_data(trials=2))
    run_calibration(spec, tmp_path / "out", run_fn=fake_run, progress=False)
    write_spec(tmp_path / "c.toml", spec_data(trials=2, study="other"))
    assert main(["calibrate", str(spec), "--out", str(tmp_path / "out"), "--no-progress"]) == 2
    assert "one folder holds one study" in capsys.readouterr().err


@pytest.mark.parametrize("sampler", ["cmaes", "qmc", "random"])
def test_other_samplers_integer_parameters_and_a_large_seed(tmp_path, sampler):
    data = spec_data(sampler=sampler, trials=4, seed=2**40, check_replications=0)
    data["parameters"]["region.n_groups"] = {"low": 2, "high": 4}
    result = run_calibration(write_spec(tmp_path / "c.toml", data), tmp_path / "out", run_fn=fake_run,
                             progress=False)
    assert result.n_trials == 4 and result.n_failed == 0
    assert isinstance(result.best_params["region.n_groups"], int)


def test_a_shared_storage_adopts_a_trial_left_unclaimed(tmp_path, monkeypatch):
    import optuna

    from ccgabm.calibrate import study as studies

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    spec = write_spec(tmp_path / "c.toml", spec_data(trials=2, check_replications=0))
    run_calibration(spec, tmp_path / "out", storage=url, run_fn=fake_run, progress=False)
    optuna.load_study(study_name="c", storage=url).ask()  # killed before its claim
    run_calibration(spec, tmp_path / "out", trials=3, storage=url, run_fn=fake_run, progress=False)
    states = [t.state.name for t in optuna.load_study(study_name="c", storage=url).trials]
    assert states.count("RUNNING") == 1  # fresh: it may be another folder's
    monkeypatch.setattr(studies, "CLAIM_GRACE", studies.CLAIM_GRACE * 0)
    result = run_calibration(spec, tmp_path / "out", trials=4, storage=url, run_fn=fake_run, progress=False)
    states = [t.state.name for t in optuna.load_study(study_name="c", storage=url).trials]
    assert result.n_resumed == 1 and states == ["COMPLETE"] * 4 and result.n_trials == 4


def test_writing_calibrated_values_into_the_base_keeps_the_study():
    """The objective's base digest leaves out the free parameters (every trial sets them)."""
    from ccgabm.calibrate.engine import objective_base_digest
    from ccgabm.config import Config

    free = (SimpleNamespace(name="referral.need_rate"),)
    base = Config().with_overrides({"run.years": 2})
    calibrated = base.with_overrides({"referral.need_rate": 0.0215})
    other = base.with_overrides({"emergency.base_rate": 0.0031})
    assert objective_base_digest(base, free) == objective_base_digest(calibrated, free)
    assert objective_base_digest(base, free) != objective_base_digest(other, free)
    assert objective_base_digest(base, ()) != objective_base_digest(calibrated, ())
