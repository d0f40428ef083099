"""Sweep throughput: runs per minute of the baseline region at several worker counts.

    .venv/bin/python benchmarks/sweep_scaling.py --jobs 1 2 [--runs-per-job 4] [--years 10]

Each worker count runs a fresh sweep (``runs-per-job x jobs`` replications of the baseline
region, at least 8) through the real sweep engine on loky, and reports runs per minute and
parallel efficiency relative to one worker. Writes results/benchmarks/sweep_scaling.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one_sweep(jobs: int, runs: int, years: int, backend: str) -> float:
    """Wall seconds for ``runs`` baseline runs on ``jobs`` workers (fresh store)."""
    from ccgabm.sweep import run_sweep

    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "spec.toml"
        spec.write_text(
            f'[sweep]\nbase = "{ROOT / "configs" / "baseline.toml"}"\nseed = 7\n'
            f'replications = {runs}\nsampling = "grid"\n'
            f'[axes]\n"finance.budget_pressure" = [0.0]\n[fixed]\n"run.years" = {years}\n'
        )
        started = time.perf_counter()
        report = run_sweep(spec, Path(tmp) / "store", jobs=jobs, backend=backend, progress=False)
        wall = time.perf_counter() - started
        if not report.ok:
            raise SystemExit(report.format())
        return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--runs-per-job", type=int, default=4)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--backend", choices=("loky", "dask"), default="loky")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "benchmarks")
    args = parser.parse_args()
    one_sweep(1, 1, 1, args.backend)  # warm the numba cache so no measurement pays a compile
    rows = []
    for jobs in args.jobs:
        runs = max(8, args.runs_per_job * jobs)
        wall = one_sweep(jobs, runs, args.years, args.backend)
        rows.append({"jobs": jobs, "runs": runs, "wall_s": round(wall, 2),
                     "runs_per_minute": round(60.0 * runs / wall, 2)})
        print(f"jobs={jobs:>3}: {runs} runs in {wall:6.1f} s = {60 * runs / wall:7.1f} runs/min",
              flush=True)
    base = rows[0]["runs_per_minute"] / rows[0]["jobs"]
    for row in rows:
        row["efficiency"] = round(row["runs_per_minute"] / (base * row["jobs"]), 3)
        print(f"jobs={row['jobs']:>3}: parallel efficiency {row['efficiency']:.2f}")
    args.out.mkdir(parents=True, exist_ok=True)
    result = {"machine": platform.node(), "cpus": os.cpu_count(), "backend": args.backend,
              "years": args.years, "rows": rows}
    path = args.out / "sweep_scaling.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    extra = Path(os.environ["OUT"]) / "sweep_scaling.json" if os.environ.get("OUT") else None
    if extra is not None and extra.resolve() != path.resolve():
        shutil.copy(path, extra)


if __name__ == "__main__":
    main()
