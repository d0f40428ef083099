"""Command-line entry for ``ccgabm calibrate`` (the argparse wiring lives in ``ccgabm.cli``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["add_calibrate_arguments", "cli_calibrate"]


def add_calibrate_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``ccgabm calibrate`` options to a (sub)parser; pair with ``cli_calibrate``."""
    parser.add_argument("spec", type=Path, help="calibration spec TOML (e.g. configs/calibration/x.toml)")
    parser.add_argument("-o", "--out", default=None,
                        help="output folder (default results/calibration/<spec name>); rerun to resume")
    parser.add_argument("-j", "--jobs", type=int, default=1, help="workers (-1: all cores)")
    parser.add_argument("--backend", choices=("loky", "dask"), default="loky")
    parser.add_argument("--scheduler", default=None,
                        help="dask scheduler address (tcp://host:8786); default: start a LocalCluster")
    parser.add_argument("--trials", type=int, default=None,
                        help="trials the study should hold in all (default: [calibration] trials)")
    parser.add_argument("--storage", default=None,
                        help="Optuna storage URL (any SQLAlchemy URL, e.g. postgresql://...); "
                             "default: SQLite in the output folder")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def cli_calibrate(args: argparse.Namespace) -> int:
    """Run ``ccgabm calibrate``: 0 done, 1 no trial gave a loss, 2 bad input, 130 interrupted."""
    from ccgabm.calibrate.engine import run_calibration
    from ccgabm.calibrate.spec import CalibrationError
    from ccgabm.sweep.spec import SpecError
    from ccgabm.sweep.store import StoreError

    spec_path = Path(args.spec)
    out = Path("results") / "calibration" / spec_path.stem if args.out is None else args.out
    try:
        result = run_calibration(spec_path, out, jobs=args.jobs, backend=args.backend,
                                 scheduler=args.scheduler, trials=args.trials, storage=args.storage,
                                 progress=not args.no_progress)
    except (CalibrationError, SpecError, StoreError) as exc:  # one line, before any run
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted: finished trials are kept in {out}; rerun to resume", file=sys.stderr)
        return 130
    print(result.format())
    return 0 if result.best_number is not None else 1
