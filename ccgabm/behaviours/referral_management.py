"""Referral management: groups pay for schemes that screen referrals (Cox et al., BJGP 2013).

A scenario switch. When on, every group pays ``referral_management_cost`` per patient a year
and its members' referrals fall by ``referral_management_effect`` (no effect by default: the
evidence found none).
"""

from __future__ import annotations

from dataclasses import dataclass

from ccgabm.behaviours.base import Behaviour, Levers
from ccgabm.params import param


@dataclass(frozen=True)
class ReferralManagementParams:
    referral_management: bool = param(
        False, source="scenario switch: groups run referral-management schemes (Cox et al. 2013)",
    )
    referral_management_cost: float = param(
        3.39, lo=0.55, hi=6.23, unit="GBP per patient a year",
        source="Cox et al., BJGP 2013: GBP 0.55-6.23 per patient (midpoint)",
    )
    referral_management_effect: float = param(
        0.0, lo=0.0, hi=0.5, unit="share of referrals avoided",
        source="Cox et al., BJGP 2013: no evidence that referral management cuts referrals",
    )


class ReferralManagement(Behaviour):
    name = "referral_management"
    params = {"policy": ReferralManagementParams}
    spend_kinds = ("referral_management",)

    def adjust_levers(self, group, levers: Levers) -> None:
        if self.cfg.policy.referral_management:
            levers.referral *= 1.0 - self.cfg.policy.referral_management_effect

    def monthly_costs(self, group, allocation: float) -> None:
        if self.cfg.policy.referral_management:
            group.pay(self.cfg.policy.referral_management_cost * group.population / 12.0,
                      "referral_management")
