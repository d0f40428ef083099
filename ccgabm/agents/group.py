"""A commissioning group (CCG): holds the budget for its member practices' patients."""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa

from ccgabm.config import PolicySection

if TYPE_CHECKING:
    from ccgabm.agents.hospital import Hospital
    from ccgabm.agents.practice import Practice

SPEND_KINDS = (
    "activity", "other_services", "running_costs", "referral_management", "community_investment",
    "transfer_out",
)
INCOME_KINDS = (
    "programme", "running_allowance", "quality_premium", "delegated_primary_care", "transfer_in",
)


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
        self.parent: str | None = None
        self.ended_month: int | None = None
        self.fate = ""  # "", "fractured", "merged", "dissolved"
        self.fracture_month: int | None = None
        self.plcv_restricted = False
        self.community_cuts = 0
        self.other_services_factor = 1.0
        self.co_commissioning = False
        self.deficit_years = 0
        self.forecast_deficit_share = 0.0

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

    def pay_monthly_fixed_costs(self, policy: PolicySection, allocation: float,
                                co_investment: float) -> None:
        """A month of other services, running costs, referral management and investment."""
        self.pay(self.other_services_cost / 12.0, "other_services")
        self.pay(self.running_cost / 12.0, "running_costs")
        if policy.referral_management:
            self.pay(policy.referral_management_cost * self.population / 12.0, "referral_management")
        invest = self.investment_share(policy, co_investment)
        if invest > 0:
            self.pay(invest * allocation / 12.0, "community_investment")

    def delegated_budget(self, co_investment: float, allocation: float) -> float:
        """A month's delegated primary-care money for investment (co-commissioning groups)."""
        return co_investment * allocation / 12.0 if self.co_commissioning else 0.0

    def investment_share(self, policy: PolicySection, co_investment: float) -> float:
        """Share of the programme budget invested in community services this year."""
        return policy.community_investment + (co_investment if self.co_commissioning else 0.0)

    def forecast_deficit(self, months_elapsed: int) -> float:
        """Forecast year-end deficit as a share of income (negative: a surplus)."""
        income = sum(v for k, v in self.year_received.items() if k != "transfer_in")
        spent = sum(v for k, v in self.year_spent.items() if k != "transfer_out")
        spend = spent * 12.0 / max(months_elapsed, 1)
        return (spend - income) / income if income > 0 else 0.0

    def set_policy_levers(self, policy: PolicySection, co_investment: float) -> None:
        """Referral and emergency multipliers implied by the group's policies and finances."""
        refer = 1.0
        if policy.budget_incentive:
            refer *= 1.0 - policy.budget_holding_effect
            pressure = max(self.forecast_deficit_share, 0.0)
            refer *= max(0.5, 1.0 - policy.deficit_referral_response * pressure)
        if policy.referral_management:
            refer *= 1.0 - policy.referral_management_effect
        self.referral_multiplier = refer
        invest = self.investment_share(policy, co_investment)
        self.emergency_multiplier = max(0.2, 1.0 - policy.community_effect * invest) * (
            policy.community_cut_emergency_rr**self.community_cuts
        )
        self.conversion_multiplier = 1.0 - policy.plcv_reduction if self.plcv_restricted else 1.0

    def in_year_result(self) -> float:
        """Surplus (+) or deficit (-) of the financial year so far (balances moved excluded)."""
        income = sum(v for k, v in self.year_received.items() if k != "transfer_in")
        spend = sum(v for k, v in self.year_spent.items() if k != "transfer_out")
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
        self.year_received = dict.fromkeys(INCOME_KINDS, 0.0)
        self.year_spent = dict.fromkeys(SPEND_KINDS, 0.0)
        return row
