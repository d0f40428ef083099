"""``ccgabm bench``: speed and memory of a run.

    ccgabm bench [CONFIG] [--scale S] [--years Y] [--threads N] [--repeat R] [--json FILE] [--save]
    ccgabm bench --history

Builds the model of CONFIG (default: England from the practice table), runs it to the
horizon and prints: start-up time, patient-months per second, time per monthly step broken
down by phase (from ``model.timings``) and peak memory. The first run in a process also pays
for loading the compiled kernels (numba's on-disk cache); ``--repeat R`` runs R - 1 more in the
same process and reports their medians, what a warm sweep or calibration worker pays a run.
The speed of the vectorised population against one ``mesa.Agent`` per patient is measured by
benchmarks/mesa_ratio.py.

``--save`` keeps the result in the history folder (``--results``, default
``benchmarks/results``): one JSON file per run, named by its UTC start time and a tag of the
machine, holding the machine's description (CPU, cores, memory, OS, Python and library
versions, git commit) beside the figures. ``--history`` prints that folder as a table, oldest
first within each scenario and machine, with the change in speed from the run before.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

DEFAULT_CONFIG = "configs/england.toml"
RESULTS = "benchmarks/results"
SOURCE_ROOT = Path(__file__).resolve().parents[1]  # the checkout holding this package
HISTORY_FIGURES = ("patients_start", "startup_s", "simulate_s", "patient_months_per_s",
                   "peak_rss_bytes")  # what --history shows of each run


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``bench`` sub-command's arguments."""
    parser.add_argument("config", nargs="?", default=DEFAULT_CONFIG,
                        help=f"TOML scenario to time (default: {DEFAULT_CONFIG})")
    parser.add_argument("--scale", type=float, help="share of each practice's patients simulated")
    parser.add_argument("--years", type=int, help="horizon in years (default: [run] years)")
    parser.add_argument("--seed", type=int, help="root seed (default: [run] seed)")
    parser.add_argument("--threads", type=int, help="numba threads (default: all)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs in this process (default 1); the runs after the first are "
                             "timed as in a warm sweep worker (compiled kernels loaded)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--save", action="store_true",
                        help="keep the results in the history folder (--results), one file per run")
    parser.add_argument("--history", action="store_true",
                        help="print the kept results as a table (runs nothing)")
    parser.add_argument("--results", default=RESULTS,
                        help=f"history folder for --save and --history (default: {RESULTS})")
    parser.add_argument("--tag", help="machine tag in the saved file's name (default: from the machine)")


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
    trust = model.behaviours.get("trust")
    network = getattr(trust, "network", None)
    origin = getattr(network, "origin", None)
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
        "trust_matrix": origin,
        "trust_wait_s": getattr(network, "waited_s", 0.0),
    }


def time_warm_runs(cfg, runs: int) -> dict[str, Any]:
    """Medians of ``runs`` more builds and runs in this process, after the first: what a
    sweep or calibration worker pays per run once its compiled kernels are loaded. As in a
    worker, each run's garbage is collected before the next (``sweep.workers.tidy_heap``, not
    timed); the ``ccgabm`` command has frozen the imported heap first, as a worker does."""
    from ccgabm.sweep.workers import tidy_heap

    tidy_heap()
    timed = []
    for _ in range(runs):
        timed.append(time_model_run(cfg))
        tidy_heap()

    def median(key: str) -> float:
        return float(statistics.median(t[key] for t in timed))

    return {"runs": runs, "startup_s": median("startup_s"), "simulate_s": median("simulate_s"),
            "wall_s": median("wall_s"), "trust_matrix": [t["trust_matrix"] for t in timed],
            "trust_wait_s": median("trust_wait_s"),
            "phase_step_s": {k: float(statistics.median(t["phase_step_s"][k] for t in timed))
                             for k in timed[0]["phase_step_s"]}}


def machine() -> dict[str, Any]:
    """The machine and software a run was timed on (a field that cannot be read is None)."""
    import mesa
    import numba
    import numpy
    import pandas

    from ccgabm import __version__

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": cpu_model(),
        "memory_bytes": memory_total(),
        "os": platform.platform(),
        "machine": platform.machine(),
        "numba_threads": numba.get_num_threads(),
        "threading_layer": _threading_layer(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "numba": numba.__version__,
        "pandas": pandas.__version__,
        "mesa": mesa.__version__,
        "ccgabm": __version__,
        "git_commit": git_commit(),
        "load_average_1m_at_end": load[0],
    }


