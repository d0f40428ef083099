"""The national Commissioning Board: allocates budgets to groups each financial year."""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

if TYPE_CHECKING:
    from ccgabm.agents.group import CommissioningGroup
    from ccgabm.config import FinanceSection


class CommissioningBoard(mesa.Agent):
    """Need-weighted capitation with a pace-of-change rule, running costs, boundary rules."""

    def __init__(self, model: mesa.Model, scale: float) -> None:
        super().__init__(model)
        self.scale = scale
        self.paid_total = 0.0
        self.allocations: dict[str, float] = {}
        self.national_budget = 0.0
        self.allocation_per_need: dict[str, float] = {}
        self.other_share: float | None = None  # share of budgets for unmodelled services
        self.first_year_expected = 0.0  # the first year's unpressured national budget
        self.practice_rate: dict[int, float] = {}  # member's group budget per need, last year
        self._rates = np.full(len(model.world.practices), np.nan)  # the same, by practice index
        # groups the Board dissolved: (month, indices of the practices that were members then)
        self.dissolved: dict[str, tuple[int, frozenset[int]]] = {}

    @property
    def finance(self) -> FinanceSection:
        """The ``[finance]`` parameters in force now (a dated policy timeline may change them)."""
        return self.model.cfg.finance

    def allocate(
        self,
        groups: list[CommissioningGroup],
        distance_draws: dict[str, float],
        allowance_cut: float = 0.0,
        first_year_activity: float | None = None,
    ) -> None:
        """Set and pay each group's programme budget and running-cost allowance for the year.

        Target shares follow need weights. Money follows practices: a group's starting point
        is last year's budget per need of each member's group times the member's need now, so
        joins, fractures and mergers carry their share. Each group then moves
        ``pace_of_change`` of its distance from target; the first year starts at target times
        (1 + drawn distance). Allocations are scaled to the national budget.
        """
        fin = self.finance
        populations = [g.population for g in groups]  # no patient moves while it allocates
        population = sum(populations)
        weight = sum(g.need_weight for g in groups)
        expected = fin.allocation_per_head * population
        self.national_budget = expected * (1.0 - fin.budget_pressure)
        targets = {g.code: self.national_budget * g.need_weight / weight for g in groups}
        if self.practice_rate:
            base = {g.code: sum(self._member_budgets(g)) for g in groups}
            alloc = {c: base[c] + fin.pace_of_change * (targets[c] - base[c]) for c in targets}
        else:
            alloc = {c: t * (1.0 + distance_draws.get(c, 0.0)) for c, t in targets.items()}
        norm = self.national_budget / sum(alloc.values())
        self.allocations = {c: a * norm for c, a in alloc.items()}
        for g in groups:
            rate = self.allocations[g.code] / max(g.need_weight, 1e-9)
            self.allocation_per_need[g.code] = rate
            indices = g.member_indices()
            if indices is None:
                indices = np.array([p.index for p in g.members], dtype=np.int64)
            self.practice_rate.update(dict.fromkeys(indices.tolist(), rate))
            self._rates[indices] = rate
        # Services the model does not simulate take the share of the budget left after modelled
        # hospital activity: estimated from need weights in the first year, re-estimated once
        # from the first year's national activity bill, then fixed, so activity a group saves
        # later stays saved (no national reset). Of that share, community health services are
        # ``community_share`` of the budget (what community cuts reduce); the rest (hospital
        # care not modelled, mental health, prescribing, continuing care, primary care) is
        # ``other_services``.
        if first_year_activity is not None and self.first_year_expected > 0:
            self.other_share = max(1.0 - first_year_activity / self.first_year_expected, 0.0)
        elif self.other_share is None:
            self.first_year_expected = expected
            modelled_share = weight / expected if expected > 0 else 0.0
            self.other_share = max(1.0 - modelled_share, 0.0)
        community_share = min(fin.community_share, self.other_share)
        fixed_running_cost = self.fixed_running_cost()
        for g, group_population in zip(groups, populations, strict=True):
            # commissioned in line with the group's historical budget (before pressure), less
            # whatever community services it has decommissioned
            # less the share ring-fenced for budgets pooled with local authorities
            unpressured = (self.allocations[g.code] / max(1.0 - fin.budget_pressure, 1e-9)
                           * (1.0 - fin.pooled_budget_share))
            g.community_services_cost = unpressured * community_share * g.community_factor
            g.other_services_cost = unpressured * (self.other_share - community_share)
            g.running_cost = fixed_running_cost + fin.running_cost_per_head * group_population
            self.pay(g, self.allocations[g.code], "programme")
            allowance = fin.running_cost_allowance * (1.0 - allowance_cut)
            self.pay(g, allowance * group_population, "running_allowance")

    def _member_budgets(self, group: CommissioningGroup) -> list[float]:
        """Each member's need now times its group's budget per need last year, in member order
        (from the practice arrays; a member that is not a practice gives its own need)."""
        indices = group.member_indices()
        if indices is None:
            return [self.practice_rate[p.index] * p.need_weight for p in group.members]
        return (self._rates[indices] * self.model.practice_arrays.need_weight[indices]).tolist()

    def fixed_running_cost(self) -> float:
        """A group's fixed running cost (scaled with the world), less any shared-support saving."""
        fin = self.finance
        saving = fin.shared_support_saving if fin.shared_support else 0.0
        return fin.running_cost_fixed * self.scale * (1.0 - saving)

    def approve_switch(self, source: CommissioningGroup, target: CommissioningGroup,
                       leaving_population: int, minimum_population: float) -> bool:
        """Boundary and size rules for practices moving between groups.

        The target must be an active neighbour, and the source must keep at least the minimum
        viable population (or be small already: the Board merges small groups from
        ``forced_merger_year``).
        """
        if not target.active or target.code not in source.neighbours:
            return False
        remaining = source.population - leaving_population
        return remaining >= minimum_population or source.population < minimum_population

    def pay(self, group: CommissioningGroup, amount: float, kind: str) -> None:
        """Pay a group (every payment from the Board goes through here, for the invariants)."""
        group.receive(amount, kind)
        self.paid_total += amount


def initial_distances(codes: list[str], sd: float, rng: np.random.Generator) -> dict[str, float]:
    """Each group's starting distance from its capitation target (share of target)."""
    return {c: float(d) for c, d in zip(codes, rng.normal(0.0, sd, len(codes)), strict=True)}
