"""Cold ``ccgabm run``: the wall time of the command as a user types it, in a fresh process.

    .venv/bin/python benchmarks/cold_run.py [configs/baseline.toml] [--repeat 8]

Runs ``python -m ccgabm run CONFIG --out TMP --no-progress`` ``repeat`` times with the overview
figure and as many without (``--no-plot``), alternating, after one untimed run of each (numba's
on-disk cache and Python's bytecode written). Reports the median, fastest and slowest wall
seconds of each, and whether the project's modules had their bytecode cached (``__pycache__``;
without it, as under ``PYTHONDONTWRITEBYTECODE`` on a fresh checkout, every run compiles them
again: about 0.1 s more, measured on a 2-core machine).

Writes results/benchmarks/cold_run.json (and a copy under ``$OUT`` when set).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from result_file import write_result

ROOT = Path(__file__).resolve().parents[1]


def one_run(config: str, out: Path, plot: bool) -> float:
    """Wall seconds of one ``ccgabm run`` in a fresh process."""
    command = [sys.executable, "-m", "ccgabm", "run", config, "--out", str(out), "--no-progress"]
    started = time.perf_counter()
    subprocess.run(command + ([] if plot else ["--no-plot"]), cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", nargs="?", default="configs/baseline.toml")
    parser.add_argument("--repeat", type=int, default=8, help="timed runs of each kind")
    parser.add_argument("--results", type=Path, default=ROOT / "results" / "benchmarks")
    args = parser.parse_args()
    walls: dict[str, list[float]] = {"figure": [], "no_plot": []}
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "run"
        one_run(args.config, out, True)
        one_run(args.config, out, False)
        for _ in range(args.repeat):
            for kind in walls:
                walls[kind].append(one_run(args.config, out, kind == "figure"))
    result = {
        "config": args.config,
        "repeat": args.repeat,
        "bytecode_cached": Path(importlib.util.cache_from_source(
            str(ROOT / "ccgabm" / "model.py"))).is_file(),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "system": platform.platform()},
    }
    for kind, values in walls.items():
        result[kind] = {"median_s": statistics.median(values), "min_s": min(values),
                        "max_s": max(values)}
        print(f"{kind:8s} median {statistics.median(values):.2f} s  "
              f"(fastest {min(values):.2f}, slowest {max(values):.2f}; {len(values)} runs)")
    print(f"bytecode cached: {result['bytecode_cached']}; {os.cpu_count()} CPUs")
    print(f"written to {write_result(args.results, 'cold_run.json', result)}")


if __name__ == "__main__":
    main()
