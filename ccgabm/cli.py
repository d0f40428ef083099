"""Command line: ccgabm run | sweep | calibrate | analyze | viz | bench | params | schedule."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
import threading
import time
import warnings
from typing import NoReturn

from ccgabm.params import CcgabmError, InputWarning


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error: ``error: <command>: <problem> (see <command> --help)``.

    ``arguments="module:function"`` names the function that adds a sub-command's arguments; it
    is imported and called when that sub-command is parsed or its help shown, so a command
    never loads the modules of the others.
    """

    def __init__(self, *args, arguments: str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._arguments = arguments

    def _add_pending_arguments(self) -> None:
        if self._arguments is not None:
            module, function = self._arguments.split(":")
            self._arguments = None
            getattr(importlib.import_module(module), function)(self)

    def parse_known_args(self, args=None, namespace=None):
        self._add_pending_arguments()
        return super().parse_known_args(args, namespace)

    def format_usage(self) -> str:
        self._add_pending_arguments()
        return super().format_usage()

    def format_help(self) -> str:
        self._add_pending_arguments()
        return super().format_help()

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="ccgabm", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run one scenario and write its results")
    run.add_argument("config", help="TOML scenario file, e.g. configs/baseline.toml")
    run.add_argument("--out", required=True,
                     help="output folder (replaced whole; may hold only a previous run's results)")
    run.add_argument("--seed", type=int, help="root seed (default: [run] seed)")
    run.add_argument("--years", type=_positive_int, help="horizon in years (default: [run] years)")
    run.add_argument("--scale", type=float, help="share of each practice's patients simulated")
    run.add_argument("--force", action="store_true",
                     help="run even when the estimated memory exceeds what is available")
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    run.add_argument("--no-plot", action="store_true",
                     help="write no overview.png (and load no plotting library)")
    # the process that draws overview.png, started by ``entry`` (None: drawn in this process)
    run.set_defaults(figure_process=None)

    sub.add_parser("sweep", help="run a parameter sweep (resumable)",
                   arguments="ccgabm.sweep.cli:add_sweep_arguments")
    sub.add_parser("calibrate", help="fit free parameters to observed targets (Optuna; resumable)",
                   arguments="ccgabm.calibrate.cli:add_calibrate_arguments")
    sub.add_parser("analyze", help="fracture risk, event incidence and sensitivity of a sweep",
                   arguments="ccgabm.analysis.cli:add_analyze_arguments")
    sub.add_parser("viz", help="serve the interactive browser view (Mesa SolaraViz)",
                   arguments="ccgabm.viz:add_viz_arguments")
    sub.add_parser("bench", help="time a run by phase and peak memory (patient-months per second)",
                   arguments="ccgabm.bench:add_bench_arguments")

    params = sub.add_parser("params", help="print the parameter table (Markdown)")
    params.add_argument("--out", help="write to this file instead of stdout")

    schedule = sub.add_parser(
        "schedule", help="print the order of play within a month and the dated timeline")
    schedule.add_argument("config", nargs="?", help="TOML scenario file (default: every default)")
    schedule.add_argument("--markdown", action="store_true",
                          help="the Markdown table of docs/odd.md section 3")
    return parser


def _figure(value: object, fmt: str, factor: float = 1.0) -> str:
    return "n/a" if value is None else format(factor * value, fmt)


def cmd_run(args: argparse.Namespace) -> int:
    from ccgabm.config import load_config, run_overrides
    from ccgabm.metrics import UNDEFINED_MARKERS, check_figures
    from ccgabm.outputs import OutputFolder
    from ccgabm.simulate import run_simulation
    from ccgabm.world import check_size

    cfg = load_config(args.config).with_overrides(run_overrides(args.years, args.scale, args.seed))
    check_size(cfg, force=args.force)  # before the output folder is touched
    with OutputFolder(args.out) as out:  # checked (and its staging made) before the run
        started = time.perf_counter()
        result = run_simulation(cfg, progress=not args.no_progress, force=args.force)
        out.write(result, plot=not args.no_plot, figure=args.figure_process)
    s = check_figures(result.summary)
    print(
        f"{s['population_start']:,} patients, {s['years_simulated']} years in "
        f"{time.perf_counter() - started:.1f} s: emergency admissions "
        f"{_figure(s['emergency_admissions_per_1000'], '.1f')}/1,000/yr, referred "
        f"{_figure(s['share_referred_per_year'], '.1f', 100)}%/yr, groups at end {s['n_groups_end']}"
    )
    for name, why in s.get("figure_notes", {}).items():
        if name not in UNDEFINED_MARKERS:
            print(f"note: {name} is undefined (null in summary.json): {why}", file=sys.stderr)
    shown = "summary.json, *.parquet" + ("" if args.no_plot else ", overview.png")
    print(f"results written to {out.path}/ ({shown})")
    return 0


def cmd_params(args: argparse.Namespace) -> int:
    from ccgabm.outputs import write_text_file
    from ccgabm.paramdoc import parameter_table_markdown

    if args.out is not None:
        write_text_file(args.out, parameter_table_markdown(), option="--out")
    else:
        sys.stdout.write(parameter_table_markdown())
    return 0


def cmd_schedule(args: argparse.Namespace) -> int:
    from ccgabm.config import Config, load_config
    from ccgabm.schedule import schedule_markdown, schedule_text

    cfg = load_config(args.config) if args.config else Config()
    if args.markdown:
        sys.stdout.write(schedule_markdown())
        return 0
    from ccgabm.timeline import timeline_text

    sys.stdout.write(schedule_text(cfg) + "\n"
                     + timeline_text(cfg.timeline, cfg.run.start_year, cfg.run.years * 12))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from ccgabm.sweep import cli_sweep

    return cli_sweep(args)


def cmd_calibrate(args: argparse.Namespace) -> int:
    from ccgabm.calibrate.cli import cli_calibrate

    return cli_calibrate(args)


def cmd_analyze(args: argparse.Namespace) -> int:
    from ccgabm.analysis import cli_analyze

    return cli_analyze(args)


def cmd_viz(args: argparse.Namespace) -> int:
    from ccgabm.viz import cli_viz

    return cli_viz(args)


def cmd_bench(args: argparse.Namespace) -> int:
    from ccgabm.bench import cli_bench

    return cli_bench(args)


COMMANDS = {
    "run": cmd_run, "params": cmd_params, "sweep": cmd_sweep, "calibrate": cmd_calibrate,
    "analyze": cmd_analyze, "viz": cmd_viz,
    "bench": cmd_bench, "schedule": cmd_schedule,
}


def show_input_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """An ``InputWarning`` is one ``warning:`` line, shown once however often it is raised."""
    if issubclass(category, InputWarning):
        text = " ".join(str(message).split())
        if text not in _shown_warnings:
            _shown_warnings.add(text)
            print(f"warning: {text}", file=sys.stderr)
    else:
        _default_showwarning(message, category, filename, lineno, file, line)


_default_showwarning = warnings.showwarning
_shown_warnings: set[str] = set()


def main(argv: list[str] | None = None) -> int:
    """Run one command; a bad input (any ``CcgabmError``) is one ``error:`` line and status 2."""
    return run_command(build_parser().parse_args(argv))


# Commands that leave no worker process or open file behind once they return (sweep and
# calibrate keep a pool of workers that is shut down as the interpreter exits).
QUICK_EXIT = frozenset({"run"})


def entry() -> NoReturn:
    """The ``ccgabm`` console script and ``python -m ccgabm``: one command, then exit.

    ``run`` with a figure starts the process that draws it first (``ccgabm.figure_process``).
    A command that runs models in this process (``runs_models_here``) imports the model and
    freezes the heap (``sweep.workers.freeze_heap``) first.
    After a command of ``QUICK_EXIT`` succeeds (its results written and swapped in whole), the
    process waits for its other threads (a start-up cache write may still be going on), flushes
    its output and ends at once, without the interpreter's teardown of every module and object:
    that took 0.3 s of a 2.5-s ``ccgabm run configs/baseline.toml`` (measured on a 2-core
    machine), mostly matplotlib's and numba's.
    """
    args = build_parser().parse_args()
    figure = None
    if args.command == "run" and not args.no_plot:
        from ccgabm.figure_process import FigureProcess

        # matplotlib is imported in another process while this one imports the model
        figure = args.figure_process = FigureProcess.start()
    try:
        code = run_command(args, before=_freeze_imported if runs_models_here(args) else None)
    finally:
        if figure is not None:
            figure.close()  # when the run ended before its figure
    if code != 0 or args.command not in QUICK_EXIT:
        sys.exit(code)
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):  # None when started without it
        if stream is not None:
            with contextlib.suppress(OSError):  # a reader that went away misses nothing
                stream.flush()
    os._exit(0)


