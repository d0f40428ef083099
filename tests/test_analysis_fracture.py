"""Analysis: Wilson intervals and Kaplan–Meier against known values; fracture definitions;
the full ``analyze`` pipeline on a small fake sweep (grid and sobol)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_sweep_engine import fake_load_config, fake_run

from ccgabm.analysis import (
    AnalysisError,
    cli_analyze,
    fracture_probability,
    group_spells,
    kaplan_meier,
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


def test_kaplan_meier_hand_computed() -> None:
    # times 1 2 2+ 3 4+ 5 (+ = censored). At risk 6,5,3,1 at the event times:
    # S(1)=5/6, S(2)=5/6*4/5=2/3, S(3)=2/3*2/3=4/9, S(5)=0; censored at 2 is at risk at 2.
    km = kaplan_meier(np.array([1, 2, 2, 3, 4, 5]), np.array([1, 1, 0, 1, 0, 1]))
    s = km.set_index("time")["survival"]
    assert s[1.0] == pytest.approx(5 / 6)
    assert s[2.0] == pytest.approx(2 / 3)
    assert s[3.0] == pytest.approx(4 / 9)
    assert s[4.0] == pytest.approx(4 / 9)
    assert s[5.0] == pytest.approx(0.0)
    assert km.set_index("time")["at_risk"][3.0] == 3


def _fates() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "point_id": [0, 0, 0, 0, 0, 0],
            "replication": [0, 0, 1, 1, 2, 2],
            "group_id": ["a", "b", "a", "b", "a", "c"],
            "start_month": [0, 0, 0, 0, 0, 30],
            "end_month": [120, 48, 120, 90, 120, 120],
            "fractured": [True, False, False, False, False, True],
            "fracture_month": [70.0, np.nan, np.nan, np.nan, np.nan, 50.0],
            "dissolved": [False, True, False, False, False, False],
            "merged": [False, False, False, True, False, False],
        }
    )


def test_group_spells_event_and_censoring() -> None:
    s = group_spells(_fates())
    assert s["event"].tolist() == [True, True, False, False, False, True]
    # fracture at 70 -> 70/12 y; dissolved at 48; merged censored at 90; late group 50-30
    assert s["duration_years"].tolist() == pytest.approx([70 / 12, 4, 10, 7.5, 10, 20 / 12])


def test_fracture_probability_definitions() -> None:
    runs = pd.DataFrame({"point_id": [0, 0, 0], "replication": [0, 1, 2]})
    points = pd.DataFrame({"point_id": [0], "a.x": [1.0], "horizon_months": [120.0]})
    fp = fracture_probability(runs, _fates(), points, years=(5, 10, 20)).set_index(["level", "years"])
    # run level: within 5 y only rep 2 (month 50); within 10 y reps 0 and 2
    assert fp.loc[("run", 5), ["x", "n"]].tolist() == [1, 3]
    assert fp.loc[("run", 10), ["x", "n"]].tolist() == [2, 3]
    assert fp.loc[("run", 10), "p"] == pytest.approx(2 / 3)
    # group level: the 5 groups present at start; only rep 0's 'a' fractures (month 70)
    assert fp.loc[("group", 5), ["x", "n"]].tolist() == [0, 5]
    assert fp.loc[("group", 10), ["x", "n"]].tolist() == [1, 5]
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
        "survival.png",
        "survival.csv",
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
    assert "P(fracture within N years)" in report and "Kaplan" in report

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
