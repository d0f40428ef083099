"""Experiments (experiments/*.py): shared helpers, and a --quick smoke run of every script.

Each smoke run checks that the script runs its sweep through the sweep engine and writes
report.md (with the model-vs-published table) and at least one figure. The direction of each
effect at a statistically clear size is checked in test_experiments_slow.py (marked slow).
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from support import ROOT

from ccgabm.findings import (
    PUBLISHED,
    Estimate,
    derive_spec,
    mean_interval,
    newcombe_difference,
    ols_slope,
    paired_difference,
    proportion,
    welch_difference,
)
from ccgabm.findings.report import judge
from ccgabm.findings.runner import spec_dir

EXPERIMENTS = ["dilemma", "fundholding", "referral_management", "group_size", "co_commissioning",
               "fracture_map"]


def load_script(name: str):
    """Import experiments/NAME.py as a module (experiments/ is a folder of scripts)."""
    path = ROOT / "experiments" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"experiment_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---- statistics --------------------------------------------------------------------------
def test_mean_interval_matches_t_formula():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    est = mean_interval(x)
    assert est.value == pytest.approx(3.0)
    half = 2.7764451051977987 * x.std(ddof=1) / math.sqrt(5)  # t(0.975, 4)
    assert (est.low, est.high) == pytest.approx((3.0 - half, 3.0 + half))
    assert mean_interval([7.0]).n == 1 and math.isnan(mean_interval([7.0]).low)


def test_paired_difference_uses_matching_replications():
    runs = pd.DataFrame({
        "replication": [0, 1, 2, 0, 1, 2],
        "switch": [False] * 3 + [True] * 3,
        "y": [100.0, 200.0, 50.0, 110.0, 220.0, 55.0],
    })
    rel = paired_difference(runs, "switch", False, True, "y")
    assert rel.value == pytest.approx(10.0) and rel.low == pytest.approx(10.0)
    ab = paired_difference(runs, "switch", False, True, "y", relative=False)
    assert ab.value == pytest.approx((10 + 20 + 5) / 3)


def test_proportion_and_newcombe_intervals():
    p = proportion(3, 10)
    assert p.low < 0.3 < p.high
    d = newcombe_difference(30, 40, 10, 40)
    assert d.value == pytest.approx(0.5)
    assert -1 <= d.low < 0.5 < d.high <= 1 and d.excludes(0.0)
    swapped = newcombe_difference(10, 40, 30, 40)
    assert (swapped.low, swapped.high) == pytest.approx((-d.high, -d.low))
    same = newcombe_difference(5, 20, 5, 20)
    assert not same.excludes(0.0)


def test_ols_slope_and_welch():
    x = np.arange(10.0)
    est = ols_slope(x, 2 * x + 1)
    assert est.value == pytest.approx(2.0) and est.low == pytest.approx(2.0)
    w = welch_difference([1.0, 2.0, 3.0], [11.0, 12.0, 13.0])
    assert w.value == pytest.approx(10.0) and w.low > 0


def test_judge_rules():
    rng = PUBLISHED["fundholding_elective"]
    assert judge(rng, Estimate(4.0, 3.8, 4.2, 10))[0] == "yes"
    assert judge(rng, Estimate(6.0, 5.5, 6.5, 10))[0] == "no"
    none = PUBLISHED["fundholding_emergency"]
    assert judge(none, Estimate(0.1, -0.2, 0.4, 10))[0] == "yes"
    assert judge(none, Estimate(0.2, 0.1, 0.3, 10), margin=1.0)[0] == "yes"
    assert judge(none, Estimate(3.0, 2.0, 4.0, 10), margin=1.0)[0] == "no"
    down = PUBLISHED["cocomm_emergency"]
    assert judge(down, Estimate(-1.0, -1.5, -0.5, 10))[0] == "yes"
    assert judge(down, Estimate(-1.0, -2.0, 0.5, 10))[0] == "no"
    assert judge(down, Estimate(-1.0, float("nan"), float("nan"), 1))[0] == "n/a"


# ---- specs -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_spec_builds_a_plan(name):
    from ccgabm.sweep import build_plan

    spec = derive_spec(spec_dir(ROOT) / f"{name}.toml")
    plan = build_plan(spec)  # every point validated by the model's config
    assert plan.n_runs >= 2
    quick = load_script(name).QUICK
    small = derive_spec(spec_dir(ROOT) / f"{name}.toml", quick.get("replications"), quick.get("fixed"),
                        quick.get("axes"))
    assert build_plan(small).n_runs <= 16


def test_derive_spec_keeps_axes_out_of_fixed():
    spec = derive_spec(spec_dir(ROOT) / "fundholding.toml", 3,
                       fixed={"run.years": 2, "policy.budget_incentive": True})
    assert spec.replications == 3
    assert spec.fixed == {"run.years": 2}
    assert spec.common_random_numbers


def test_extras_add_table_figures(small_cfg):
    from ccgabm.simulate import run_with_extras

    cfg = small_cfg.with_overrides({"policy.referral_management": True})
    result = run_with_extras(cfg, 3)
    s = result.summary
    assert s["x_referral_management_cost_per_patient"] == pytest.approx(
        cfg.policy.referral_management_cost, rel=0.05)
    assert s["x_running_cost_per_head_y0"] > cfg.finance.running_cost_per_head
    assert s["x_group_population"] > 0 and 0 <= s["x_deficit_share"] <= 1
    assert isinstance(result.group_fates, pd.DataFrame)


# ---- smoke runs (--quick) ----------------------------------------------------------------
@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_quick_run_writes_report(name, tmp_path: Path):
    module = load_script(name)
    out = tmp_path / name
    report = module.main(["--quick", "--out", str(out)])
    assert Path(report) == out / "report.md"
    text = report.read_text()
    assert "## Model vs published" in text and "| finding |" in text
    assert "quick size" in text
    assert list(out.glob("*.png")) or list((out / "sweep" / "analysis").glob("*.png"))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["experiment"] == name and summary["rows"]
    for row in summary["rows"]:
        assert row["inside"] in ("yes", "no", "n/a")
        assert row["citation"]
    assert (out / "sweep" / "manifest.json").is_file()
