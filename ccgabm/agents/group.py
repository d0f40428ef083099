"""A commissioning group (CCG): holds the budget for its member practices' patients."""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa

if TYPE_CHECKING:
    from ccgabm.agents.hospital import Hospital
    from ccgabm.agents.practice import Practice

SPEND_KINDS = ("activity", "other_services", "running_costs")
INCOME_KINDS = ("programme", "running_allowance", "quality_premium")


class CommissioningGroup(mesa.Agent):
    """Members, a ledger of money received and spent, and the group's policies."""

    def __init__(self, model: mesa.Model, code: str, hospital: Hospital) -> None:
        super().__init__(model)
        self.code = code
        self.hospital = hospital
        self.members: list[Practice] = []
        self.neighbours: set[str] = set()
        self.active = True
        self.referral_multiplier = 1.0
        self.emergency_multiplier = 1.0
        self.conversion_multiplier = 1.0
        self.balance = 0.0
        self.received = dict.fromkeys(INCOME_KINDS, 0.0)
        self.spent = dict.fromkeys(SPEND_KINDS, 0.0)
        self.year_received = dict.fromkeys(INCOME_KINDS, 0.0)
        self.year_spent = dict.fromkeys(SPEND_KINDS, 0.0)
        self.other_services_cost = 0.0  # a year
        self.running_cost = 0.0  # a year
        self.need_weight = 0.0
        self.last_in_year_result = 0.0
        self.created_month = 0
        self.ended_month: int | None = None
        self.fate = ""  # "", "fractured", "merged", "dissolved"
        self.fracture_month: int | None = None

    @property
    def population(self) -> int:
        return sum(p.list_size for p in self.members)

    def add_member(self, practice: Practice) -> None:
        """Take a practice into the group."""
        if practice.group is not None and practice in practice.group.members:
            practice.group.members.remove(practice)
        practice.group = self
        self.members.append(practice)

    def receive(self, amount: float, kind: str) -> None:
        """Money in from the Board."""
        self.received[kind] += amount
        self.year_received[kind] += amount
        self.balance += amount

    def pay(self, amount: float, kind: str) -> None:
        """Money out: hospital activity, other commissioned services, running costs."""
        self.spent[kind] += amount
        self.year_spent[kind] += amount
        self.balance -= amount

    def pay_monthly_fixed_costs(self) -> None:
        """One month of other commissioned services and of running costs."""
        self.pay(self.other_services_cost / 12.0, "other_services")
        self.pay(self.running_cost / 12.0, "running_costs")

    def in_year_result(self) -> float:
        """Surplus (+) or deficit (-) of the financial year so far."""
        return sum(self.year_received.values()) - sum(self.year_spent.values())

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
        self.year_received = dict.fromkeys(INCOME_KINDS, 0.0)
        self.year_spent = dict.fromkeys(SPEND_KINDS, 0.0)
        return row
