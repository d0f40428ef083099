"""The quality premium: the Board pays groups that did not overspend in the year just closed."""

from __future__ import annotations

from dataclasses import dataclass

from ccgabm.behaviours.base import Behaviour
from ccgabm.events import Event
from ccgabm.params import param


@dataclass(frozen=True)
class QualityPremiumParams:
    quality_premium: float = param(
        5.0, lo=0.0, hi=50.0, unit="GBP per head",
        source="NHS England quality premium guidance; GPonline (withheld on overspend)",
    )


class QualityPremium(Behaviour):
    name = "quality_premium"
    params = {"finance": QualityPremiumParams}
    events = (Event.QUALITY_PREMIUM,)
    income_kinds = ("quality_premium",)

    def year_closed(self, group) -> None:
        if group.last_in_year_result < 0:
            return
        amount = self.cfg.finance.quality_premium * group.population
        self.model.board.pay(group, amount, "quality_premium")
        if amount > 0:
            self.model.record(Event.QUALITY_PREMIUM, group=group.code, value=amount)
