"""Sweep throughput: runs per minute of the baseline region at several worker counts.

    .venv/bin/python benchmarks/sweep_scaling.py --jobs 1 2 [--runs-per-job 4] [--years 10] [--repeat 2]

Each worker count runs ``repeat`` fresh sweeps in a row (``runs-per-job x jobs`` replications
of the baseline region, at least 8) through the real sweep engine on loky, and reports runs
per minute and parallel efficiency relative to one worker: ``cold`` for the first sweep
(which starts the worker processes) and ``warm`` for the fastest later one (the workers kept
from the sweep before). One worker runs in this process, warmed by a first one-year run.
``busy`` is each sweep's share of worker time spent inside runs (the runs' own
``wall_seconds`` over jobs x wall time): less sensitive than wall time to other load on the
machine, it shows what start-up, dispatch and idle workers cost.
Writes results/benchmarks/sweep_scaling.json.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from result_file import write_result

ROOT = Path(__file__).resolve().parents[1]


def one_sweep(jobs: int, runs: int, years: int, backend: str) -> tuple[float, float]:
    """Wall seconds for ``runs`` baseline runs on ``jobs`` workers (fresh store), and the
    seconds the runs themselves took (their ``wall_seconds``, summed)."""
    from ccgabm.sweep import load_results, run_sweep

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
        return wall, float(load_results(Path(tmp) / "store")[0]["wall_seconds"].sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--runs-per-job", type=int, default=4)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--backend", choices=("loky", "dask"), default="loky")
    parser.add_argument("--repeat", type=int, default=2, help="sweeps per worker count (>= 1)")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "benchmarks")
    args = parser.parse_args()
    one_sweep(1, 1, 1, args.backend)  # warm the numba cache so no measurement pays a compile
    rows = []
    for jobs in args.jobs:
        runs = max(8, args.runs_per_job * jobs)
        sweeps = [one_sweep(jobs, runs, args.years, args.backend) for _ in range(max(1, args.repeat))]
        walls = [wall for wall, _ in sweeps]
        # the share of the workers' time spent in runs: start-up, dispatch and idling take the rest
        busy = [round(in_runs / (jobs * wall), 3) for wall, in_runs in sweeps]
        row = {"jobs": jobs, "runs": runs, "wall_s": [round(w, 2) for w in walls], "busy": busy}
        for kind, wall in (("cold", walls[0]), ("warm", min(walls[1:], default=walls[0]))):
            row[f"{kind}_runs_per_minute"] = round(60.0 * runs / wall, 2)
        rows.append(row)
        print(f"jobs={jobs:>3}: {runs} runs in " + ", ".join(f"{w:.1f}" for w in walls)
              + " s; share of worker time in runs " + ", ".join(f"{b:.2f}" for b in busy), flush=True)
    for kind in ("cold", "warm"):
        base = rows[0][f"{kind}_runs_per_minute"] / rows[0]["jobs"]
        for row in rows:
            row[f"{kind}_efficiency"] = round(row[f"{kind}_runs_per_minute"] / (base * row["jobs"]), 3)
            print(f"jobs={row['jobs']:>3}: {kind} {row[f'{kind}_runs_per_minute']:7.1f} runs/min, "
                  f"parallel efficiency {row[f'{kind}_efficiency']:.2f}")
    result = {"machine": platform.node(), "cpus": os.cpu_count(), "backend": args.backend,
              "years": args.years, "repeat": args.repeat, "rows": rows}
    write_result(args.out, "sweep_scaling.json", result)


if __name__ == "__main__":
    main()
