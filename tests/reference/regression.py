"""Summary figures of fixed-seed runs, compared against a committed baseline.

``regression_figures()`` runs (a) the vectorised population alone under fixed practice
levers and hospital cut-offs, and (b) the whole model on a small region, and returns their
summary figures. ``scripts/regenerate_reference.py`` writes them to
``baseline_summary.json`` beside this module; ``tests/test_regression_baseline.py`` checks that
a fresh run gives the same figures, so an optimisation that changes results is caught.

Part (a) depends only on the patient rules, the rate tables and the random streams; part (b)
also on the organisations' behaviour, so a deliberate behaviour change needs the baseline
regenerated (explicitly, with the script).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

BASELINE_PATH = Path(__file__).with_name("baseline_summary.json")
POPULATION_SEED = 20240607
MODEL_SEED = 4242


def population_figures(months: int = 36) -> dict[str, Any]:
    """Counter totals and final state of the population alone under fixed levers."""
    from ccgabm.config import Config
    from ccgabm.patients import COUNTER_NAMES, Counter, Population, PracticeLevers
    from ccgabm.rng import Streams

    cfg = Config().with_overrides({"run.years": 3})
    streams = Streams(POPULATION_SEED)
    rng = np.random.default_rng(7)
    n_prac, n_hosp = 12, 3
    sizes = rng.integers(800, 4000, n_prac)
    imd = rng.uniform(5, 60, n_prac)
    pop = Population(cfg, sizes, imd, streams)
    levers = PracticeLevers(
        refer=rng.uniform(0.2, 0.6, n_prac),
        emergency=rng.uniform(0.9, 1.1, n_prac),
        conversion=rng.uniform(0.15, 0.35, n_prac),
        hospital=np.arange(n_prac) % n_hosp,
    )
    list_sizes = pop.list_sizes()
    totals = np.zeros(len(COUNTER_NAMES), dtype=np.int64)
    hist = np.zeros(256, dtype=np.int64)
    quint = np.zeros((5, 2), dtype=np.int64)
    need = []
    for month in range(months):
        if month % 12 == 0:
            need.append(float(pop.need_weights(month).sum()))
        cut = np.array([2 + (month + h) % 3 for h in range(n_hosp)])
        frac = np.array([0.25 + 0.2 * h for h in range(n_hosp)])
        res = pop.step(month, list_sizes, levers, cut, frac, n_hosp)
        list_sizes = res.counts[:, Counter.LIST_END].copy()
        totals += res.counts.sum(axis=0)
        hist += res.waiting_hist.sum(axis=0)
        quint += res.quintiles
    alive = pop.alive == 1
    return {
        "counters": {name: int(v) for name, v in zip(COUNTER_NAMES, totals, strict=True)},
        "waiting_hist_weighted": int((hist * np.arange(256)).sum()),
        "quintile_person_months": [int(v) for v in quint[:, 0]],
        "quintile_emergency": [int(v) for v in quint[:, 1]],
        "need_weight_per_year": need,
        "alive_end": int(alive.sum()),
        "ltc_sum_end": int(pop.ltc[alive].astype(np.int64).sum()),
        "birth_month_sum_end": int(pop.birth_month[alive].astype(np.int64).sum()),
        "imd_code_sum_end": int(pop.imd_code[alive].astype(np.int64).sum()),
        "waiting_end": int((pop.wait[alive] > 0).sum()),
        "list_sizes_end": [int(v) for v in pop.list_sizes()],
    }


def model_figures() -> dict[str, Any]:
    """Headline figures of a small whole-model run (two groups, ~20,000 patients, 3 years)."""
    from ccgabm.config import Config
    from ccgabm.simulate import run_simulation

    cfg = Config().with_overrides({
        "run.years": 3,
        "region.n_groups": 2,
        "region.practices_per_group": 4,
        "region.target_population": 20_000,
    })
    summary = run_simulation(cfg, seed=MODEL_SEED).summary
    summary.pop("config_digest", None)
    return summary


def regression_figures() -> dict[str, Any]:
    """Both parts, as written to the committed baseline."""
    return {"population": population_figures(), "model": model_figures()}


def compare(expected: Any, actual: Any, path: str = "", rel: float = 1e-9) -> list[str]:
    """Differences between two nested figure dicts (exact for ints, ``rel`` for floats)."""
    diffs: list[str] = []
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected a mapping, got {actual!r}"]
        for key in sorted(set(expected) | set(actual)):
            if key not in actual:
                diffs.append(f"{path}/{key}: missing")
            elif key not in expected:
                diffs.append(f"{path}/{key}: not in the baseline")
            else:
                diffs += compare(expected[key], actual[key], f"{path}/{key}", rel)
    elif isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path}: expected {expected!r}, got {actual!r}"]
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            diffs += compare(e, a, f"{path}[{i}]", rel)
    elif isinstance(expected, float) or isinstance(actual, float):
        e, a = float(expected), float(actual)
        if not (e == a or (np.isnan(e) and np.isnan(a)) or abs(e - a) <= rel * max(abs(e), abs(a))):
            diffs.append(f"{path}: expected {e!r}, got {a!r}")
    elif expected != actual:
        diffs.append(f"{path}: expected {expected!r}, got {actual!r}")
    return diffs
