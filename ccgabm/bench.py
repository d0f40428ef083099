"""``ccgabm bench``: speed and memory of a run.

    ccgabm bench [CONFIG] [--scale S] [--years Y] [--threads N] [--json FILE]

Builds the model of CONFIG (default: England from the practice table), runs it to the
horizon and prints: start-up time, patient-months per second, time per monthly step broken
down by phase (from ``model.timings``) and peak memory. The speed of the vectorised
population against one ``mesa.Agent`` per patient is measured by benchmarks/mesa_ratio.py.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from typing import Any

DEFAULT_CONFIG = "configs/england.toml"


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``bench`` sub-command's arguments."""
    parser.add_argument("config", nargs="?", default=DEFAULT_CONFIG,
                        help=f"TOML scenario to time (default: {DEFAULT_CONFIG})")
    parser.add_argument("--scale", type=float, help="share of each practice's patients simulated")
    parser.add_argument("--years", type=int, help="horizon in years (default: [run] years)")
    parser.add_argument("--seed", type=int, help="root seed (default: [run] seed)")
    parser.add_argument("--threads", type=int, help="numba threads (default: all)")
    parser.add_argument("--json", help="also write the results to this JSON file")


def peak_rss_bytes() -> int:
    """Peak resident memory of this process so far (Linux reports kilobytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def time_model_run(cfg) -> dict[str, Any]:
    """Build the model (start-up) and run it to the horizon, with per-phase step times."""
    from ccgabm.model import CommissioningModel

    cpu0, started = time.process_time(), time.perf_counter()
    model = CommissioningModel(cfg)
    startup = time.perf_counter() - started
    cpu1 = time.process_time()
    patients = int(model.population.alive.sum())
    started = time.perf_counter()
    while model.month < model.horizon:
        model.step()
    simulate = time.perf_counter() - started
    cpu2 = time.process_time()
    steps = max(model.horizon, 1)
    monthly = model.datacollector.frames()["monthly"]
    patient_months = int(monthly["person_months"].sum())
    phases = {e.phase.name: model.timings.get(e.phase.name, 0.0) / steps for e in model.schedule}
    return {
        "patients_start": patients,
        "practices": len(model.practices),
        "groups_start": len(model.groups),
        "hospitals": len(model.hospitals),
        "slots": int(model.population.n_slots),
        "months": steps,
        "startup_s": startup,
        "simulate_s": simulate,
        "startup_cpu_s": cpu1 - cpu0,
        "simulate_cpu_s": cpu2 - cpu1,
        "wall_s": startup + simulate,
        "step_s": simulate / steps,
        "phase_step_s": phases,
        "patient_months": patient_months,
        "patient_months_per_s": patient_months / max(simulate, 1e-12),
        "peak_rss_bytes": peak_rss_bytes(),
    }


def machine() -> dict[str, Any]:
    import numba

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "cpus": os.cpu_count(),
        "numba_threads": numba.get_num_threads(),
        "threading_layer": _threading_layer(),
        "python": platform.python_version(),
        "load_average_1m_at_end": load[0],
    }


def _threading_layer() -> str:
    import numba

    try:
        return numba.threading_layer()
    except ValueError:  # no parallel region has run yet
        return "not started"


def format_report(result: dict[str, Any]) -> str:
    """Human-readable report of ``cli_bench``'s results."""
    run = result["run"]
    lines = [
        f"{result['config']} at scale {result['scale']}: {run['patients_start']:,} patients, "
        f"{run['practices']:,} practices, {run['groups_start']} groups, "
        f"{run['hospitals']} hospitals, {run['months']} months",
        f"  start-up            {run['startup_s']:8.2f} s   (CPU {run['startup_cpu_s']:.1f} s)",
        f"  simulation          {run['simulate_s']:8.2f} s   (CPU {run['simulate_cpu_s']:.1f} s, "
        f"all threads; wall with start-up {run['wall_s']:.1f} s)",
        f"  patient-months/s    {run['patient_months_per_s']:12,.0f}",
        f"  time per step       {1000 * run['step_s']:8.1f} ms, by phase:",
    ]
    for phase, seconds in run["phase_step_s"].items():
        share = seconds / max(run["step_s"], 1e-12)
        lines.append(f"    {phase:<18} {1000 * seconds:10.2f} ms  {100 * share:5.1f}%")
    lines.append(f"  peak memory         {run['peak_rss_bytes'] / 2**30:8.2f} GiB")
    m = result["machine"]
    lines.append(f"machine: {m['cpus']} CPUs, {m['numba_threads']} numba threads "
                 f"({m['threading_layer']}), load average {m['load_average_1m_at_end']:.2f}")
    return "\n".join(lines)


def cli_bench(args: argparse.Namespace) -> int:
    """Run the benchmark the arguments describe; print it (and write JSON if asked)."""
    import numba

    from ccgabm.config import load_config, run_overrides
    from ccgabm.outputs import check_text_target, write_text_file
    from ccgabm.params import ConfigError

    if args.threads is not None:
        if not 1 <= args.threads <= numba.config.NUMBA_NUM_THREADS:
            raise ConfigError(f"--threads {args.threads} is not allowed: must be between 1 and "
                              f"{numba.config.NUMBA_NUM_THREADS} (this machine's threads)")
        numba.set_num_threads(args.threads)
    if args.json:
        check_text_target(args.json, "--json")  # before the run, not after it
    overrides = run_overrides(args.years, args.scale, args.seed)
    cfg = load_config(args.config).with_overrides(overrides)
    result: dict[str, Any] = {"config": str(args.config), "scale": cfg.world.scale,
                              "run": time_model_run(cfg), "machine": machine()}
    print(format_report(result))
    if args.json:
        write_text_file(args.json, json.dumps(result, indent=2) + "\n", "--json")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ccgabm bench", description=__doc__.splitlines()[0])
    add_bench_arguments(parser)
    return cli_bench(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
