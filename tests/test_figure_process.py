"""The overview figure drawn by a process started before the model is imported: the same PNG
as one drawn in process, drawn in process when that one fails, ended when no figure is wanted."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from support import ROOT

import ccgabm.figure_process as figure_process
from ccgabm.config import Config
from ccgabm.figure_process import FigureProcess
from ccgabm.metrics import check_figures
from ccgabm.plots import draw_overview, overview_data
from ccgabm.simulate import run_simulation


@pytest.fixture(scope="module")
def data():
    cfg = Config().with_overrides({"run.years": 2, "region.n_groups": 2,
                                   "region.practices_per_group": 3,
                                   "region.target_population": 6000})
    result = run_simulation(cfg, seed=1)
    shown = {k: (float("nan") if v is None else v) for k, v in check_figures(result.summary).items()}
    return overview_data(result.tables, shown)


def test_the_process_draws_the_png_this_process_would(tmp_path, data, monkeypatch):
    figure = FigureProcess.start()
    assert figure is not None

    def not_here(*args, **kwargs):
        raise AssertionError("drawn in this process, not by the figure's process")

    monkeypatch.setattr(figure_process, "draw_overview", not_here)
    figure.draw(data, tmp_path / "there.png")
    monkeypatch.undo()
    draw_overview(data, tmp_path / "here.png")
    assert (tmp_path / "there.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "there.png").read_bytes() == (tmp_path / "here.png").read_bytes()


def test_a_failing_process_leaves_the_figure_to_this_one(tmp_path, data):
    figure = FigureProcess([sys.executable, "-c", "import sys; sys.exit(3)"])
    figure.draw(data, tmp_path / "overview.png")
    assert (tmp_path / "overview.png").read_bytes()[:4] == b"\x89PNG"


def test_a_process_of_another_copy_of_the_package_ends_and_this_one_draws(tmp_path, data):
    """A drawing process that imports another ``ccgabm`` (a second checkout in the working
    folder, say) draws nothing: this process does."""
    figure = FigureProcess([sys.executable, "-P", "-m", "ccgabm.figure_process",
                            str(tmp_path / "elsewhere" / "ccgabm")])
    figure.draw(data, tmp_path / "overview.png")
    assert figure._proc.returncode == figure_process.WRONG_PACKAGE
    assert (tmp_path / "overview.png").read_bytes()[:4] == b"\x89PNG"


def test_closed_without_a_figure_the_process_is_interrupted_not_killed(tmp_path, monkeypatch):
    """A run that ends without its figure (a bad input, an interrupt) interrupts the drawing
    process, whose exit handlers then run: matplotlib's removes the configuration folder it made
    where it could not write its own."""
    monkeypatch.setenv("HOME", "/dev/null")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.delenv("MPLCONFIGDIR", raising=False)
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    figure = FigureProcess.start()
    waited = time.monotonic() + 60
    while not list(tmp_path.glob("matplotlib-*")) and time.monotonic() < waited:
        time.sleep(0.02)
    assert list(tmp_path.glob("matplotlib-*")), "matplotlib made no folder of its own"
    figure.close()
    assert figure._proc.returncode == 130
    assert not list(tmp_path.glob("matplotlib-*"))
    figure.close()  # a second close is harmless


def test_ccgabm_run_draws_its_figure_without_loading_matplotlib(tmp_path):
    """The command line's ``run`` hands the figure to the process it started first."""
    cfg = tmp_path / "small.toml"
    cfg.write_text("[run]\nyears = 1\n[region]\nn_groups = 2\npractices_per_group = 3\n"
                   "target_population = 8000\n")
    out = tmp_path / "out"
    code = (
        "import os, sys\n"
        "quit_now = os._exit\n"
        "def loaded_then_exit(status):\n"
        "    print(' '.join(sorted(sys.modules)), flush=True)\n"
        "    quit_now(status)\n"
        "os._exit = loaded_then_exit\n"
        "from ccgabm.cli import entry\n"
        f"sys.argv = ['ccgabm', 'run', {str(cfg)!r}, '--out', {str(out)!r}, '--no-progress']\n"
        "entry()\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr
    loaded = proc.stdout.splitlines()[-1].split()
    assert "ccgabm.model" in loaded and "matplotlib" not in loaded
    assert (out / "overview.png").read_bytes()[:4] == b"\x89PNG"
