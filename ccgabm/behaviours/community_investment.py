"""Community investment: money put into community services avoids emergency admissions.

A group invests ``community_investment`` of its programme budget a year (a scenario knob),
plus whatever other behaviours add (co-commissioning's delegated funds). Emergency admissions
of its members' patients fall by ``community_effect`` per share invested (at most 80%).
"""

from __future__ import annotations

from dataclasses import dataclass

from ccgabm.behaviours.base import Behaviour, Levers
from ccgabm.params import param


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


class CommunityInvestment(Behaviour):
    name = "community_investment"
    params = {"policy": CommunityInvestmentParams}
    spend_kinds = ("community_investment",)

    def investment(self, group) -> float:
        return self.cfg.policy.community_investment

    def adjust_levers(self, group, levers: Levers) -> None:
        levers.emergency *= max(0.2, 1.0 - self.cfg.policy.community_effect * levers.investment)

    def monthly_costs(self, group, allocation: float) -> None:
        invest = group.investment_share()
        if invest > 0:
            group.pay(invest * allocation / 12.0, "community_investment")
