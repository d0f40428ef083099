"""Random streams: one independent stream per named decision, derived from the run seed.

Organisation-level decisions draw from ``numpy`` generators keyed by the decision's name,
so two scenarios that share a decision share its draws (common random numbers).
Patient-level decisions use a counter-based hash of (seed, month, decision, patient slot)
instead (``ccgabm.patients.draws``), so every patient has its own draws whatever the number
of threads.
"""

from __future__ import annotations

import zlib

import numpy as np


class Streams:
    """Named numpy generators derived from one root seed."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)
        self._cache: dict[str, np.random.Generator] = {}

    def get(self, name: str) -> np.random.Generator:
        """The generator for one named decision (the same object on every call)."""
        if name not in self._cache:
            seq = np.random.SeedSequence(self.seed, spawn_key=(zlib.crc32(name.encode()),))
            self._cache[name] = np.random.Generator(np.random.PCG64(seq))
        return self._cache[name]

    def fresh(self, name: str, *counter: int) -> np.random.Generator:
        """A new generator for a decision repeated over time (e.g. name, year)."""
        key = (zlib.crc32(name.encode()), *counter)
        return np.random.Generator(np.random.PCG64(np.random.SeedSequence(self.seed, spawn_key=key)))
