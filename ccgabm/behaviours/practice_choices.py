"""Practice choices: each year end, practices weigh staying against leaving.

Alternatives: joining a neighbouring group (a switch, which the Board must approve), or
leaving with trusted fellow members to form a new group (a coalition of at least
``min_coalition`` practices and a viable population). A practice's utility for a group is its
list-size-weighted trust in the members plus ``finance_weight`` x the group's finances; moving
costs ``switching_cost``. Before the moves, the hedonic-game core stability of every group is
recorded (would any coalition of members block it?).

The game itself (utilities, coalition search, core stability) is in ``ccgabm.coalitions``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ccgabm.behaviours.base import Behaviour
from ccgabm.coalitions import (
    choose_moves,
    core_stable,
    group_finance,
    new_group_finance,
    stay_utilities,
    trust_in_groups,
)
from ccgabm.events import Event
from ccgabm.params import ASSUMED, param
from ccgabm.schedule import Phase, When


@dataclass(frozen=True)
class PracticeChoiceParams:
    finance_weight: float = param(
        0.1, lo=0.0, hi=20.0, unit="utility per GBP 100 a head",
        source=ASSUMED + ": weight of budget per need against trust when choosing a group",
    )
    switching_cost: float = param(
        0.15, lo=0.0, hi=5.0, unit="utility", source=ASSUMED + ": cost of changing group",
    )
    min_coalition: int = param(
        2, lo=1, hi=100, source=ASSUMED + ": practices needed to leave together as a fracture",
    )


@dataclass
class YearEndView:
    """What practices see at year end: groups, their finances and trust in each of them."""

    groups: dict[str, np.ndarray]
    sizes: np.ndarray
    finance: dict[str, float]
    trust_in: dict[str, np.ndarray]
    stay: dict[int, float]


class PracticeChoices(Behaviour):
    name = "practice_choices"
    params = {"behaviour": PracticeChoiceParams}
    events = (Event.FRACTURE, Event.SWITCH_REFUSED, Event.GROUP_CREATED, Event.JOIN, Event.LEAVE)
    phases = (
        Phase("core stability", When.YEAR_END, 150, "record_core_stability",
              "whether any coalition of each group's members would block it (hedonic core)"),
        Phase("practice choices", When.YEAR_END, 160, "choose",
              "coalitions leave to form new groups (fractures); practices switch to neighbouring "
              "groups the Board allows"),
    )
    requires = ("trust",)

    def setup(self) -> None:
        self.core_stability: dict[tuple[int, str], bool] = {}
        self._view: tuple[int, YearEndView] | None = None

    # ---- what practices see ------------------------------------------------------------------
    def finance_terms(self) -> dict[str, float]:
        """Each active group's finance term in practice utilities."""
        model = self.model
        beh, fin = model.cfg.behaviour, model.cfg.finance
        groups = model.active_groups
        total_need = sum(g.need_weight for g in groups)
        rate = model.board.national_budget / total_need if total_need > 0 else 0.0
        return {
            g.code: group_finance(model.board.allocations.get(g.code, 0.0), g.need_weight, rate,
                                  g.last_in_year_result, fin.allocation_per_head, beh.finance_weight)
            for g in groups
        }

    def new_finance(self, finance: dict[str, float]):
        """For a group, the finance term of a new group carved out of it, by population.

        A new group inherits its parent's distance from target and record, so the only
        financial difference is the higher fixed running cost per head of a smaller group.
        """
        model = self.model
        beh, fin = model.cfg.behaviour, model.cfg.finance
        fixed = model.board.fixed_running_cost()

        def for_group(code: str):
            parent_population = float(model.groups[code].population)

            def finance_of(population):
                return finance[code] + new_group_finance(population, parent_population,
                                                         fixed, fin.allocation_per_head,
                                                         beh.finance_weight)

            return finance_of

        return for_group

    def view(self) -> YearEndView:
        """Computed once per year end and shared by the stability check and the choices."""
        if self._view is not None and self._view[0] == self.model.month:
            return self._view[1]
        model = self.model
        trust = model.behaviours["trust"].network.trust
        groups = {g.code: np.array([p.index for p in g.members]) for g in model.active_groups}
        sizes = model.practice_arrays.list_size.copy()
        finance = self.finance_terms()
        trust_in = trust_in_groups(trust, groups, sizes)
        stay = stay_utilities(trust, groups, sizes, finance, trust_in)
        view = YearEndView(groups, sizes, finance, trust_in, stay)
        self._view = (model.month, view)
        return view

    # ---- phases --------------------------------------------------------------------------------
    def record_core_stability(self) -> None:
        """Whether any coalition of each group's members would block it, as a group-year flag."""
        model = self.model
        view = self.view()
        trust = model.behaviours["trust"].network.trust
        finance_for = self.new_finance(view.finance)
        year = model.month // 12
        for code, members in view.groups.items():
            self.core_stability[(year, code)] = core_stable(
                members, trust, view.stay, view.sizes, finance_for(code),
                model.cfg.behaviour.switching_cost)

    def choose(self) -> None:
        """Coalitions leave to form new groups; practices switch to neighbours the Board allows."""
        model = self.model
        beh = model.cfg.behaviour
        view = self.view()
        self._view = None
        minimum = beh.min_group_population * model.world.scale
        neighbours = {g.code: {n for n in g.neighbours if n in view.groups}
                      for g in model.active_groups}
        moves = choose_moves(
            model.behaviours["trust"].network.trust, view.groups, neighbours, view.sizes,
            view.finance, self.new_finance(view.finance), beh.switching_cost, beh.min_coalition,
            minimum, trust_in=view.trust_in, stay=view.stay,
        )
        for move in moves:
            source = model.groups[move.source]
            practices = [model.practices[i] for i in move.practices]
            if move.target is None:
                model.form_group(source, practices)
            elif model.board.approve_switch(source, model.groups[move.target],
                                            sum(p.list_size for p in practices), minimum):
                model.move_practices(practices, model.groups[move.target], reason="switch")
            else:
                for p in practices:
                    model.record(Event.SWITCH_REFUSED, group=move.source, practice=p.code,
                                 detail=move.target)
                continue
            if len(move.practices) >= beh.min_coalition and source.fracture_month is None:
                source.fracture_month = model.month
                model.record(Event.FRACTURE, group=source.code, value=len(move.practices),
                             detail="new group" if move.target is None else move.target)

    def summary(self, tables, fates) -> dict:
        stable = list(self.core_stability.values())
        return {"core_stable_share": float(np.mean(stable)) if stable else float("nan")}
