"""Sweep throughput: runs per minute of one scenario at several worker counts.

    .venv/bin/python benchmarks/sweep_scaling.py --jobs 1 2 [--runs-per-job 4] [--years 10] [--repeat 2]
    .venv/bin/python benchmarks/sweep_scaling.py --jobs 1 2 4 8 16 --config configs/england.toml --scale 0.01

Each worker count runs ``repeat`` fresh sweeps in a row (``runs-per-job x jobs`` replications
of the scenario, at least 8, each with its own seed) through the real sweep engine on loky,
and reports runs per minute and parallel efficiency relative to one worker: ``cold`` for the
first sweep (which starts the worker processes) and ``warm`` for the fastest later one (the
workers kept from the sweep before). One worker runs in this process, warmed by a first
one-year run.

Every worker, the one in this process too, is given ``--threads`` numba and BLAS threads
(default 1): efficiency then measures how runs scale across processes, one core each. (With
the engine's default, one worker alone would take every core's thread and N workers a share
each, and the ratio would mix threads with processes: on a 2-core machine it gave 0.68 for
two workers where one thread each gives 0.99.) ``--threads 0`` keeps the engine's default.

``busy`` is each sweep's share of worker time spent inside runs (the runs' own
``wall_seconds`` over jobs x wall time): less sensitive than wall time to other load on the
machine, it shows what start-up, dispatch and idle workers cost; ``run_s`` is the median run.
Writes results/benchmarks/sweep_scaling.json.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from result_file import write_result

ROOT = Path(__file__).resolve().parents[1]
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMBA_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def one_sweep(jobs: int, runs: int, config: Path, fixed: dict[str, float | int],
              backend: str) -> tuple[float, float, float]:
    """Wall seconds for ``runs`` runs of ``config`` on ``jobs`` workers (fresh store), the
    seconds the runs themselves took (their ``wall_seconds``, summed) and the median run."""
    from ccgabm.sweep import load_results, run_sweep

    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "spec.toml"
        spec.write_text(
            f'[sweep]\nbase = "{config}"\nseed = 7\nreplications = {runs}\nsampling = "grid"\n'
            f'[axes]\n"finance.budget_pressure" = [0.0]\n[fixed]\n'
            + "".join(f'"{key}" = {value}\n' for key, value in fixed.items())
        )
        started = time.perf_counter()
        report = run_sweep(spec, Path(tmp) / "store", jobs=jobs, backend=backend, progress=False)
        wall = time.perf_counter() - started
        if not report.ok:
            raise SystemExit(report.format())
        seconds = load_results(Path(tmp) / "store")[0]["wall_seconds"]
        return wall, float(seconds.sum()), float(statistics.median(seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "baseline.toml",
                        help="scenario of every run (default: configs/baseline.toml)")
    parser.add_argument("--scale", type=float, help="share of each practice's patients simulated")
    parser.add_argument("--runs-per-job", type=int, default=4)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1,
                        help="numba and BLAS threads of every worker (default 1; 0: the engine's "
                             "default, the cores shared out among the workers)")
    parser.add_argument("--backend", choices=("loky", "dask"), default="loky")
    parser.add_argument("--repeat", type=int, default=2, help="sweeps per worker count (>= 1)")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "benchmarks")
    args = parser.parse_args()
    if args.threads > 0:  # before numba and numpy load here; workers inherit the caps
        for var in THREAD_VARS:
            os.environ[var] = str(args.threads)
    config = args.config.resolve()
    fixed: dict[str, float | int] = {"run.years": args.years}
    if args.scale is not None:
        fixed["world.scale"] = args.scale
    # warm the numba cache and start-up cache so no measurement pays a compile
    one_sweep(1, 1, config, {**fixed, "run.years": 1}, args.backend)
    rows = []
    for jobs in args.jobs:
        runs = max(8, args.runs_per_job * jobs)
        sweeps = [one_sweep(jobs, runs, config, fixed, args.backend)
                  for _ in range(max(1, args.repeat))]
        walls = [wall for wall, _, _ in sweeps]
        # the share of the workers' time spent in runs: start-up, dispatch and idling take the rest
        busy = [round(in_runs / (jobs * wall), 3) for wall, in_runs, _ in sweeps]
        row = {"jobs": jobs, "runs": runs, "wall_s": [round(w, 2) for w in walls], "busy": busy,
               "run_s": [round(run, 3) for _, _, run in sweeps]}
        for kind, wall in (("cold", walls[0]), ("warm", min(walls[1:], default=walls[0]))):
            row[f"{kind}_runs_per_minute"] = round(60.0 * runs / wall, 2)
        rows.append(row)
        print(f"jobs={jobs:>3}: {runs} runs in " + ", ".join(f"{w:.1f}" for w in walls)
              + " s; share of worker time in runs " + ", ".join(f"{b:.2f}" for b in busy)
              + "; median run " + ", ".join(f"{r:.2f}" for r in row["run_s"]) + " s", flush=True)
    for kind in ("cold", "warm"):
        base = rows[0][f"{kind}_runs_per_minute"] / rows[0]["jobs"]
        for row in rows:
            row[f"{kind}_efficiency"] = round(row[f"{kind}_runs_per_minute"] / (base * row["jobs"]), 3)
            print(f"jobs={row['jobs']:>3}: {kind} {row[f'{kind}_runs_per_minute']:7.1f} runs/min, "
                  f"parallel efficiency {row[f'{kind}_efficiency']:.2f}")
    result = {"machine": platform.node(), "cpus": os.cpu_count(), "backend": args.backend,
              "config": str(args.config), "scale": args.scale, "years": args.years,
              "threads_per_worker": args.threads or "engine default", "repeat": args.repeat,
              "rows": rows}
    write_result(args.out, "sweep_scaling.json", result)


if __name__ == "__main__":
    main()
