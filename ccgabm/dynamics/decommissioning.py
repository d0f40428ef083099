"""Decommissioning: a group forecasting overspend proposes cuts; members vote by list size.

Cuts on offer: restricting procedures of limited clinical value (fewer elective admissions;
the burden falls on practices whose patients have most electives) and cutting community
services (saves other-services spend, raises emergencies; the burden falls on practices
whose patients have most emergency admissions, typically the deprived).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CUTS = ("plcv", "community")


@dataclass
class Vote:
    """The outcome of one decommissioning vote."""

    cut: str
    yes: np.ndarray  # bool per member
    yes_share: float  # list-size-weighted
    passed: bool


def burden_ratios(usage: np.ndarray, list_sizes: np.ndarray) -> np.ndarray:
    """Each member's share of the cut's burden divided by its share of the population."""
    usage = np.asarray(usage, dtype=float)
    sizes = np.asarray(list_sizes, dtype=float)
    if usage.sum() <= 0:
        return np.ones_like(usage)
    return (usage / usage.sum()) / (sizes / sizes.sum())


def vote(cut: str, burden: np.ndarray, trust_in_group: np.ndarray, list_sizes: np.ndarray,
         tolerance: float) -> Vote:
    """A member votes yes when its burden is within a fair share plus trust-weighted tolerance."""
    yes = burden <= 1.0 + tolerance * trust_in_group
    sizes = np.asarray(list_sizes, dtype=float)
    share = float(sizes[yes].sum() / sizes.sum()) if sizes.sum() > 0 else 0.0
    return Vote(cut=cut, yes=yes, yes_share=share, passed=share > 0.5)


def expected_saving(cut: str, elective_spend: float, other_services: float, plcv_reduction: float,
                    community_cut: float) -> float:
    """A year's saving the group expects from a cut."""
    if cut == "plcv":
        return plcv_reduction * elective_spend
    return community_cut * other_services