def _freeze_imported() -> None:
    """Import the model and freeze the heap (``sweep.workers.freeze_heap``): what is imported
    stays for good, kept out of the cycle collector's passes, one of which took 0.07 s of a
    0.4-s baseline run (measured on a 2-core machine)."""
    importlib.import_module("ccgabm.simulate")
    from ccgabm.sweep.workers import freeze_heap

    freeze_heap()


def runs_models_here(args: argparse.Namespace) -> bool:
    """Whether the command runs models in this process: ``run`` and ``bench``, and a sweep or
    calibration with one job on loky (the default; the sweep engine then collects each run's
    garbage after it, as its workers do)."""
    if args.command in ("run", "bench"):
        return True
    return (args.command in ("sweep", "calibrate") and getattr(args, "jobs", None) == 1
            and getattr(args, "backend", None) == "loky")


def run_command(args: argparse.Namespace, before=None) -> int:
    """Run the parsed command (after calling ``before``, when given); a bad input is one
    ``error:`` line and status 2."""
    warnings.showwarning = show_input_warning
    try:
        if before is not None:
            before()
        return COMMANDS[args.command](args)
    except CcgabmError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a path the file system refuses (too long, no permission, ...)
        where = f"{str(exc.filename)[:80]}: " if exc.filename else ""
        print(f"error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except MemoryError:
        print("error: the run ran out of memory; lower [world] scale or the population "
              "(the memory check was overridden with --force, or the estimate fell short)",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: finished work is kept, nothing half-written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    entry()
