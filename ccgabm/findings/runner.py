"""Running an experiment: command-line options, the ``--quick`` spec, the sweep, timings.

An experiment script declares its spec file (``configs/experiments/NAME.toml``) and how its
``--quick`` variant differs (fewer replications, a smaller region via ``[fixed]`` overrides,
fewer axis values). ``Experiment.run()`` derives the spec, runs it through
``ccgabm.sweep.run_sweep`` with ``run_with_extras`` into ``OUT/sweep/`` and loads the results.
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
import tomllib
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ccgabm.sweep import SweepSpec, load_results, parse_spec, run_sweep

__all__ = ["Experiment", "SweepOutcome", "derive_spec", "parse_args", "spec_dir"]


def spec_dir(root: Path) -> Path:
    """Where the experiments' sweep specs live in a project folder."""
    return Path(root) / "configs" / "experiments"


def parse_args(name: str, description: str, argv: list[str] | None = None,
               root: Path | None = None,
               configure: Callable[[argparse.ArgumentParser], None] | None = None
               ) -> argparse.Namespace:
    """The options every experiment script takes.

    ``root`` is the project folder holding ``configs/experiments/`` and ``results/`` (the
    scripts pass their repository's; default: the current folder). ``configure(parser)`` adds
    a script's own options.
    """
    p = argparse.ArgumentParser(prog=f"experiments/{name}.py", description=description)
    p.add_argument("--quick", action="store_true",
                   help="small smoke-test size (seconds): small region, few replications")
    p.add_argument("--out", type=Path, default=None,
                   help=f"output folder (default results/{name}, or results/{name}_quick)")
    p.add_argument("--jobs", "-j", type=int, default=None,
                   help="parallel workers (default: all cores; 1 with --quick)")
    p.add_argument("--replications", type=int, default=None,
                   help="override the spec's replications (e.g. to time a partial run)")
    p.add_argument("--resume", action="store_true",
                   help="keep finished runs in OUT/sweep (default: start the sweep afresh)")
    p.add_argument("--progress", action="store_true", help="show a progress bar")
    if configure is not None:
        configure(p)
    args = p.parse_args(argv)
    from ccgabm.cli import show_input_warning

    warnings.showwarning = show_input_warning  # input warnings as one line each, as the command's
    args.root = Path(root) if root is not None else Path.cwd()
    if args.out is None:
        args.out = args.root / "results" / (f"{name}_quick" if args.quick else name)
    if args.jobs is None:
        args.jobs = 1 if args.quick else -1
    return args


def derive_spec(
    path: Path,
    replications: int | None = None,
    fixed: dict[str, Any] | None = None,
    axes: dict[str, Any] | None = None,
) -> SweepSpec:
    """Read a sweep spec and apply overrides (replications, extra [fixed] values, axis values)."""
    data = tomllib.loads(Path(path).read_text())
    data.setdefault("sweep", {})
    if replications is not None:
        data["sweep"]["replications"] = int(replications)
    if axes:
        data.setdefault("axes", {}).update(axes)
    if fixed:
        merged = dict(data.get("fixed", {}))
        merged.update(fixed)
        for name in data.get("axes", {}):
            merged.pop(name, None)
        data["fixed"] = merged
    return parse_spec(data, base_dir=Path(path).parent, source=Path(path))


@dataclass
class SweepOutcome:
    """A finished experiment sweep."""

    spec: SweepSpec
    folder: Path
    runs: pd.DataFrame
    fates: pd.DataFrame
    elapsed_s: float
    jobs: int


@dataclass
class Experiment:
    """One experiment: its name, spec, quick variant and output folder."""

    name: str
    args: argparse.Namespace
    spec_path: Path | None = None
    quick: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.spec_path is None:
            self.spec_path = spec_dir(self.args.root) / f"{self.name}.toml"
        self.out = Path(self.args.out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.started = time.perf_counter()

    @property
    def size(self) -> str:
        """``quick`` or ``full`` (or ``partial`` when replications were overridden)."""
        if self.args.quick:
            return "quick"
        return "partial" if self.args.replications is not None else "full"

    def spec(self) -> SweepSpec:
        """The spec this invocation runs (quick overrides applied with ``--quick``)."""
        q = self.quick if self.args.quick else {}
        reps = self.args.replications if self.args.replications is not None else q.get("replications")
        return derive_spec(self.spec_path, reps, q.get("fixed"), q.get("axes"))

    def run(self, spec: SweepSpec | None = None, subdir: str = "sweep",
            run_fn: Callable[[Any, int], Any] | None = None) -> SweepOutcome:
        """Run (or resume with ``--resume``) the sweep into ``OUT/<subdir>`` and load it.

        ``run_fn(config, seed)`` defaults to ``ccgabm.simulate.run_with_extras``."""
        from ccgabm.simulate import run_with_extras

        spec = spec or self.spec()
        folder = self.out / subdir
        if folder.exists() and not self.args.resume:
            shutil.rmtree(folder)
        jobs = self.args.jobs
        t0 = time.perf_counter()
        report = run_sweep(spec, folder, jobs=jobs, run_fn=run_fn or run_with_extras,
                           progress=self.args.progress)
        elapsed = time.perf_counter() - t0
        if not report.ok:
            raise RuntimeError(report.format())
        runs, fates = load_results(folder)
        n_jobs = jobs if jobs > 0 else (os.cpu_count() or 1)
        return SweepOutcome(spec, folder, runs, fates, elapsed, n_jobs)
