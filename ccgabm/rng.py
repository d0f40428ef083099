"""Random streams: one independent stream per named decision, derived from the run seed.

Organisation-level decisions draw from ``numpy`` generators keyed by the decision's name,
so two scenarios that share a decision share its draws (common random numbers).
Patient-level decisions use a counter-based hash of (seed, month, decision, patient slot),
so every patient has its own draws whatever the number of threads.
"""

from __future__ import annotations

import zlib
from enum import IntEnum

import numpy as np

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


class Decision(IntEnum):
    """Patient-level decisions, each with its own hashed stream."""

    DEATH = 1
    LTC_ONSET = 2
    NEED = 3
    REFER = 4
    TREAT = 5
    EMERGENCY = 6
    CONVERT = 7
    INPATIENT = 8
    REGISTER = 9
    REG_KIND = 10
    REG_AGE = 11
    REG_IMD_A = 12
    REG_IMD_B = 13
    REG_LTC = 14


N_DECISIONS = 15


def _mix64(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def month_keys(seed: int, month: int) -> np.ndarray:
    """Per-decision 64-bit keys for one month; the kernel mixes in the patient slot."""
    keys = np.zeros(N_DECISIONS, dtype=np.uint64)
    for d in range(N_DECISIONS):
        z = _mix64((seed * _GOLDEN + 0x632BE59BD9B4E019) & _MASK)
        z = _mix64((z ^ (month + 1) * 0xD1B54A32D192ED03) & _MASK)
        keys[d] = _mix64((z ^ (d + 1) * 0x8CB92BA72F3D8DD7) & _MASK)
    return keys


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
