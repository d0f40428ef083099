"""Command-line entry for ``ccgabm analyze`` (the argparse wiring lives in ``ccgabm.cli``)."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

__all__ = ["add_analyze_arguments", "cli_analyze"]


def positive_years(text: str) -> float:
    """A finite number of years above 0, for ``--years``."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number of years above 0, got {text!r}")
    return value


def add_analyze_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``ccgabm analyze`` options to a (sub)parser; pair with ``cli_analyze``."""
    parser.add_argument("out_dir", type=Path, help="a sweep's output folder")
    parser.add_argument(
        "--years",
        type=positive_years,
        nargs="+",
        default=[5, 10],
        help="horizons N for P(fracture within N years) and the cumulative incidences (default 5 10)",
    )
    parser.add_argument(
        "--heatmap-axes",
        nargs=2,
        default=None,
        metavar=("X", "Y"),
        help="two swept axes for the heatmaps (default: the first two)",
    )
    return parser


def cli_analyze(args: argparse.Namespace) -> int:
    """Run ``ccgabm analyze``: 0 on success, 2 on a bad store or arguments.

    Reads ``args.out_dir`` (or ``args.store``), ``args.years`` and optional ``args.heatmap_axes``.
    """
    from ccgabm.analysis.report import AnalysisError, analyze

    try:
        store = getattr(args, "out_dir", None) or getattr(args, "store", None)
        result = analyze(
            store,
            years=tuple(getattr(args, "years", None) or (5, 10)),
            heatmap_axes=tuple(args.heatmap_axes) if getattr(args, "heatmap_axes", None) else None,
        )
    except AnalysisError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"wrote {len(result.files)} files to {result.folder}")
    return 0
