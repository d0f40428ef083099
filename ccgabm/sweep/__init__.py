"""Parameter sweeps: specs, seeds, a resumable store and parallel backends (loky, dask).

from ccgabm.sweep import load_spec, run_sweep, load_results
report = run_sweep(load_spec("configs/sweeps/fracture_map.toml"), "results/fracture_map")
runs, fates = load_results("results/fracture_map")
"""

from ccgabm.sweep.cli import add_sweep_arguments, cli_sweep
from ccgabm.sweep.engine import SweepReport, run_sweep
from ccgabm.sweep.plan import Plan, build_plan
from ccgabm.sweep.seeds import RunSeed, run_seeds
from ccgabm.sweep.spec import MAX_RUNS, Axis, SpecError, SweepSpec, estimate_runs, load_spec, parse_spec
from ccgabm.sweep.store import StoreError, load_failures, load_results, read_manifest

__all__ = [
    "MAX_RUNS",
    "Axis",
    "Plan",
    "RunSeed",
    "SpecError",
    "StoreError",
    "SweepReport",
    "SweepSpec",
    "add_sweep_arguments",
    "build_plan",
    "cli_sweep",
    "estimate_runs",
    "load_failures",
    "load_results",
    "load_spec",
    "parse_spec",
    "read_manifest",
    "run_seeds",
    "run_sweep",
]