def cpu_model() -> str | None:
    """The processor's name (Linux: /proc/cpuinfo; macOS: sysctl), or what platform says."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith(("model name", "Model", "cpu model")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if sys.platform == "darwin":
        name = _command(["sysctl", "-n", "machdep.cpu.brand_string"])
        if name:
            return name
    return platform.processor() or None


def memory_total() -> int | None:
    """Physical memory in bytes."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def git_commit() -> str | None:
    """The commit of the checkout this package runs from, with ``+dirty`` when tracked files
    differ from it; None outside a git checkout."""
    commit = _command(["git", "rev-parse", "HEAD"], cwd=SOURCE_ROOT)
    if not commit:
        return None
    changed = _command(["git", "status", "--porcelain", "--untracked-files=no"], cwd=SOURCE_ROOT)
    return commit + ("+dirty" if changed else "")


def _command(args: list[str], cwd: Path | None = None) -> str | None:
    """A command's trimmed output; None when it is missing or fails."""
    try:
        done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def machine_tag(info: dict[str, Any]) -> str:
    """Short name of a machine for result files: OS, cores and a digest of host and CPU
    (the same on every run of one machine; the host name itself is not written)."""
    digest = hashlib.sha256(f"{platform.node()}|{info['cpu_model']}|{info['memory_bytes']}"
                            .encode()).hexdigest()[:6]
    return f"{platform.system().lower()}-{info['cpus']}cpu-{digest}"


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
    lines.append(f"  organisation layer  {1000 * _organisation_layer(run, run):8.2f} ms a month "
                 "(every phase but patients, less the wait for the trust matrix)")
    warm = result.get("warm")
    if warm:
        lines.append(f"  warm (median of {warm['runs']} more runs in this process): start-up "
                     f"{warm['startup_s']:.2f} s, simulation {warm['simulate_s']:.2f} s, "
                     f"wall {warm['wall_s']:.2f} s, organisation layer "
                     f"{1000 * _organisation_layer(warm, run):.2f} ms a month"
                     + (f"; trust matrix {', '.join(map(str, warm['trust_matrix']))}"
                        if any(warm.get("trust_matrix") or ()) else ""))
    lines.append(f"  peak memory         {run['peak_rss_bytes'] / 2**30:8.2f} GiB")
    if run.get("trust_matrix"):
        lines.append(f"  trust matrix        {run['trust_matrix']} (start-up cache: "
                     "CCGABM_CACHE=off builds it every run)")
    if run.get("trust_wait_s"):
        lines.append(f"  waited for it       {run['trust_wait_s']:8.2f} s   (its background build, "
                     "counted in the first phase that reads it)")
    m = result["machine"]
    lines.append(f"machine: {m['cpus']} CPUs, {m['numba_threads']} numba threads "
                 f"({m['threading_layer']}), load average {m['load_average_1m_at_end']:.2f}")
    return "\n".join(lines)


def _organisation_layer(timed: dict[str, Any], run: dict[str, Any]) -> float:
    """Seconds a month of every phase but the patients', less the wait for the trust matrix's
    background build (counted in the first phase that reads it)."""
    phases = sum(t for phase, t in timed["phase_step_s"].items() if phase != "patients")
    return phases - timed.get("trust_wait_s", 0.0) / max(run["months"], 1)


def cli_bench(args: argparse.Namespace) -> int:
    """Run the benchmark the arguments describe; print it (and write JSON if asked), or
    print the history (``--history``)."""
    import numba

    from ccgabm.config import load_config, run_overrides
    from ccgabm.outputs import check_text_target, write_text_file
    from ccgabm.params import ConfigError

    if args.history:
        results, skipped = load_history(args.results)
        print(format_history(results))
        if skipped:
            print(f"skipped {len(skipped)} files that are not bench results: {', '.join(skipped)}")
        return 0
    if args.threads is not None:
        if not 1 <= args.threads <= numba.config.NUMBA_NUM_THREADS:
            raise ConfigError(f"--threads {args.threads} is not allowed: must be between 1 and "
                              f"{numba.config.NUMBA_NUM_THREADS} (this machine's threads)")
        numba.set_num_threads(args.threads)
    if args.json:
        check_text_target(args.json, "--json")  # before the run, not after it
    if args.save:
        check_text_target(Path(args.results) / "result.json", "--results")
    if not 1 <= args.repeat <= 100:
        raise ConfigError(f"--repeat {args.repeat} is not allowed: must be between 1 and 100")
    if args.tag is not None and not re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", args.tag):
        raise ConfigError(f"--tag {args.tag!r} is not allowed: 1 to 40 letters, digits, '.', '_' "
                          "or '-'")
    overrides = run_overrides(args.years, args.scale, args.seed)
    cfg = load_config(args.config).with_overrides(overrides)
    started = dt.datetime.now(dt.UTC)
    result: dict[str, Any] = {"config": str(args.config), "scale": cfg.world.scale,
                              "years": cfg.run.years, "seed": cfg.run.seed,
                              "started_utc": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
                              "run": time_model_run(cfg)}
    if args.repeat > 1:
        result["warm"] = time_warm_runs(cfg, args.repeat - 1)
    result["machine"] = machine()
    result["machine_tag"] = args.tag or machine_tag(result["machine"])
    print(format_report(result))
    text = json.dumps(result, indent=2) + "\n"
    if args.json:
        write_text_file(args.json, text, "--json")
    if args.save:
        path = save_result(result, text, args.results)
        print(f"kept in {path}")
    return 0


