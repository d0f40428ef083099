"""Decommissioning: a group forecasting overspend proposes a cut; members vote by list size.

At the mid-year forecast, a group whose forecast deficit exceeds ``decommission_threshold``
(of its income) proposes the cut it expects to save most:

- restricting procedures of limited clinical value (once): fewer elective admissions; the
  burden falls on practices whose patients have most electives;
- cutting community services (up to three times): saves other-services spend and raises
  emergencies; the burden falls on practices whose patients have most emergency admissions,
  typically the deprived.

A member votes yes when its burden (its share of the cut's burden over its share of the
population) is at most 1 + ``vote_tolerance`` x its trust in the group. The cut passes with
more than half the list-size-weighted vote. Outvoted practices lose trust in the winners.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ccgabm.behaviours.base import Behaviour, Levers
from ccgabm.events import Event
from ccgabm.params import ASSUMED, param
from ccgabm.patients import Counter
from ccgabm.schedule import Phase, When

CUTS = ("plcv", "community")
MAX_COMMUNITY_CUTS = 3  # structural: a group cuts community services at most three times
MAJORITY = 0.5  # structural: more than half the list-size-weighted vote passes a cut


@dataclass(frozen=True)
class DecommissioningParams:
    plcv_reduction: float = param(
        0.10, lo=0.0, hi=1.0, unit="share of elective conversions",
        source="NHS England Evidence-Based Interventions 2019 (~100k procedures of 7.5m)",
        doc="cut to elective admissions when procedures of limited clinical value are restricted",
    )
    community_cut: float = param(
        0.03, lo=0.0, hi=0.5, unit="share of other-services spend",
        source=ASSUMED + ": size of a community-services decommissioning decision",
    )
    community_cut_emergency_rr: float = param(
        1.04, lo=1.0, hi=2.0, source=ASSUMED + ": emergencies rise when community services are cut",
    )
    decommission_threshold: float = param(
        0.005, lo=0.0, hi=0.2, unit="forecast deficit as share of allocation",
        source="NHS England business rules: CCGs must plan a 0.5%-1% surplus",
    )


@dataclass(frozen=True)
class VoteParams:
    vote_tolerance: float = param(
        0.5, lo=0.0, hi=5.0,
        source=ASSUMED + ": burden above a fair share a practice accepts, times its trust",
    )


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
    with np.errstate(invalid="ignore", divide="ignore"):  # a practice with no patients left votes no
        return (usage / usage.sum()) / (sizes / sizes.sum())


def vote(cut: str, burden: np.ndarray, trust_in_group: np.ndarray, list_sizes: np.ndarray,
         tolerance: float) -> Vote:
    """A member votes yes when its burden is within a fair share plus trust-weighted tolerance."""
    yes = burden <= 1.0 + tolerance * trust_in_group
    sizes = np.asarray(list_sizes, dtype=float)
    share = float(sizes[yes].sum() / sizes.sum()) if sizes.sum() > 0 else 0.0
    return Vote(cut=cut, yes=yes, yes_share=share, passed=share > MAJORITY)


def expected_saving(cut: str, elective_spend: float, other_services: float, plcv_reduction: float,
                    community_cut: float) -> float:
    """A year's saving the group expects from a cut."""
    if cut == "plcv":
        return plcv_reduction * elective_spend
    return community_cut * other_services


class Decommissioning(Behaviour):
    name = "decommissioning"
    params = {"policy": DecommissioningParams, "behaviour": VoteParams}
    group_state = {"plcv_restricted": False, "community_cuts": 0}
    events = (Event.DECOMMISSIONING_PROPOSED, Event.VOTE, Event.DECOMMISSIONING)
    phases = (Phase("decommissioning", When.FORECAST, 80, "round",
                    "groups forecasting overspend propose a cut; members vote by list size; "
                    "outvoted practices lose trust in the winners"),)
    requires = ("trust",)

    def setup(self) -> None:
        self.votes_lost = np.zeros(len(self.model.practices), dtype=np.int64)

    def adjust_levers(self, group, levers: Levers) -> None:
        levers.emergency *= self.model.cfg.policy.community_cut_emergency_rr ** group.community_cuts
        if group.plcv_restricted:
            levers.conversion *= 1.0 - self.cfg.policy.plcv_reduction

    def round(self) -> None:
        """Groups forecasting overspend propose a cut, members vote, the decision has losers."""
        model, pol = self.model, self.cfg.policy
        costs = model.cfg.costs
        trust = model.behaviours["trust"].network
        months = model.cfg.policy.forecast_month  # months completed before this one starts
        tolerance = model.cfg.behaviour.vote_tolerance
        for group in model.active_groups:
            if group.forecast_deficit_share <= pol.decommission_threshold or len(group.members) < 2:
                continue
            options = []
            if not group.plcv_restricted:
                options.append("plcv")
            if group.community_cuts < MAX_COMMUNITY_CUTS:
                options.append("community")
            if not options:
                continue
            members = group.members
            counts = np.array([p.year_counts for p in members])
            usage = {
                "plcv": counts[:, Counter.DAY_CASE] + counts[:, Counter.INPATIENT],
                "community": counts[:, Counter.EMERGENCY],
            }
            elective_spend = float(sum(
                p.year_counts[Counter.DAY_CASE] * costs.day_case
                + p.year_counts[Counter.INPATIENT] * costs.elective_inpatient for p in members
            )) * 12.0 / months
            savings = {
                cut: expected_saving(cut, elective_spend, group.other_services_cost,
                                     pol.plcv_reduction, pol.community_cut)
                for cut in options
            }
            cut = max(options, key=lambda c: savings[c])
            sizes = np.array([p.list_size for p in members])
            idx = np.array([p.index for p in members])
            all_sizes = model.practice_arrays.list_size
            trust_in_group = np.array([trust.mean_trust(p.index, idx, all_sizes) for p in members])
            burden = burden_ratios(usage[cut], sizes)
            result = vote(cut, burden, trust_in_group, sizes, tolerance)
            model.record(Event.DECOMMISSIONING_PROPOSED, group=group.code,
                         value=group.forecast_deficit_share, detail=cut)
            model.record(Event.VOTE, group=group.code, value=result.yes_share,
                         detail=f"{cut}: {'passed' if result.passed else 'rejected'}")
            winners = idx[result.yes] if result.passed else idx[~result.yes]
            losers = idx[~result.yes] if result.passed else idx[result.yes]
            trust.lost_vote(losers, winners)
            self.votes_lost[losers] += 1
            if result.passed:
                if cut == "plcv":
                    group.plcv_restricted = True
                else:
                    group.community_cuts += 1
                    group.other_services_factor *= 1.0 - pol.community_cut
                    group.other_services_cost *= 1.0 - pol.community_cut
                group.set_levers()
                model.record(Event.DECOMMISSIONING, group=group.code, value=savings[cut],
                             detail=cut)

    def group_year_columns(self, group) -> dict[str, Any]:
        return {"plcv_restricted": group.plcv_restricted, "community_cuts": group.community_cuts}

    def practice_year_columns(self, practices: np.ndarray) -> dict[str, list]:
        return {"votes_lost": self.votes_lost[practices].tolist()}
