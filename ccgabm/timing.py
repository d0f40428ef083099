"""Wall time per phase of the monthly step (for ``ccgabm bench``)."""

from __future__ import annotations

import time


class PhaseClock:
    """Adds the time since the last lap to ``totals[phase]``."""

    def __init__(self, totals: dict[str, float]) -> None:
        self.totals = totals
        self._last = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.totals[phase] = self.totals.get(phase, 0.0) + now - self._last
        self._last = now
