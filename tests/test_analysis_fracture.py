"""Analysis: Wilson intervals against known values; fracture definitions; the full ``analyze``
pipeline on a small fake sweep (grid and sobol). The competing-risk estimates have their own
tests (``test_analysis_competing``)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_sweep_engine import FakeResult, fake_load_config, fake_result

from ccgabm.analysis import (
    AnalysisError,
    cli_analyze,
    fracture_probability,
    wilson_interval,
)
from ccgabm.sweep import parse_spec, run_sweep


@pytest.mark.parametrize(
    ("x", "n", "low", "high"),
    [
        (5, 10, 0.2366, 0.7634),  # textbook value
        (0, 10, 0.0, 0.2775),  # upper bound = z²/(n+z²)
        (10, 10, 0.7225, 1.0),
        (1, 20, 0.0089, 0.2361),
        (81, 263, 0.2553, 0.3662),  # Newcombe (1998), Stat Med 17:857, method 3
    ],
)
def test_wilson_known_values(x: int, n: int, low: float, high: float) -> None:
    lo, hi = wilson_interval(x, n)
    assert lo == pytest.approx(low, abs=1e-4) and hi == pytest.approx(high, abs=1e-4)


def test_wilson_vectorised_and_edge_cases() -> None:
    lo, hi = wilson_interval([0, 5, 0], [10, 10, 0])
    assert lo[0] == 0.0 and np.isnan(lo[2]) and np.isnan(hi[2])
    lo90, hi90 = wilson_interval(5, 10, confidence=0.90)
    assert hi90 - lo90 < hi[1] - lo[1]
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(11, 10)


@given(n=st.integers(1, 500), data=st.data(), conf=st.floats(0.5, 0.999))
def test_wilson_properties(n: int, data: st.DataObject, conf: float) -> None:
    x = data.draw(st.integers(0, n))
    lo, hi = wilson_interval(x, n, conf)
    assert 0.0 <= lo <= x / n <= hi <= 1.0
    lo2, hi2 = wilson_interval(n - x, n, conf)  # symmetric under success <-> failure
    assert lo2 == pytest.approx(1 - hi, abs=1e-12) and hi2 == pytest.approx(1 - lo, abs=1e-12)


def fake_run(config, seed: int) -> FakeResult:
    """Cheap stochastic 'model' writing the full fates contract: fracture hazard rises with
    pressure and gap and falls with trust; defections, mergers and dissolutions at fixed
    rates; no returns (so one kind has no events)."""
    v = config.values
    rng = np.random.default_rng(seed)
    horizon = config.run.years * 12
    hazard = 0.01 + v["finance.budget_pressure"] + v["region.deprivation_gap"] / 1000
    hazard *= 1.5 - v["behaviour.initial_trust"]
    n = 4
    t_fracture = rng.exponential(1 / hazard, n)
    t_defect = rng.exponential(80.0, n)
    t_merge = rng.exponential(250.0, n)
    t_dissolve = rng.exponential(400.0, n)
    forced = rng.random(n) < 0.5
    t_end = np.minimum(t_merge, t_dissolve)
    ended = t_end < horizon
    end = np.where(ended, np.floor(t_end), horizon).astype(int)
    fate = np.where(
        ended,
        np.where(t_merge < t_dissolve, np.where(forced, "forced_merger", "voluntary_merger"), "dissolved"),
        "",
    )

    def first(t: np.ndarray) -> np.ndarray:
        return np.where(np.floor(t) <= np.where(ended, end, horizon - 1), np.floor(t), np.nan)

    return fake_result(rng, end, fate, first(t_fracture), first(t_defect), np.full(n, np.nan))


def _fates() -> pd.DataFrame:
    # rep 1's 'c' was emptied by departures at month 20: not a fracture (it was under the old
    # definition); rep 0's 'b' lost members to an existing group (a defection, not a fracture)
    return pd.DataFrame(
        {
            "point_id": [0, 0, 0, 0, 0, 0, 0],
            "replication": [0, 0, 1, 1, 1, 2, 2],
            "group_id": ["a", "b", "a", "b", "c", "a", "c"],
            "start_month": [0, 0, 0, 0, 0, 0, 30],
            "end_month": [120, 48, 120, 90, 20, 120, 120],
            "fate": ["", "dissolved", "", "forced_merger", "emptied", "", ""],
            "fracture_month": [70.0, np.nan, np.nan, np.nan, np.nan, np.nan, 50.0],
            "defection_month": [np.nan, 30.0, np.nan, np.nan, 12.0, np.nan, np.nan],
            "return_month": [np.nan] * 7,
            "fractured": [True, False, False, False, False, False, True],
            "dissolved": [False, True, False, False, False, False, False],
            "merged": [False, False, False, True, False, False, False],
        }
    )


def test_fracture_probability_definitions() -> None:
    runs = pd.DataFrame({"point_id": [0, 0, 0], "replication": [0, 1, 2]})
    points = pd.DataFrame({"point_id": [0], "a.x": [1.0], "horizon_months": [120.0]})
    fp = fracture_probability(runs, _fates(), points, years=(5, 10, 20)).set_index(["level", "years"])
    # run level: within 5 y only rep 2 (month 50); within 10 y reps 0 and 2
    assert fp.loc[("run", 5), ["x", "n"]].tolist() == [1, 3]
    assert fp.loc[("run", 10), ["x", "n"]].tolist() == [2, 3]
    assert fp.loc[("run", 10), "p"] == pytest.approx(2 / 3)
    # group level: the 6 groups present at start; only rep 0's 'a' fractures (month 70);
    # the emptied and defected-from groups do not count
    assert fp.loc[("group", 5), ["x", "n"]].tolist() == [0, 6]
    assert fp.loc[("group", 10), ["x", "n"]].tolist() == [1, 6]
    lo, hi = wilson_interval(2, 3)
    assert fp.loc[("run", 10), "ci_low"] == pytest.approx(lo)
    # beyond the horizon: not estimable
    assert np.isnan(fp.loc[("run", 20), "p"])


SPEC = {
    "sweep": {"base": "baseline.toml", "seed": 7, "replications": 8},
    "axes": {
        "finance.budget_pressure": [0.0, 0.04],
        "region.deprivation_gap": [0.0, 30.0],
        "behaviour.initial_trust": [0.2, 0.8],
    },
}


def test_analyze_grid_sweep(tmp_path: Path, capsys) -> None:
    (tmp_path / "baseline.toml").write_text("")
    out = tmp_path / "out"
    run_sweep(
        parse_spec(SPEC, base_dir=tmp_path),
        out,
        run_fn=fake_run,
        load_config=fake_load_config,
        progress=False,
    )
    args = argparse.Namespace(out_dir=out, years=[2, 5], heatmap_axes=None)
    assert cli_analyze(args) == 0
    folder = out / "analysis"
    for name in [
        "fracture_probability.csv",
        "cumulative_incidence.csv",
        "cumulative_incidence.png",
        "event_incidence.csv",
        "heatmap_fracture_2y.png",
        "heatmap_fracture_5y.png",
        "sensitivity.csv",
        "report.md",
    ]:
        assert (folder / name).is_file(), name
    fp = pd.read_csv(folder / "fracture_probability.csv")
    run5 = fp[(fp["level"] == "run") & (fp["years"] == 5)]
    assert len(run5) == 8 and (run5["n"] == 8).all()
    assert ((run5["ci_low"] <= run5["p"]) & (run5["p"] <= run5["ci_high"])).all()
    sens = pd.read_csv(folder / "sensitivity.csv")
    assert set(sens["method"]) == {"spearman"}
    assert "fracture_within_5y" in set(sens["output"])
    report = (folder / "report.md").read_text()
    assert "P(fracture within N years)" in report
    assert "## Cumulative incidence of each event kind (competing risks, Aalen–Johansen)" in report
    assert "Group survival" not in report and not (folder / "survival.csv").exists()
    assert "no group had a return event" in report  # the fake never returns
    cif = pd.read_csv(folder / "cumulative_incidence.csv")
    assert {"axis", "stratum", "kind", "time", "cif", "ci_low", "ci_high", "at_risk"} <= set(cif)
    assert set(cif["axis"]) == {"all groups", *SPEC["axes"]}
    assert (cif.loc[cif["kind"] == "return", "cif"] == 0).all()
    assert cif["cif"].between(0, 1).all()
    for _, curve in cif.groupby(["axis", "stratum", "kind"]):
        assert curve["cif"].is_monotonic_increasing and curve["time"].is_monotonic_increasing
    incidence = pd.read_csv(folder / "event_incidence.csv")
    assert len(incidence) == 8 * 7 * 2  # points x kinds x horizons
    kinds = {"fracture", "defection", "return", "voluntary_merger", "forced_merger",
             "consolidation_merger", "dissolved"}
    assert set(incidence["kind"]) == kinds
    shown = incidence.dropna(subset=["cif"])
    assert (shown["ci_low"].fillna(0) <= shown["cif"]).all()
    assert (shown["cif"] <= shown["ci_high"].fillna(1)).all()

    bad = argparse.Namespace(out_dir=out, years=[5], heatmap_axes=["finance.budget_pressure", "nope.x"])
    assert cli_analyze(bad) == 2
    assert "error: heatmap axes" in capsys.readouterr().err
    with pytest.raises(AnalysisError, match="no sweep"):
        from ccgabm.analysis import analyze

        analyze(tmp_path / "missing")


def test_analyze_sobol_sweep(tmp_path: Path) -> None:
    (tmp_path / "baseline.toml").write_text("")
    spec = parse_spec(
        {
            "sweep": {
                "base": "baseline.toml",
                "seed": 3,
                "replications": 2,
                "sampling": "sobol",
                "samples": 4,
            },
            "axes": {
                "finance.budget_pressure": {"low": 0.0, "high": 0.05},
                "region.deprivation_gap": {"low": 0.0, "high": 30.0},
            },
        },
        base_dir=tmp_path,
    )
    out = tmp_path / "out"
    report = run_sweep(spec, out, run_fn=fake_run, load_config=fake_load_config, progress=False)
    assert report.n_runs == 4 * 6 * 2
    from ccgabm.analysis import analyze

    result = analyze(out, years=(5,))
    sens = pd.read_csv(result.folder / "sensitivity.csv")
    assert set(sens["method"]) == {"sobol"} and set(sens["index"]) == {"S1", "ST"}
    assert set(sens["parameter"]) == set(spec.axis_names)
    assert not (result.folder / "heatmap_fracture_5y.png").exists()
    assert any("grid" in n for n in result.notes)


def test_analyze_store_with_old_fates_columns(tmp_path: Path, monkeypatch) -> None:
    """Fates without ``fate``/``defection_month``/``return_month`` (the old contract, whose
    'fractured' also counted emptied groups) are not analysed, with a note saying why."""
    (tmp_path / "baseline.toml").write_text("")
    out = tmp_path / "out"
    spec = {**SPEC, "sweep": {**SPEC["sweep"], "replications": 1}}
    plan = parse_spec(spec, base_dir=tmp_path)
    run_sweep(plan, out, run_fn=fake_run, load_config=fake_load_config, progress=False)
    import ccgabm.sweep.store as store

    real = store.load_results

    def old_contract(folder):
        runs, fates = real(folder)
        return runs, fates.drop(columns=["fate", "defection_month", "return_month"])

    monkeypatch.setattr(store, "load_results", old_contract)
    from ccgabm.analysis import analyze

    result = analyze(out, years=(2,))
    assert any("lacks columns" in n and "rerun the sweep" in n for n in result.notes)
    assert {p.name for p in result.files} == {"sensitivity.csv", "report.md"}
