"""Decommissioning: a group forecasting overspend proposes a cut; members vote by list size.

At the mid-year forecast, a group whose forecast deficit exceeds ``decommission_threshold``
(of its income) weighs the cuts still open to it:

- restricting procedures of limited clinical value (up to ``max_plcv_restrictions`` times):
  fewer elective admissions; the burden falls on practices whose patients have most electives;
- cutting community services (up to ``max_community_cuts`` times): saves ``community_cut`` of
  community-services spend and raises emergencies; the burden falls on practices whose
  patients have most emergency admissions, typically the deprived.

Each option is compared on its expected saving and on who bears it: the group proposes the
option with the largest saving among those it expects to pass (members' votes predicted from
their burden and trust); when none would pass, it proposes the largest saving anyway (a
contentious cut). A member votes yes when its burden (its share of the cut's burden over its
share of the population) is at most 1 + ``vote_tolerance`` x its trust in the group. The cut
passes with more than ``vote_majority`` of the list-size-weighted vote. The losing side
trusts the winners less (the trust behaviour's ``vote_loss_penalty``). A group formed by a
fracture inherits the cuts in force in its parent.
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


@dataclass(frozen=True)
class DecommissioningParams:
    plcv_reduction: float = param(
        0.10, lo=0.0, hi=1.0, unit="share of elective conversions",
        source="NHS England Evidence-Based Interventions 2019 (~100k procedures of 7.5m)",
        doc="cut to elective admissions when procedures of limited clinical value are restricted",
    )
    community_cut: float = param(
        0.05, lo=0.0, hi=0.5, unit="share of community-services spend",
        source=ASSUMED + ": size of a community-services decommissioning decision",
    )
    max_community_cuts: int = param(
        3, lo=0, hi=50, source=ASSUMED + ": community-service cuts a group can make in all",
    )
    max_plcv_restrictions: int = param(
        1, lo=0, hi=50,
        source="NHS England Evidence-Based Interventions: one national list (2019; a second in "
        "2020); assumed one restriction a group",
    )
    community_cut_emergency_rr: float = param(
        1.04, lo=1.0, hi=2.0, source=ASSUMED + ": emergencies rise when community services are cut",
    )
    decommission_threshold: float = param(
        0.005, lo=0.0, hi=0.2, unit="forecast deficit as share of forecast income",
        source="NHS England business rules: CCGs must plan a 0.5%-1% surplus",
    )


@dataclass(frozen=True)
class VoteParams:
    vote_tolerance: float = param(
        0.5, lo=0.0, hi=5.0,
        source=ASSUMED + ": burden above a fair share a practice accepts, times its trust",
    )
    vote_majority: float = param(
        0.5, lo=0.0, hi=1.0, unit="share of list-size-weighted votes",
        source=ASSUMED + ": a simple majority of the membership passes a cut",
    )


@dataclass
class Vote:
    """The outcome of one decommissioning vote."""

    cut: str
    yes: np.ndarray  # bool per member
    yes_share: float  # list-size-weighted
    passed: bool


def burden_ratios(usage: np.ndarray, list_sizes: np.ndarray) -> np.ndarray:
    """Each member's share of the cut's burden divided by its share of the population.

    A member with no patients bears none of it (ratio 0); nobody using what is cut: all 1.
    """
    usage = np.asarray(usage, dtype=float)
    sizes = np.asarray(list_sizes, dtype=float)
    used, registered = usage.sum(), sizes.sum()
    if used <= 0 or registered <= 0:
        return np.ones_like(usage)
    return np.divide(usage / used, sizes / registered, out=np.zeros_like(usage), where=sizes > 0)


def vote(cut: str, burden: np.ndarray, trust_in_group: np.ndarray, list_sizes: np.ndarray,
         tolerance: float, majority: float) -> Vote:
    """A member votes yes when its burden is within a fair share plus trust-weighted tolerance."""
    yes = burden <= 1.0 + tolerance * trust_in_group
    sizes = np.asarray(list_sizes, dtype=float)
    registered = sizes.sum()
    share = float(sizes[yes].sum() / registered) if registered > 0 else 0.0
    return Vote(cut=cut, yes=yes, yes_share=share, passed=share > majority)


def expected_saving(cut: str, elective_spend: float, community_services: float,
                    plcv_reduction: float, community_cut: float) -> float:
    """A year's saving the group expects from a cut."""
    if cut == "plcv":
        return plcv_reduction * elective_spend
    return community_cut * community_services


