"""Counter-based random draws of the patients' decisions.

Each patient-level decision has its own stream: a 64-bit key per (seed, month, decision),
from ``month_keys``, which the monthly kernel mixes with the patient's slot (a splitmix64
finaliser). Every patient therefore has its own draws whatever the number of threads, and
two scenarios that share a seed share every patient draw that their rules have in common.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np
from numba import njit

__all__ = ["N_KEYS", "Decision", "month_keys"]


class Decision(IntEnum):
    """Patient-level decisions, each with its own hashed stream.

    A decision's value selects its stream (``month_keys(seed, month)[decision]``): renumbering
    changes every draw. The kernel compiles the values in, and numba's on-disk cache does
    not see edits to this file, so a renumbering also needs the cache of
    ``ccgabm/patients/kernel.py`` cleared.
    """

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
    DEFERRED = 15


# Length of a month's key array, indexed by decision value (index 0 is computed but unused).
N_KEYS = max(Decision) + 1


@njit(inline="always", cache=True)
def _mix64(z):
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def _month_keys(seed, month, n_keys):
    keys = np.zeros(n_keys, dtype=np.uint64)
    for d in range(n_keys):
        z = _mix64(seed * np.uint64(0x9E3779B97F4A7C15) + np.uint64(0x632BE59BD9B4E019))
        z = _mix64(z ^ (np.uint64(month + 1) * np.uint64(0xD1B54A32D192ED03)))
        keys[d] = _mix64(z ^ (np.uint64(d + 1) * np.uint64(0x8CB92BA72F3D8DD7)))
    return keys


def month_keys(seed: int, month: int) -> np.ndarray:
    """Per-decision 64-bit keys of one month (index: ``Decision`` value)."""
    return _month_keys(np.uint64(seed), np.int64(month), N_KEYS)
