"""The overview figure drawn by a process of its own, started before the model is imported.

A cold ``ccgabm run`` spends about a second importing Python modules on one core before the run
starts. A process started first imports matplotlib and makes the figure's empty axes on another
core meanwhile, then draws the overview (``ccgabm.plots.draw_overview``) once the run sends its
data. Measured on a 2-core machine, that takes 0.25-0.3 s off the 2.2 s of
``ccgabm run configs/baseline.toml``. Should the process fail, the figure is drawn in this one.

Run as ``python -m ccgabm.figure_process``: it reads one pickled ``(OverviewData, path)`` from
its standard input, draws it, says ``drawn``; with nothing to read it ends without drawing.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import ccgabm
from ccgabm.plots import OverviewData, draw_overview

DONE = b"drawn"
TIMEOUT_S = 120  # assumed: far above the 0.3 s a figure takes; past it, drawn in this process


class FigureProcess:
    """A drawing process, started now and used at most once (``draw`` or ``close``)."""

    def __init__(self, command: list[str] | None = None) -> None:
        env = dict(os.environ)
        # the package this process runs, whether installed or run from a source tree
        source = str(Path(ccgabm.__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (source, env.get("PYTHONPATH")) if p)
        self._proc = subprocess.Popen(
            command or [sys.executable, "-m", "ccgabm.figure_process"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)

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
            self.close()
            drawn = False
        if not drawn:
            draw_overview(data, path)

    def close(self) -> None:
        """End the process if it has not been waited for (no figure wanted, or it failed)."""
        if self._proc.returncode is None:
            self._proc.kill()
            self._proc.communicate()


def main() -> int:
    """The drawing process: the empty figure first, then the data, then the drawing."""
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
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: the run reports it
        sys.exit(130)
