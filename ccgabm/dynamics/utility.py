"""What a practice gains from a group: trust in its members plus the group's finances."""

from __future__ import annotations

import numpy as np


def coalition_utilities(trust: np.ndarray, coalition: np.ndarray, list_sizes: np.ndarray,
                        finance: float) -> np.ndarray:
    """Utility of each coalition member for belonging to it (trust + finance term)."""
    w = np.maximum(list_sizes[coalition], 1).astype(float)
    sub = trust[np.ix_(coalition, coalition)].astype(float)
    others = w.sum() - w
    weighted = sub @ w - np.diag(sub) * w
    mean = np.divide(weighted, others, out=np.zeros_like(weighted), where=others > 0)
    return mean + finance


def new_group_finance(population: np.ndarray | float, reference_population: float, fixed_cost: float,
                      per_head_budget: float, weight: float) -> np.ndarray | float:
    """Finance term of a new group: extra fixed running cost per head against a reference."""
    extra = fixed_cost / np.maximum(population, 1.0) - fixed_cost / max(reference_population, 1.0)
    return -weight * extra / 100.0 if per_head_budget > 0 else 0.0 * extra


def group_finance(allocation: float, need_weight: float, national_rate: float,
                  last_result: float, per_head_budget: float, weight: float) -> float:
    """Finance term of an existing group: budget per need vs national, plus last year's result.

    Both parts are shares of a year's budget, converted to GBP 100 a head and weighted.
    """
    if allocation <= 0 or need_weight <= 0 or national_rate <= 0:
        return 0.0
    share = (allocation / need_weight) / national_rate - 1.0 + last_result / allocation
    return weight * share * per_head_budget / 100.0
