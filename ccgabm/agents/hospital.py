"""An acute hospital: treats referrals from its waiting list as capacity allows."""

from __future__ import annotations

import mesa
import numpy as np
from numba import njit


class Hospital(mesa.Agent):
    """Elective capacity, a waiting list ordered by time waited, and income from billing."""

    def __init__(self, model: mesa.Model, index: int, name: str, capacity_ratio: float) -> None:
        super().__init__(model)
        self.index = index
        self.name = name
        self.capacity_ratio = capacity_ratio
        self.monthly_capacity = 0.0
        self.waiting_hist = np.zeros(256, dtype=np.int64)
        self.income = 0.0

    @property
    def waiting(self) -> int:
        return int(self.waiting_hist.sum())

    def plan_capacity(self, referrals_last_year: float) -> None:
        """Set this year's first-outpatient capacity from last year's referrals."""
        self.monthly_capacity = self.capacity_ratio * referrals_last_year / 12.0

    def treatment_cutoff(self) -> tuple[int, float]:
        """Longest waiters first: treat waits above the cut, and a share of those at the cut.

        Returns (cut, share): everyone who has waited more than ``cut`` months is treated, and
        ``share`` of those who have waited exactly ``cut``; (0, 1.0) treats every waiter.
        """
        longest_first = self.waiting_hist[:0:-1]
        treated = np.cumsum(longest_first)
        k = int(np.searchsorted(treated, self.monthly_capacity, side="right"))
        if k == len(longest_first):
            return 0, 1.0
        done = treated[k - 1] if k else 0
        return len(self.waiting_hist) - 1 - k, float((self.monthly_capacity - done) / longest_first[k])

    def bill(self, amount: float) -> None:
        """Receive payment for activity charged to a commissioning group."""
        self.income += amount


@njit(cache=True, error_model="numpy")
def treatment_cutoffs(waiting_hists: np.ndarray, capacity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``Hospital.treatment_cutoff`` of every hospital at once (rows of ``waiting_hists``, each
    with its ``capacity``): the cuts and the shares treated at the cut, same arithmetic (waits
    counted longest first while their running total stays within capacity)."""
    n, width = waiting_hists.shape
    cut = np.zeros(n, dtype=np.int64)
    share = np.ones(n)
    for h in range(n):
        done = 0  # waiters of the waits counted so far, longest first
        k = 0  # waits counted
        while k < width - 1 and done + waiting_hists[h, width - 1 - k] <= capacity[h]:
            done += waiting_hists[h, width - 1 - k]
            k += 1
        if k < width - 1:
            cut[h] = width - 1 - k
            share[h] = (capacity[h] - done) / waiting_hists[h, width - 1 - k]
    return cut, share