def save_result(result: dict[str, Any], text: str, folder: str | os.PathLike) -> Path:
    """Write one run's JSON into the history folder as ``<UTC start>-<machine tag>.json``
    (``-2``, ``-3``, ... added when that name is taken); never replaces a kept result."""
    from ccgabm.outputs import write_text_file

    stamp = result["started_utc"].replace("-", "").replace(":", "")
    stem = f"{stamp}-{result['machine_tag']}"
    folder = Path(folder)
    path, n = folder / f"{stem}.json", 1
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}.json"
    return write_text_file(path, text, "--results")


def load_history(folder: str | os.PathLike) -> tuple[list[dict[str, Any]], list[str]]:
    """Every kept result in ``folder``, each with ``file`` (its name) added, and the names of
    the JSON files skipped because they are not bench results."""
    from ccgabm.params import ConfigError

    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"--results {str(folder)!r} is not a folder of kept results "
                          "(ccgabm bench --save writes them)")
    results, skipped = [], []
    for path in sorted(folder.glob("*.json")):
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
            ok = all(isinstance(result.get(k), dict) for k in ("run", "machine")) and all(
                isinstance(result["run"].get(k), int | float) for k in HISTORY_FIGURES)
        except (OSError, ValueError, AttributeError):
            ok = False
        if ok:
            results.append({**result, "file": path.name})
        else:
            skipped.append(path.name)
    return results, skipped


def format_history(results: list[dict[str, Any]]) -> str:
    """The kept results as a table: one line per run, grouped by scenario (config, scale,
    years) and machine, oldest first, with the change in patient-months/s from the run before
    in the same group."""
    if not results:
        return "no kept results (ccgabm bench --save keeps one)"

    def group(r: dict[str, Any]) -> tuple:
        return (r["config"], r["scale"], r.get("years"), r.get("machine_tag", ""))

    header = (f"{'started (UTC)':<20} {'machine':<22} {'commit':<9} {'config':<22} {'scale':>6} "
              f"{'patients':>10} {'start-up s':>10} {'simulate s':>10} {'patient-months/s':>17} "
              f"{'change':>7} {'warm s':>7} {'peak GiB':>8} {'threads':>7} {'load':>5}")
    lines = [header, "-" * len(header)]
    previous: dict[tuple, float] = {}
    for r in sorted(results, key=lambda r: (group(r), r.get("started_utc", ""), r["file"])):
        run, m = r["run"], r["machine"]
        key = group(r)
        speed = run["patient_months_per_s"]
        change = f"{100 * (speed / previous[key] - 1):+6.1f}%" if key in previous else ""
        previous[key] = speed
        commit = (m.get("git_commit") or "")[:7] + ("+" if "dirty" in (m.get("git_commit") or "")
                                                    else "")
        warm = r.get("warm")
        warm_s = f"{warm['wall_s']:7.2f}" if isinstance(warm, dict) and "wall_s" in warm else ""
        lines.append(
            f"{r.get('started_utc', '?'):<20} {r.get('machine_tag', '?'):<22} {commit:<9} "
            f"{Path(r['config']).name[:22]:<22} {r['scale']:>6g} {run['patients_start']:>10,} "
            f"{run['startup_s']:>10.2f} {run['simulate_s']:>10.2f} {speed:>17,.0f} {change:>7} {warm_s:>7} "
            f"{run['peak_rss_bytes'] / 2**30:>8.2f} {m.get('numba_threads', '?'):>7} "
            f"{m.get('load_average_1m_at_end', float('nan')):>5.1f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ccgabm bench", description=__doc__.splitlines()[0])
    add_bench_arguments(parser)
    return cli_bench(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
