"""Sweep store speed: write, resume and load a store of many runs of a fake, instant model.

    .venv/bin/python benchmarks/sweep_store.py [--points 100] [--replications 100] [--jobs 1]

A grid of ``points`` budget-pressure values x ``replications`` runs (10,000 by default) of the
baseline scenario goes through the real sweep engine with a model that returns at once (a
summary of 20 figures and the fates of 6 groups), so only the store and the engine are timed:

- ``write_s``: a fresh sweep writing every run;
- ``resume_noop_s``: the same sweep again (every run checked, none redone);
- ``resume_redo_s``: again after deleting 1% of the files in ``runs/`` (the runs they held are
  redone; ``redone`` says how many);
- ``load_s``: ``ccgabm.sweep.load_results`` of the whole store.

Writes results/benchmarks/sweep_store.json (and a copy under ``$OUT`` when set).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from result_file import write_result

ROOT = Path(__file__).resolve().parents[1]
N_FIGURES = 20  # summary figures per run (assumed; the real model reports a few dozen)
N_GROUPS = 6  # groups per run (assumed; the baseline region has three at the start)


@dataclass
class FakeResult:
    """What a run returns: a summary and the group fates table."""

    summary: dict[str, Any]
    group_fates: pd.DataFrame


def instant_run(config: Any, seed: int) -> FakeResult:
    """A model that answers at once, with the shape of a real run's result."""
    rng = np.random.default_rng(seed)
    end = rng.integers(1, 121, N_GROUPS)
    fracture = np.where(rng.random(N_GROUPS) < 0.3, rng.integers(1, 121, N_GROUPS), np.nan)
    fates = pd.DataFrame({
        "group_id": [f"g{i}" for i in range(N_GROUPS)],
        "start_month": np.zeros(N_GROUPS, dtype=int),
        "end_month": end,
        "fate": np.where(end < 120, "voluntary_merger", ""),
        "fracture_month": fracture,
        "defection_month": np.full(N_GROUPS, np.nan),
        "return_month": np.full(N_GROUPS, np.nan),
        "fractured": ~np.isnan(fracture),
        "dissolved": np.zeros(N_GROUPS, dtype=bool),
        "merged": end < 120,
    })
    summary = {f"figure_{i:02d}": float(x) for i, x in enumerate(rng.normal(size=N_FIGURES))}
    summary["n_groups_end"] = int((end == 120).sum())
    return FakeResult(summary, fates)


def _timed(fn: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def measure(store: Path, points: int, replications: int, jobs: int) -> dict[str, Any]:
    """Write, resume twice and load one store; seconds of each step."""
    from ccgabm.sweep import load_results, run_sweep

    spec = store.parent / "spec.toml"
    values = ", ".join(f"{0.05 * i / max(points - 1, 1):.6f}" for i in range(points))
    spec.write_text(
        f'[sweep]\nbase = "{ROOT / "configs" / "baseline.toml"}"\nseed = 3\n'
        f'replications = {replications}\nsampling = "grid"\n'
        f'[axes]\n"finance.budget_pressure" = [{values}]\n[fixed]\n"run.years" = 10\n'
    )

    def sweep() -> Any:
        report = run_sweep(spec, store, jobs=jobs, run_fn=instant_run, progress=False)
        if not report.ok:
            raise SystemExit(report.format())
        return report

    write_s, first = _timed(sweep)
    noop_s, again = _timed(sweep)
    files = sorted((store / "runs").iterdir())
    n_deleted = max(1, len(files) // 100)
    for path in files[:: len(files) // n_deleted][:n_deleted]:
        path.unlink()
    redo_s, redo = _timed(sweep)
    load_s, (runs, fates) = _timed(lambda: load_results(store))
    return {
        "runs": first.n_completed, "write_s": round(write_s, 2),
        "resume_noop_s": round(noop_s, 2), "skipped": again.n_skipped,
        "resume_redo_s": round(redo_s, 2), "deleted_files": n_deleted,
        "redone": redo.n_completed, "load_s": round(load_s, 2),
        "loaded_runs": len(runs), "loaded_fates": len(fates),
        "files_in_runs": len(list((store / "runs").iterdir())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=100)
    parser.add_argument("--replications", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "benchmarks")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        row = measure(Path(tmp) / "store", args.points, args.replications, args.jobs)
    for key, value in row.items():
        print(f"{key:>15}: {value}", flush=True)
    result = {"machine": platform.node(), "cpus": os.cpu_count(), "jobs": args.jobs, **row}
    write_result(args.out, "sweep_store.json", result)


if __name__ == "__main__":
    main()
