"""The patients' per-month draw keys computed with Python integers (masked to 64 bits).

An independent implementation of ``ccgabm.patients.draws.month_keys`` (compiled, wrapping
uint64 arithmetic): both must give the same keys.
"""

from __future__ import annotations

import numpy as np

from ccgabm.patients.draws import N_KEYS

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def _mix64(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def month_keys(seed: int, month: int) -> np.ndarray:
    """Per-decision 64-bit keys for one month; the kernel mixes in the patient slot."""
    keys = np.zeros(N_KEYS, dtype=np.uint64)
    for d in range(N_KEYS):
        z = _mix64((seed * _GOLDEN + 0x632BE59BD9B4E019) & _MASK)
        z = _mix64((z ^ (month + 1) * 0xD1B54A32D192ED03) & _MASK)
        keys[d] = _mix64((z ^ (d + 1) * 0x8CB92BA72F3D8DD7) & _MASK)
    return keys
