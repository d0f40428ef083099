"""A commissioning group (CCG): holds the budget for its member practices' patients."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import mesa
import numpy as np

from ccgabm.agents.practice import Practice
from ccgabm.behaviours.base import Levers

if TYPE_CHECKING:
    from ccgabm.agents.hospital import Hospital

# Ledger lines every group has; behaviours add theirs between these and the transfers.
CORE_SPEND_KINDS = ("activity", "community_services", "other_services", "running_costs",
                    "pooled_budget")
CORE_INCOME_KINDS = ("programme", "running_allowance")
TRANSFER_OUT, TRANSFER_IN = "transfer_out", "transfer_in"


class CommissioningGroup(mesa.Agent):
    """Members, a ledger of money received and spent, and the levers its policies set.

    Behaviours add the group attributes they declare in ``group_state`` (for example
    ``plcv_restrictions`` or ``co_commissioning``), with their starting values.
    """

    def __init__(self, model: mesa.Model, code: str, hospital: Hospital) -> None:
        super().__init__(model)
        model.membership_version += 1
        self.code = code
        self.hospital = hospital
        self._members: list[Practice] = []
        self._member_changes = 0  # changes to this group's member list
        self._indices: tuple[int, np.ndarray | None] = (-1, None)
        self.neighbours: set[str] = set()
        self.active = True
        self.referral_multiplier = 1.0
        self.emergency_multiplier = 1.0
        self.conversion_multiplier = 1.0
        self.balance = 0.0
        spend, income = model.ledger_kinds
        self.received = dict.fromkeys(income, 0.0)
        self.spent = dict.fromkeys(spend, 0.0)
        self.year_received = dict.fromkeys(income, 0.0)
        self.year_spent = dict.fromkeys(spend, 0.0)
        self.community_services_cost = 0.0  # a year
        self.community_factor = 1.0  # share of its historical community services still bought
        self.other_services_cost = 0.0  # a year: services the model does not simulate
        self.running_cost = 0.0  # a year
        self.need_weight = 0.0
        self.last_in_year_result = 0.0
        self.forecast_deficit_share = 0.0
        self.created_month = 0
        self.parent: str | None = None
        # the area the group lies in (the practice table's 2021 footprint, else its own code):
        # consolidation merges the groups of one footprint
        self.footprint = code
        # the period so far under the marginal rate emergency tariff (ccgabm.core.billing):
        # [(year, rate, rule), admitted, baseline, discount]
        self.emergency_year_to_date: list | None = None
        self.ended_month: int | None = None
        self.fate = ""  # "" while in play, then one of ``ccgabm.events.ENDINGS``
        self.first: dict[str, int] = {}  # month of the group's first fracture, defection, return
        for behaviour in model.behaviours.values():
            for name, value in behaviour.group_state.items():
                setattr(self, name, copy.deepcopy(value))  # each group its own

    @property
    def members(self) -> list[Practice]:
        """Member practices, in order of joining (change them through ``add_member`` and
        ``remove_member``)."""
        return self._members

    @members.setter
    def members(self, practices: list[Practice]) -> None:
        self._members = practices
        self._member_changes += 1
        self.model.membership_version += 1

    def member_indices(self) -> np.ndarray | None:
        """Members' practice indices (rows of the practice arrays), in member order; None when
        a member is not a ``Practice``. Recomputed only after this group's members change."""
        version = self._member_changes
        if self._indices[0] != version:
            indices = None
            if all(isinstance(p, Practice) for p in self._members):
                indices = np.array([p.index for p in self._members], dtype=np.int64)
            self._indices = (version, indices)
        return self._indices[1]

    @property
    def population(self) -> int:
        """Patients registered with the members."""
        indices = self.member_indices()
        if indices is None:
            return sum(p.list_size for p in self.members)
        return int(self.model.practice_arrays.list_size[indices].sum())

    def add_member(self, practice: Practice) -> None:
        """Take a practice into the group (it leaves its previous group)."""
        if practice.group is not None and practice in practice.group.members:
            practice.group.remove_member(practice)
        practice.group = self
        self._members.append(practice)
        self._member_changes += 1
        self.model.membership_version += 1

    def remove_member(self, practice: Practice) -> None:
        """The practice is no longer a member (it joins another group or closes)."""
        self._members.remove(practice)
        self._member_changes += 1
        self.model.membership_version += 1

    def receive(self, amount: float, kind: str) -> None:
        """Money in (from the Board, or a balance following practices)."""
        self.received[kind] += amount
        self.year_received[kind] += amount
        self.balance += amount

    def pay(self, amount: float, kind: str) -> None:
        """Money out: hospital activity, other commissioned services, running costs, ..."""
        self.spent[kind] += amount
        self.year_spent[kind] += amount
        self.balance -= amount

    def investment_share(self) -> float:
        """Share of the programme budget invested in community services this year."""
        return sum([hook(self) for hook in self.model.hooks("investment")])

    def set_levers(self) -> None:
        """Referral, emergency and conversion multipliers implied by every behaviour's policy."""
        levers = Levers(investment=self.investment_share())
        for adjust in self.model.hooks("adjust_levers"):
            adjust(self, levers)
        self.referral_multiplier = levers.referral
        self.emergency_multiplier = levers.emergency
        self.conversion_multiplier = levers.conversion
        self.model.levers_version += 1

    def update_forecast(self, months_elapsed: int) -> None:
        """The mid-year forecast; the levers respond to it."""
        self.forecast_deficit_share = self.forecast_deficit(months_elapsed)
        self.set_levers()

    def forecast_deficit(self, months_elapsed: int) -> float:
        """Forecast year-end deficit as a share of forecast income (negative: a surplus).

        Spending so far is annualised (x 12 / ``months_elapsed``), and so is income paid a
        month at a time (behaviours' ``monthly_income_kinds``, e.g. delegated primary-care
        budgets); lump sums already received this year (the programme budget and running-cost
        allowance paid in April, a quality premium) count as they stand. Balances moved with
        practices are excluded.
        """
        scale = 12.0 / max(months_elapsed, 1)
        monthly = {k for b in self.model.behaviours.values() for k in b.monthly_income_kinds}
        income = sum(v * scale if k in monthly else v
                     for k, v in self.year_received.items() if k != TRANSFER_IN)
        spent = sum(v for k, v in self.year_spent.items() if k != TRANSFER_OUT)
        spend = spent * scale
        return (spend - income) / income if income > 0 else 0.0

    def in_year_result(self) -> float:
        """Surplus (+) or deficit (-) of the financial year so far (balances moved excluded)."""
        income = sum(v for k, v in self.year_received.items() if k != TRANSFER_IN)
        spend = sum(v for k, v in self.year_spent.items() if k != TRANSFER_OUT)
        return income - spend

    def close_year(self) -> dict[str, float]:
        """Year-end accounts (surplus or deficit carried in ``balance``); reset the year."""
        result = self.in_year_result()
        row = {
            "population": self.population,
            "members": len(self.members),
            **{f"income_{k}": v for k, v in self.year_received.items()},
            **{f"spend_{k}": v for k, v in self.year_spent.items()},
            "in_year_result": result,
            "balance": self.balance,
        }
        self.last_in_year_result = result
        self.year_received = dict.fromkeys(self.year_received, 0.0)
        self.year_spent = dict.fromkeys(self.year_spent, 0.0)
        return row

    def retire(self, fate: str, month: int) -> None:
        """The group ends (one of ``ccgabm.events.ENDINGS``) and leaves the model's agents."""
        self.active = False
        self.fate = str(fate)
        self.ended_month = month + 1
        self.remove()
        self.model.membership_version += 1
