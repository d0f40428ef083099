"""Hedonic-game core stability of a group: would any coalition of members rather leave?

A coalition C of members blocks the group if every member of C prefers C (as a new group)
to staying. Exact enumeration for groups of up to ``EXACT_LIMIT`` members; for larger
groups a greedy search from each of the ``HEURISTIC_SEEDS`` least satisfied members (a
heuristic: it can miss a blocking coalition, never invents one).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations

import numpy as np

from ccgabm.dynamics.utility import coalition_utilities

EXACT_LIMIT = 12
HEURISTIC_SEEDS = 8  # large groups: greedy search from the least satisfied members

FinanceOf = Callable[[np.ndarray], float]


def blocks(trust: np.ndarray, coalition: np.ndarray, stay_utility: dict[int, float],
           list_sizes: np.ndarray, finance_of: FinanceOf, switching_cost: float) -> bool:
    """Whether every member of ``coalition`` strictly prefers it to staying."""
    u = coalition_utilities(trust, coalition, list_sizes, finance_of(coalition)) - switching_cost
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
        u = coalition_utilities(trust, coalition, list_sizes, finance_of(coalition)) - switching_cost
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
        for size in range(1, len(members)):
            for combo in combinations(members.tolist(), size):
                if blocks(trust, np.array(combo), stay_utility, list_sizes, finance_of,
                          switching_cost):
                    return False
        return True
    for seed in sorted(members.tolist(), key=lambda p: stay_utility[int(p)])[:HEURISTIC_SEEDS]:
        found = greedy_coalition(int(seed), members, trust, stay_utility, list_sizes, finance_of,
                                 switching_cost, 1)
        if found is not None:
            return False
    return True
