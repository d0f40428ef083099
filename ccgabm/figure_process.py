"""The overview figure drawn by a process of its own, started before the model is imported.

A cold ``ccgabm run`` spends about a second importing Python modules on one core before the run
starts. A process started first imports matplotlib and makes the figure's empty axes on another
core meanwhile, then draws the overview (``ccgabm.plots.draw_overview``) once the run sends its
data. Measured on a 2-core machine, that takes 0.2-0.3 s off the 2.2 s of
``ccgabm run configs/baseline.toml``. Should the process fail, the figure is drawn in this one.

Run as ``python -P -m ccgabm.figure_process PACKAGE``: it draws only for the ``ccgabm`` package
at ``PACKAGE`` (the one the run imported; another copy, e.g. a second checkout, ends it at
once). It reads one pickled ``(OverviewData, path)`` from its standard input, draws it and
says ``drawn``; with nothing to read, or interrupted, it ends without drawing.
"""

from __future__ import annotations

import contextlib
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import ccgabm
from ccgabm.plots import OverviewData, draw_overview

DONE = b"drawn"
TIMEOUT_S = 120  # assumed: far above the 0.3 s a figure takes; past it, drawn in this process
ENDING_S = 5  # assumed: time an interrupted drawing process has to end before it is killed
WRONG_PACKAGE = 3  # exit status of a process that found another copy of ccgabm


def _package() -> str:
    return str(Path(ccgabm.__file__).resolve().parent)


class FigureProcess:
    """A drawing process, started now and used at most once (``draw`` or ``close``)."""

    def __init__(self, command: list[str] | None = None) -> None:
        # -P: the working folder is not searched first, so the package is the installed one
        self._proc = subprocess.Popen(
            command or [sys.executable, "-P", "-m", "ccgabm.figure_process", _package()],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

    @classmethod
    def start(cls) -> FigureProcess | None:
        """A started process, or None where none can be started (the figure is then drawn in
        this process)."""
        if not sys.executable:
            return None
        try:
            return cls()
        except OSError:
            return None

    def draw(self, data: OverviewData, path: str | Path) -> None:
        """Draw ``data`` as a PNG at ``path`` in the process, and wait for it; in this process
        when that one fails."""
        try:
            said, _ = self._proc.communicate(pickle.dumps((data, str(path))), timeout=TIMEOUT_S)
            drawn = self._proc.returncode == 0 and said.strip() == DONE
        except (OSError, subprocess.TimeoutExpired):
            drawn = False
        except BaseException:  # an interrupt: the process ends before the output folder goes
            self.close()
            raise
        if not drawn:
            self.close()
            draw_overview(data, path)

    def close(self) -> None:
        """End the process if it has not been waited for (no figure wanted, or it failed).

        It is interrupted rather than killed, so that its exit handlers run (matplotlib's
        removes the temporary configuration folder it makes where its own cannot be written).
        """
        proc = self._proc
        if proc.returncode is not None:
            return
        with contextlib.suppress(OSError, ValueError):  # already ended; no SIGINT (Windows)
            proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=ENDING_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def main(argv: list[str]) -> int:
    """The drawing process: the empty figure first, then the data, then the drawing."""
    if argv != [_package()]:
        return WRONG_PACKAGE
    from ccgabm.plots import new_figure

    prepared = new_figure()
    sent = sys.stdin.buffer.read()
    if not sent:
        return 0
    data, path = pickle.loads(sent)
    draw_overview(data, path, prepared)
    sys.stdout.buffer.write(DONE + b"\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:  # ended by the run (``FigureProcess.close``) or by Ctrl-C
        sys.exit(130)
