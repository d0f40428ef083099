"""Co-commissioning: groups take delegated primary-care budgets and invest them locally.

From ``co_commissioning_year`` (-1: never), each April every group not yet co-commissioning
adopts with probability ``co_commissioning_adoption`` + ``imitation`` x the share of its
neighbours that had adopted. A co-commissioning group receives ``co_commissioning_investment``
of its programme budget a year from the Board and invests it in community services.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ccgabm.behaviours.base import Behaviour
from ccgabm.events import Event
from ccgabm.params import ASSUMED, param
from ccgabm.schedule import Phase, When


@dataclass(frozen=True)
class CoCommissioningParams:
    co_commissioning_year: int = param(
        2, lo=-1, hi=50, unit="financial year index; -1 = never",
        source="NHS England co-commissioning from April 2015 (year 2 of 2013 start)",
        dated=True,
    )
    co_commissioning_adoption: float = param(
        0.15, lo=0.0, hi=1.0, unit="probability a year",
        source="NHS England: 63 of 209 CCGs took delegated budgets in 2015/16, more later",
        dated=True,
    )
    imitation: float = param(
        0.3, lo=0.0, hi=1.0, source=ASSUMED + ": extra adoption per share of neighbours adopted",
        dated=True,
    )
    co_commissioning_investment: float = param(
        0.01, lo=0.0, hi=0.1, unit="share of programme budget",
        source="Pulse 2014: delegated budgets invested in community services",
        dated=True,
    )


class CoCommissioning(Behaviour):
    name = "co_commissioning"
    params = {"behaviour": CoCommissioningParams}
    group_state = {"co_commissioning": False}
    events = (Event.CO_COMMISSIONING,)
    phases = (Phase("co-commissioning", When.YEAR_START, 20, "adopt",
                    "from the chosen year, groups take delegated budgets; neighbours' adoption "
                    "is imitated"),)
    income_kinds = ("delegated_primary_care",)
    monthly_income_kinds = ("delegated_primary_care",)

    def adopt(self) -> None:
        """From the chosen year, groups take delegated budgets; neighbours' adoption is imitated."""
        model = self.model
        beh = model.cfg.behaviour
        year = model.month // 12
        if beh.co_commissioning_year < 0 or year < beh.co_commissioning_year:
            return
        rng = model.streams.fresh("behaviour.co_commissioning", year)
        groups = sorted(model.active_groups, key=lambda g: g.code)
        draws = rng.random(len(groups))
        adopted_before = {g.code for g in groups if g.co_commissioning}
        for group, u in zip(groups, draws, strict=True):
            if group.co_commissioning:
                continue
            near = [c for c in group.neighbours if c in model.groups and model.groups[c].active]
            share = sum(c in adopted_before for c in near) / len(near) if near else 0.0
            if u < min(1.0, beh.co_commissioning_adoption + beh.imitation * share):
                group.co_commissioning = True
                model.record(Event.CO_COMMISSIONING, group=group.code, value=share)

    def investment(self, group) -> float:
        return self.cfg.behaviour.co_commissioning_investment if group.co_commissioning else 0.0

    def monthly_income(self, group, allocation: float) -> None:
        if group.co_commissioning:
            amount = self.cfg.behaviour.co_commissioning_investment * allocation / 12.0
            if amount > 0:
                self.model.board.pay(group, amount, "delegated_primary_care")

    def group_year_columns(self, group) -> dict[str, Any]:
        return {"co_commissioning": group.co_commissioning}

    figures = ("groups_co_commissioning_end",)

    def summary(self, tables, fates) -> dict[str, Any]:
        from ccgabm.agents.group import CommissioningGroup

        groups = self.model.agents_by_type[CommissioningGroup]
        return {"groups_co_commissioning_end": len(groups.select(lambda g: g.co_commissioning))}
