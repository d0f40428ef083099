"""The national Commissioning Board: allocates budgets to groups each financial year."""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

from ccgabm.config import FinanceSection

if TYPE_CHECKING:
    from ccgabm.agents.group import CommissioningGroup


class CommissioningBoard(mesa.Agent):
    """Need-weighted capitation with a pace-of-change rule, running costs, quality premium."""

    def __init__(self, model: mesa.Model, finance: FinanceSection, scale: float) -> None:
        super().__init__(model)
        self.finance = finance
        self.scale = scale
        self.paid_total = 0.0
        self.allocations: dict[str, float] = {}
        self.national_budget = 0.0

    def allocate(
        self,
        groups: list[CommissioningGroup],
        distance_draws: dict[str, float],
    ) -> None:
        """Set and pay each group's programme budget and running-cost allowance for the year.

        Target shares follow need weights. Each group moves ``pace_of_change`` of its distance
        from target; the first year starts at target times (1 + drawn distance).
        """
        fin = self.finance
        population = sum(g.population for g in groups)
        weight = sum(g.need_weight for g in groups)
        expected = fin.allocation_per_head * population
        self.national_budget = expected * (1.0 - fin.budget_pressure)
        targets = {g.code: self.national_budget * g.need_weight / weight for g in groups}
        previous = sum(self.allocations.get(g.code, 0.0) for g in groups)
        if previous > 0:
            uplift = self.national_budget / previous
            base = {g.code: self.allocations.get(g.code, targets[g.code]) * uplift for g in groups}
            alloc = {c: base[c] + fin.pace_of_change * (targets[c] - base[c]) for c in targets}
        else:
            alloc = {c: t * (1.0 + distance_draws.get(c, 0.0)) for c, t in targets.items()}
        norm = self.national_budget / sum(alloc.values())
        self.allocations = {c: a * norm for c, a in alloc.items()}
        modelled = weight
        for g in groups:
            g.other_services_cost = max(expected - modelled, 0.0) * g.need_weight / weight
            g.running_cost = fin.running_cost_fixed * self.scale + fin.running_cost_per_head * g.population
            self._pay(g, self.allocations[g.code], "programme")
            self._pay(g, fin.running_cost_allowance * g.population, "running_allowance")

    def pay_quality_premium(self, group: CommissioningGroup) -> float:
        """Pay the premium to a group that did not overspend in the year just closed."""
        if group.last_in_year_result < 0:
            return 0.0
        amount = self.finance.quality_premium * group.population
        self._pay(group, amount, "quality_premium")
        return amount

    def _pay(self, group: CommissioningGroup, amount: float, kind: str) -> None:
        group.receive(amount, kind)
        self.paid_total += amount


def initial_distances(codes: list[str], sd: float, rng: np.random.Generator) -> dict[str, float]:
    """Each group's starting distance from its capitation target (share of target)."""
    return {c: float(d) for c, d in zip(codes, rng.normal(0.0, sd, len(codes)), strict=True)}
