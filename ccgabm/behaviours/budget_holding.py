"""Budget holding: practices hold a share of their group's budget and refer less under it.

Referrals fall by ``budget_holding_effect`` while the incentive is on, and fall further when the
group forecasts an overspend (``deficit_referral_response`` per share of budget overspent; the
overspend response never takes referrals below ``deficit_referral_floor`` of what they were).
"""

from __future__ import annotations

from dataclasses import dataclass

from ccgabm.behaviours.base import Behaviour, Levers
from ccgabm.params import ASSUMED, param


@dataclass(frozen=True)
class BudgetHoldingParams:
    budget_incentive: bool = param(
        True, source="Dusheiko, Gravelle, Jacobs & Smith, J Health Econ 2006 (budget holding)",
        doc="practices hold a share of the group's budget and respond to it",
    )
    budget_holding_effect: float = param(
        0.043, lo=0.0, hi=0.5, unit="share of referrals",
        source="Dusheiko et al. 2006: removing the incentive raised electives 3.5-5.1% (midpoint)",
    )
    deficit_referral_response: float = param(
        1.0, lo=0.0, hi=10.0, unit="share of referrals per share of budget overspent",
        source=ASSUMED + ": budget pressure feeds back into referral behaviour",
    )
    deficit_referral_floor: float = param(
        0.5, lo=0.0, hi=1.0, unit="referral multiplier",
        source=ASSUMED + ": practices never cut referrals by more than half under budget pressure",
        doc="lowest multiplier the forecast-overspend response can put on referrals",
    )


class BudgetHolding(Behaviour):
    name = "budget_holding"
    params = {"policy": BudgetHoldingParams}

    def adjust_levers(self, group, levers: Levers) -> None:
        if self.cfg.policy.budget_incentive:
            levers.referral *= 1.0 - self.cfg.policy.budget_holding_effect
            pressure = max(group.forecast_deficit_share, 0.0)
            pol = self.cfg.policy
            levers.referral *= max(pol.deficit_referral_floor,
                                   1.0 - pol.deficit_referral_response * pressure)
