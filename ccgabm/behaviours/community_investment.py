"""Community investment: money put into community services avoids emergency admissions.

A group invests ``community_investment`` of its programme budget a year (a scenario knob),
plus whatever other behaviours add (co-commissioning's delegated funds). Emergency admissions
of its members' patients fall by ``community_effect`` per share invested, never below
``community_effect_floor`` of what they were (at most 80% avoided by default).
"""

from __future__ import annotations

from dataclasses import dataclass

from ccgabm.behaviours.base import Behaviour, Levers
from ccgabm.params import ASSUMED, param


@dataclass(frozen=True)
class CommunityInvestmentParams:
    community_investment: float = param(
        0.0, lo=0.0, hi=0.1, unit="share of programme budget",
        source="scenario knob: extra community-services investment a year",
    )
    community_effect: float = param(
        2.0, lo=0.0, hi=10.0, unit="share of emergencies avoided per share of budget invested",
        source="Purdy, King's Fund 2010 (avoiding hospital admissions; evidence mixed): assumed",
    )
    community_effect_floor: float = param(
        0.2, lo=0.0, hi=1.0, unit="emergency multiplier",
        source=ASSUMED + ": community services avoid at most 80% of emergency admissions "
        "(Purdy, King's Fund 2010, finds far smaller effects)",
        doc="lowest multiplier community investment can put on emergency admissions",
    )


class CommunityInvestment(Behaviour):
    name = "community_investment"
    params = {"policy": CommunityInvestmentParams}
    spend_kinds = ("community_investment",)

    def investment(self, group) -> float:
        return self.cfg.policy.community_investment

    def adjust_levers(self, group, levers: Levers) -> None:
        pol = self.cfg.policy
        levers.emergency *= max(pol.community_effect_floor,
                                1.0 - pol.community_effect * levers.investment)

    def monthly_costs(self, group, allocation: float) -> None:
        invest = group.investment_share()
        if invest > 0:
            group.pay(invest * allocation / 12.0, "community_investment")