class Decommissioning(Behaviour):
    name = "decommissioning"
    params = {"policy": DecommissioningParams, "behaviour": VoteParams}
    group_state = {"plcv_restrictions": 0, "community_cuts": 0}
    events = (Event.DECOMMISSIONING_PROPOSED, Event.VOTE, Event.DECOMMISSIONING)
    phases = (Phase("decommissioning", When.FORECAST, 80, "round",
                    "groups forecasting overspend weigh cuts on saving and burden, propose one; "
                    "members vote by list size; the losing side trusts the winners less"),)
    requires = ("trust",)

    def setup(self) -> None:
        self.votes_lost = np.zeros(len(self.model.practices), dtype=np.int64)
        self._lost_in: dict[tuple[int, str], list[int]] = {}  # months of votes lost there

    def votes_lost_in(self, practice: int, group: str) -> int:
        """Votes ``practice`` lost in ``group`` since it last joined it."""
        months = self._lost_in.get((practice, group), [])
        since = int(self.model.joined_month[practice])
        return sum(1 for m in months if m >= since)

    def group_formed(self, group, parent) -> None:
        group.plcv_restrictions = parent.plcv_restrictions
        group.community_cuts = parent.community_cuts

    def adjust_levers(self, group, levers: Levers) -> None:
        pol = self.cfg.policy
        levers.emergency *= pol.community_cut_emergency_rr ** group.community_cuts
        levers.conversion *= (1.0 - pol.plcv_reduction) ** group.plcv_restrictions

    def options(self, group) -> list[str]:
        pol = self.cfg.policy
        return ([c for c, done, most in (("plcv", group.plcv_restrictions, pol.max_plcv_restrictions),
                                        ("community", group.community_cuts, pol.max_community_cuts))
                 if done < most])

    def round(self) -> None:
        """Groups forecasting overspend propose a cut, members vote, the decision has losers."""
        model, pol = self.model, self.cfg.policy
        costs = model.cfg.costs
        trust = model.behaviours["trust"].network
        months = model.cfg.policy.forecast_month  # months completed before this one starts
        beh = model.cfg.behaviour
        for group in model.active_groups:
            if group.forecast_deficit_share <= pol.decommission_threshold or len(group.members) < 2:
                continue
            options = self.options(group)
            if not options:
                continue
            idx = group.member_indices()
            counts = model.practice_arrays.year_counts[idx]
            usage = {
                "plcv": counts[:, Counter.DAY_CASE] + counts[:, Counter.INPATIENT],
                "community": counts[:, Counter.EMERGENCY],
            }
            elective_spend = float(
                counts[:, Counter.DAY_CASE].sum() * costs.day_case
                + counts[:, Counter.INPATIENT].sum() * costs.elective_inpatient
            ) * 12.0 / months
            savings = {
                cut: expected_saving(cut, elective_spend, group.community_services_cost,
                                     pol.plcv_reduction, pol.community_cut)
                for cut in options
            }
            all_sizes = model.practice_arrays.list_size
            sizes = all_sizes[idx]
            trust_in_group = trust.mean_trusts(idx, idx, all_sizes)
            votes = {cut: vote(cut, burden_ratios(usage[cut], sizes), trust_in_group, sizes,
                               beh.vote_tolerance, beh.vote_majority) for cut in options}
            passing = [c for c in options if votes[c].passed]
            cut = max(passing or options, key=lambda c: (savings[c], c))
            result = votes[cut]
            weighed = "; ".join(f"{c}: saving {savings[c]:,.0f}, yes {votes[c].yes_share:.2f}"
                                for c in options)
            model.record(Event.DECOMMISSIONING_PROPOSED, group=group.code,
                         value=group.forecast_deficit_share, detail=f"{cut} ({weighed})")
            model.record(Event.VOTE, group=group.code, value=result.yes_share,
                         detail=f"{cut}: {'passed' if result.passed else 'rejected'}")
            winners = idx[result.yes] if result.passed else idx[~result.yes]
            losers = idx[~result.yes] if result.passed else idx[result.yes]
            trust.lost_vote(losers, winners)
            self.votes_lost[losers] += 1
            month = model.month
            for p in losers.tolist():
                self._lost_in.setdefault((p, group.code), []).append(month)
            if result.passed:
                if cut == "plcv":
                    group.plcv_restrictions += 1
                else:
                    group.community_cuts += 1
                    group.community_factor *= 1.0 - pol.community_cut
                    group.community_services_cost *= 1.0 - pol.community_cut
                group.set_levers()
                model.record(Event.DECOMMISSIONING, group=group.code, value=savings[cut],
                             detail=cut)

    def group_year_columns(self, group) -> dict[str, Any]:
        return {"plcv_restrictions": group.plcv_restrictions,
                "community_cuts": group.community_cuts}

    def practice_year_columns(self, practices: np.ndarray) -> dict[str, list]:
        return {"votes_lost": self.votes_lost[practices].tolist()}
