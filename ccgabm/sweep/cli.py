"""Command-line entry for ``ccgabm sweep`` (the argparse wiring lives in ``ccgabm.cli``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ccgabm.sweep.spec import MAX_RUNS, SpecError
from ccgabm.sweep.store import StoreError

__all__ = ["add_sweep_arguments", "cli_sweep"]


def add_sweep_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``ccgabm sweep`` options to a (sub)parser; pair with ``cli_sweep``."""
    parser.add_argument("spec", type=Path, help="sweep spec TOML (e.g. configs/sweeps/x.toml)")
    parser.add_argument(
        "-o",
        "--out",
        type=Path,
        default=None,
        help="output folder (default results/sweeps/<spec name>); rerun to resume",
    )
    parser.add_argument("-j", "--jobs", type=int, default=1, help="workers (-1: all cores)")
    parser.add_argument("--backend", choices=("loky", "dask"), default="loky")
    parser.add_argument(
        "--scheduler",
        default=None,
        help="dask scheduler address (tcp://host:8786); default: start a LocalCluster",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="empty the output folder first (a folder holding a different sweep is refused without it)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help=f"run a spec planning more than {MAX_RUNS:,} runs (default: refuse)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return parser


def cli_sweep(args: argparse.Namespace) -> int:
    """Run ``ccgabm sweep``: 0 all runs done, 1 some runs failed, 2 bad spec or store, 130 interrupted.

    A different spec into a non-empty store, an unusable store, or a spec planning more than
    ``MAX_RUNS`` runs is refused with one ``error:`` line and nothing written; ``--overwrite``
    and ``--force`` lift the first and the last.
    """
    from ccgabm.sweep.engine import run_sweep

    spec_path = Path(args.spec)
    out = getattr(args, "out", None) or Path("results") / "sweeps" / spec_path.stem
    try:
        report = run_sweep(
            spec_path,
            out,
            jobs=getattr(args, "jobs", 1),
            backend=getattr(args, "backend", "loky"),
            scheduler=getattr(args, "scheduler", None),
            progress=not getattr(args, "no_progress", False),
            overwrite=bool(getattr(args, "overwrite", False)),
            force=bool(getattr(args, "force", False)),
        )
    except (SpecError, StoreError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted: finished runs are kept in {out}; rerun to resume", file=sys.stderr)
        return 130
    print(report.format(), file=sys.stdout if report.ok else sys.stderr)
    return 0 if report.ok else 1
