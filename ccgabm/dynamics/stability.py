"""Hedonic-game core stability of a group: would any coalition of members rather leave?

A coalition C of members blocks the group if every member of C prefers C (as a new group)
to staying. Exact enumeration for groups of up to ``EXACT_LIMIT`` members; for larger
groups a greedy search from each of the ``HEURISTIC_SEEDS`` least satisfied members (a
heuristic: it can miss a blocking coalition, never invents one).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ccgabm.dynamics.utility import coalition_utilities

EXACT_LIMIT = 12
HEURISTIC_SEEDS = 8  # large groups: greedy search from the least satisfied members

# Finance term of a new group carved out of one group, as a function of its population
# (a number or an array of them): all coalitions searched here come from a single group.
FinanceOf = Callable[[np.ndarray | float], np.ndarray | float]


def blocks(trust: np.ndarray, coalition: np.ndarray, stay_utility: dict[int, float],
           list_sizes: np.ndarray, finance_of: FinanceOf, switching_cost: float) -> bool:
    """Whether every member of ``coalition`` strictly prefers it to staying."""
    finance = finance_of(float(list_sizes[coalition].sum()))
    u = coalition_utilities(trust, coalition, list_sizes, finance) - switching_cost
    return bool(np.all(u > np.array([stay_utility[int(p)] for p in coalition])))


def greedy_coalition(seed: int, members: np.ndarray, trust: np.ndarray,
                     stay_utility: dict[int, float], list_sizes: np.ndarray, finance_of: FinanceOf,
                     switching_cost: float, min_size: int) -> np.ndarray | None:
    """Grow a coalition around ``seed`` from its most trusted fellows, then prune the unwilling.

    ``friends`` are taken in order of mutual trust, so trimming to a minority drops the least
    trusted first.
    """
    others = members[members != seed]
    if len(others) == 0:
        return None
    mutual = (trust[seed, others] + trust[others, seed]) / 2.0
    order = np.argsort(-mutual, kind="stable")
    friends = others[order][mutual[order] >= np.median(mutual)]
    coalition = np.concatenate([[seed], friends])
    # A fracture is a minority leaving: at most half the members (by list size) go together.
    half = list_sizes[members].sum() / 2.0
    while len(coalition) > 1 and list_sizes[coalition].sum() > half:
        coalition = coalition[:-1]
    while len(coalition) >= min_size:
        finance = finance_of(float(list_sizes[coalition].sum()))
        u = coalition_utilities(trust, coalition, list_sizes, finance) - switching_cost
        stay = np.array([stay_utility[int(p)] for p in coalition])
        unwilling = u <= stay
        if not unwilling.any():
            return coalition
        if unwilling[0]:
            return None  # the seed itself would rather stay
        worst = np.argmin(u - stay)
        coalition = np.delete(coalition, worst)
    return None


def core_stable(members: np.ndarray, trust: np.ndarray, stay_utility: dict[int, float],
                list_sizes: np.ndarray, finance_of: FinanceOf, switching_cost: float) -> bool:
    """True if no coalition of members blocks the group (exact for small groups)."""
    members = np.asarray(members)
    if len(members) <= 1:
        return True
    if len(members) <= EXACT_LIMIT:
        return not _any_subset_blocks(members, trust, stay_utility, list_sizes, finance_of,
                                      switching_cost)
    for seed in sorted(members.tolist(), key=lambda p: stay_utility[int(p)])[:HEURISTIC_SEEDS]:
        found = greedy_coalition(int(seed), members, trust, stay_utility, list_sizes, finance_of,
                                 switching_cost, 1)
        if found is not None:
            return False
    return True


def _any_subset_blocks(members: np.ndarray, trust: np.ndarray, stay_utility: dict[int, float],
                       list_sizes: np.ndarray, finance_of: FinanceOf, switching_cost: float) -> bool:
    """Exact check over every proper subset of ``members`` at once (vectorised)."""
    m = len(members)
    codes = np.arange(1, 2**m - 1)  # every non-empty proper subset
    inside = ((codes[:, None] >> np.arange(m)[None, :]) & 1).astype(bool)
    w = np.maximum(list_sizes[members], 1).astype(float)
    t = trust[np.ix_(members, members)].astype(float)
    np.fill_diagonal(t, 0.0)
    numer = (inside * w) @ t.T  # [subset, p]: weighted trust of p in the subset's others
    denom = (inside @ w)[:, None] - w[None, :]
    mean = np.divide(numer, denom, out=np.zeros_like(numer), where=denom > 0)
    finance = np.asarray(finance_of(inside @ list_sizes[members].astype(float)), dtype=float)
    utility = mean + finance.reshape(-1, 1) - switching_cost
    stay = np.array([stay_utility[int(p)] for p in members])
    prefers = (utility > stay[None, :]) | ~inside
    return bool(np.any(prefers.all(axis=1)))
