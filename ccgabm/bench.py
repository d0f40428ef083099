"""``ccgabm bench``: speed and memory of a run, and the ratio to the per-agent Mesa reference.

    ccgabm bench [CONFIG] [--scale S] [--years Y] [--threads N] [--json FILE]

Builds the model of CONFIG (default: England from the practice table), runs it to the
horizon and prints: start-up time, patient-months per second, time per monthly step broken
down by phase (from ``model.timings``), peak memory, and then the patient-months per second
of the vectorised population and of a one-``mesa.Agent``-per-patient reference run side by
side on a small population (``ccgabm.reference``), with their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path
from typing import Any

PHASES = ("patients", "practices", "groups", "hospitals", "board", "data")
DEFAULT_CONFIG = "configs/england.toml"


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``bench`` sub-command's arguments."""
    parser.add_argument("config", nargs="?", default=DEFAULT_CONFIG,
                        help=f"TOML scenario to time (default: {DEFAULT_CONFIG})")
    parser.add_argument("--scale", type=float, help="share of each practice's patients simulated")
    parser.add_argument("--years", type=int, help="horizon in years (default: [run] years)")
    parser.add_argument("--seed", type=int, help="root seed (default: [run] seed)")
    parser.add_argument("--threads", type=int, help="numba threads (default: all)")
    parser.add_argument("--reference-patients", type=int, default=20_000,
                        help="patients in the side-by-side run against the per-agent Mesa "
                        "reference (default: 20,000)")
    parser.add_argument("--reference-months", type=int, default=12,
                        help="months of the side-by-side run (default: 12)")
    parser.add_argument("--no-reference", action="store_true",
                        help="skip the side-by-side run against the Mesa reference")
    parser.add_argument("--no-run", action="store_true",
                        help="only the side-by-side run (no model run)")
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
    monthly = model.recorder.tables()["monthly"]
    patient_months = int(monthly["person_months"].sum())
    phases = {p: model.timings.get(p, 0.0) / steps for p in PHASES}
    phases.update({p: v / steps for p, v in model.timings.items() if p not in phases})
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


def reference_comparison(patients: int = 20_000, months: int = 12, seed: int = 3,
                         repeats: int = 3) -> dict[str, Any]:
    """Vectorised population vs one Mesa agent per patient, same patients and rules."""
    from ccgabm.config import Config
    from ccgabm.reference.compare import (
        equivalence_table,
        patient_world,
        run_reference,
        run_vectorised,
    )

    cfg = Config().with_overrides({
        "region.n_groups": 2, "region.practices_per_group": 4,
        "region.target_population": int(patients),
    })
    pw = patient_world(cfg, seed=seed, capacity_ratio=1.04)
    run_vectorised(pw, 1)  # load the compiled kernel before timing
    vec = min((run_vectorised(pw, months) for _ in range(repeats)), key=lambda r: r.seconds)
    ref = run_reference(pw, months)
    table = equivalence_table(vec, ref)
    return {
        "patients": pw.n_patients,
        "months": months,
        "vectorised_patient_months_per_s": vec.patient_months_per_second,
        "mesa_patient_months_per_s": ref.patient_months_per_second,
        "vectorised_s": vec.seconds,
        "mesa_s": ref.seconds,
        "ratio": vec.patient_months_per_second / ref.patient_months_per_second,
        "max_abs_z": max(abs(float(r["z"])) for r in table),
        "figures": [{k: (float(v) if k != "figure" else v) for k, v in r.items()} for r in table],
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
    lines = []
    run = result.get("run")
    if run:
        lines += [
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
            lines.append(f"    {phase:<12} {1000 * seconds:10.2f} ms  {100 * share:5.1f}%")
        lines.append(f"  peak memory         {run['peak_rss_bytes'] / 2**30:8.2f} GiB")
    ref = result.get("reference")
    if ref:
        lines += [
            f"per-agent Mesa reference, {ref['patients']:,} patients x {ref['months']} months:",
            f"  vectorised          {ref['vectorised_patient_months_per_s']:14,.0f} patient-months/s",
            f"  Mesa, agent/patient {ref['mesa_patient_months_per_s']:14,.0f} patient-months/s",
            f"  ratio               {ref['ratio']:14,.0f}x   (summary figures agree: "
            f"max |z| = {ref['max_abs_z']:.2f})",
        ]
    m = result["machine"]
    lines.append(f"machine: {m['cpus']} CPUs, {m['numba_threads']} numba threads "
                 f"({m['threading_layer']}), load average {m['load_average_1m_at_end']:.2f}")
    return "\n".join(lines)


def cli_bench(args: argparse.Namespace) -> int:
    """Run the benchmark the arguments describe; print it (and write JSON if asked)."""
    import numba

    from ccgabm.config import load_config, run_overrides

    if args.threads is not None:
        numba.set_num_threads(args.threads)
    overrides = run_overrides(args.years, args.scale, args.seed)
    result: dict[str, Any] = {"config": str(args.config)}
    if not args.no_run:
        cfg = load_config(args.config).with_overrides(overrides)
        result["scale"] = cfg.world.scale
        result["run"] = time_model_run(cfg)
    if not args.no_reference:
        result["reference"] = reference_comparison(args.reference_patients, args.reference_months)
    result["machine"] = machine()
    print(format_report(result))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ccgabm bench", description=__doc__.splitlines()[0])
    add_bench_arguments(parser)
    return cli_bench(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
