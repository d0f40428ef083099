"""Pooled budgets: a share of each group's programme allocation paid into budgets pooled with
local authorities (the Better Care Fund, from April 2015).

A scenario switch, usually dated by the timeline. While ``pooled_budget_share`` is above 0, every
group pays that share of its programme allocation a month at a time into a pooled budget
(ledger line ``pooled_budget``). The money leaves the services the model simulates: in England
the fund paid mostly for social care and community services run with local authorities
(Spending Round, June 2013: a pooled budget of GBP 3.8bn from 2015/16, GBP 1.9bn of it new NHS
funding and GBP 1.9bn existing transfers, GBP 1.1bn of which NHS England had paid to local
authorities directly before; Care Act 2014 and the mandate to NHS England ring-fenced GBP 3.519bn
of CCG allocations for it in 2016/17).
"""

from __future__ import annotations

from dataclasses import dataclass

from ccgabm.behaviours.base import Behaviour
from ccgabm.params import param


@dataclass(frozen=True)
class PooledBudgetParams:
    pooled_budget_share: float = param(
        0.0, lo=0.0, hi=0.5, unit="share of programme allocation", dated=True,
        source="scenario knob (0: none); Better Care Fund from 2015/16: GBP 3.46bn of CCG "
        "allocations (GBP 3.8bn less the Disabled Facilities Grant and capital), less the "
        "reablement and carers' break funding groups already spent (~GBP 0.43bn), over GBP "
        "69.5bn of allocations that include the fund: ~4.4% (Department of Health, Spending "
        "Round 2013; NHS England Better Care Fund planning guidance)",
        doc="share of a group's programme allocation paid into budgets pooled with local "
        "authorities",
    )


class PooledBudgets(Behaviour):
    name = "pooled_budgets"
    params = {"finance": PooledBudgetParams}
    spend_kinds = ("pooled_budget",)

    def monthly_costs(self, group, allocation: float) -> None:
        share = self.cfg.finance.pooled_budget_share
        if share > 0:
            group.pay(share * allocation / 12.0, "pooled_budget")
