"""The command line as a user runs it: outputs, clear errors, nothing half-written."""

from __future__ import annotations

import json
import subprocess
import sys

from support import ROOT


def ccgabm(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "ccgabm", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


def write_small(tmp_path, extra=""):
    cfg = tmp_path / "small.toml"
    cfg.write_text("[run]\nyears = 1\n[region]\nn_groups = 2\npractices_per_group = 3\n"
                   "target_population = 8000\n" + extra)
    return cfg


def test_run_writes_summary_tables_and_figure(tmp_path):
    out = tmp_path / "out"
    proc = ccgabm("run", str(write_small(tmp_path)), "--out", str(out), "--seed", "3",
                  "--no-progress")
    assert proc.returncode == 0, proc.stderr
    # the process ends without the interpreter's teardown: its piped output is still complete
    assert proc.stdout.strip().endswith("(summary.json, *.parquet, overview.png)")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seed"] == 3 and summary["n_groups_end"] == 2
    for name in ("monthly", "group_year", "practice_year", "events", "group_fates"):
        assert (out / f"{name}.parquet").stat().st_size > 0
    assert (out / "overview.png").read_bytes()[:4] == b"\x89PNG"
    assert not list(tmp_path.glob(".out-partial-*"))


def test_bad_config_clear_error_no_traceback_nothing_written(tmp_path):
    out = tmp_path / "out"
    cfg = write_small(tmp_path, "[finance]\npace_of_change = 7\n")
    proc = ccgabm("run", str(cfg), "--out", str(out))
    assert proc.returncode == 2
    assert "pace_of_change = 7" in proc.stderr and "between 0.0 and 1.0" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [cfg]


def test_missing_config_and_bad_years(tmp_path):
    proc = ccgabm("run", str(tmp_path / "none.toml"), "--out", str(tmp_path / "o"))
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    proc = ccgabm("run", str(write_small(tmp_path)), "--out", str(tmp_path / "o"), "--years", "0")
    assert proc.returncode == 2 and "positive integer" in proc.stderr
    assert not (tmp_path / "o").exists()


# Modules of other commands (and plotting front ends) that `ccgabm run` must not load.
NOT_FOR_RUN = ("ccgabm.analysis", "ccgabm.sweep", "ccgabm.viz", "matplotlib.pyplot", "scipy.stats",
               "dask", "lifelines", "SALib", "optuna", "solara", "altair", "mesa.visualization",
               "pandas.plotting._matplotlib")


def test_each_command_loads_only_what_it_needs(tmp_path):
    """`run` loads no other command's modules (`run --no-plot` no plotting); `params` and
    `--help` load no plotting at all."""
    code = (
        "import sys\n"
        "from ccgabm.cli import main\n"
        "main(sys.argv[1:])\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    cfg = write_small(tmp_path)
    run = subprocess.run([sys.executable, "-c", code, "run", str(cfg), "--out", str(tmp_path / "o"),
                          "--no-progress"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    loaded = set(run.stdout.split())
    assert "matplotlib" in loaded  # overview.png is drawn
    assert not [m for m in loaded if m.startswith(NOT_FOR_RUN)]
    bare = subprocess.run([sys.executable, "-c", code, "run", str(cfg), "--out",
                           str(tmp_path / "bare"), "--no-progress", "--no-plot"], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert bare.returncode == 0, bare.stderr
    assert "(summary.json, *.parquet)" in bare.stdout
    assert not [m for m in bare.stdout.split() if m.startswith("matplotlib")]
    assert (tmp_path / "bare" / "summary.json").exists()
    assert not (tmp_path / "bare" / "overview.png").exists()
    params = subprocess.run([sys.executable, "-c", code, "params"], cwd=ROOT, capture_output=True,
                            text=True, timeout=600)
    assert params.returncode == 0, params.stderr
    assert not [m for m in params.stdout.split() if m.startswith(("matplotlib", *NOT_FOR_RUN))]


def test_sub_command_help_lists_its_own_options():
    """A sub-command's options are added when it is used, and its help shows them."""
    for command, option in (("sweep", "--backend"), ("analyze", "--years"), ("bench", "--json"),
                            ("viz", "--port")):
        proc = ccgabm(command, "--help")
        assert proc.returncode == 0 and option in proc.stdout, (command, proc.stderr)


def test_quick_exit_after_run_waits_for_other_threads(tmp_path):
    """After a successful ``run`` the process ends without the interpreter's teardown, but
    only once its other threads (e.g. a start-up cache write) have finished."""
    done = tmp_path / "written"
    code = (
        "import sys, threading, time\n"
        "from ccgabm import cli\n"
        "def late_write():\n"
        "    time.sleep(0.5)\n"
        f"    open({str(done)!r}, 'w').write('whole')\n"
        "def run_command(args, before=None):\n"
        "    threading.Thread(target=late_write).start()\n"
        "    print('results written')\n"
        "    return 0\n"
        "cli.run_command = run_command\n"
        "sys.argv = ['ccgabm', 'run', 'x.toml', '--out', 'o']\n"
        "cli.entry()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "results written\n"
    assert done.read_text() == "whole"


def test_run_with_standard_output_closed_still_writes_its_results(tmp_path):
    """Started with no standard output (``>&-``), ``run`` writes its results and exits 0."""
    cfg = write_small(tmp_path)
    proc = subprocess.run(
        ["bash", "-c", f'"{sys.executable}" -m ccgabm run "{cfg}" --out "{tmp_path / "o"}" '
                       "--no-progress >&-"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "o" / "summary.json").exists() and (tmp_path / "o" / "overview.png").exists()


def test_only_commands_running_models_here_freeze_the_heap(tmp_path):
    """The `ccgabm` command freezes its imported heap (keeping it out of the cycle collector's
    passes) only where models run in its own process: `run`, `bench`, and a one-job loky sweep
    or calibration; `main` (the commands called from Python) never does."""
    from ccgabm.cli import build_parser, runs_models_here

    def here(*argv: str) -> bool:
        return runs_models_here(build_parser().parse_args(list(argv)))

    assert here("run", "x.toml", "--out", "o")
    assert here("sweep", "s.toml") and here("calibrate", "c.toml") and here("bench")
    assert not here("sweep", "s.toml", "--jobs", "2")
    assert not here("calibrate", "c.toml", "--backend", "dask")
    assert not here("params")
    code = (  # each command reports whether the heap is frozen as it starts
        "import sys\n"
        "from ccgabm import cli\n"
        "from ccgabm.sweep import workers\n"
        "def report(args):\n"
        "    print('frozen', workers.heap_frozen(), flush=True)\n"
        "    return 0\n"
        "cli.COMMANDS = dict.fromkeys(cli.COMMANDS, report)\n"
        "how, sys.argv = sys.argv[1], ['ccgabm', *sys.argv[2:]]\n"
        "cli.main(sys.argv[1:]) if how == 'main' else cli.entry()\n"
    )
    cfg = str(write_small(tmp_path))
    run = ["run", cfg, "--out", str(tmp_path / "o"), "--no-plot"]
    for argv, frozen in ((["entry", *run], True), (["entry", "params"], False),
                         (["main", *run], False)):
        done = subprocess.run([sys.executable, "-c", code, *argv], cwd=ROOT, capture_output=True,
                              text=True, timeout=300)
        assert f"frozen {frozen}" in done.stdout, (argv, done.stdout, done.stderr)
