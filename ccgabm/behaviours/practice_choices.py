"""Practice choices: each year end, practices weigh staying against leaving.

Alternatives:

- leaving with trusted fellow members to form a new group: a **fracture**. The coalition needs
  at least ``min_coalition`` practices, the Board's minimum viable population, at most
  ``coalition_cap_share`` of the group's population, and must leave the group viable (unless it
  is small already), and the Board does not authorise a new group founded mostly (by list size)
  by practices that were members of a group it dissolved less than ``reformation_bar_years``
  ago, nor any new group while it expects one group per footprint (``consolidation_policy =
  "one_per_footprint"``). Practices know these rules: coalitions are sought only among those the
  Board authorises;
- joining a neighbouring group: a **defection**, or a **return** when the practice had belonged
  to that group before. The Board must approve (``CommissioningBoard.approve_switch``).

A practice's utility for a group is its list-size-weighted trust in the members plus
``finance_weight`` x the group's finances; moving costs ``switching_cost``. Each fracture, and
each defection or return carried out or refused, is a row of the ``departures`` table with what
led to it. Before the
moves, the hedonic-game core stability of every group is recorded: would any coalition the
rules allow, or any member free to join a neighbour, rather leave?

The game itself (utilities, rules, coalition search, core stability) is in ``ccgabm.coalitions``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ccgabm.behaviours.base import Behaviour
from ccgabm.coalitions import (
    Move,
    NewGroupFinance,
    Rules,
    all_best_neighbours,
    choose_moves,
    coalition_utilities,
    core_stable,
    first_coalitions,
    group_finance,
    stay_utilities,
    trust_in_matrix,
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
    coalition_cap_share: float = param(
        0.5, lo=0.0, hi=1.0, unit="share of the group's population",
        source=ASSUMED + ": a fracture is a minority leaving; the majority keeps the group",
    )
    reformation_bar_years: int = param(
        10, lo=0, hi=50, unit="years",
        source=ASSUMED + ": the Board does not re-authorise, within a decade, a group founded "
        "mostly by members of a group it dissolved for failure",
    )


@dataclass
class YearEndView:
    """What practices see at year end: groups, their finances and trust in each of them."""

    groups: dict[str, np.ndarray]
    sizes: np.ndarray
    finance: dict[str, float]
    neighbours: dict[str, set[str]]  # each group's neighbours among ``groups``
    trust_in: dict[str, np.ndarray]
    stay: np.ndarray  # by practice index
    best: dict[str, tuple[list[str | None], np.ndarray]]  # each group's best_neighbours
    rules: Rules  # the Board's rules for a leaving coalition (``PracticeChoices.rules``)
    new_group: dict[str, NewGroupFinance]  # each group's ``PracticeChoices.new_finance``
    found: dict[str, np.ndarray | None]  # each group's first_coalitions (the greedy search)


class PracticeChoices(Behaviour):
    name = "practice_choices"
    params = {"behaviour": PracticeChoiceParams}
    events = (Event.FRACTURE, Event.DEFECTION, Event.RETURN, Event.MOVE_REFUSED,
              Event.GROUP_CREATED, Event.JOIN, Event.LEAVE)
    phases = (
        Phase("core stability", When.YEAR_END, 150, "record_core_stability",
              "whether any coalition of each group's members the rules allow, or any member "
              "free to join a neighbour, would rather leave (hedonic core)"),
        Phase("practice choices", When.YEAR_END, 160, "choose",
              "coalitions leave to form new groups (fractures); practices join neighbouring "
              "groups (defections, returns) the Board allows; causes recorded"),
    )
    requires = ("trust",)

    def setup(self) -> None:
        self.core_stability: dict[tuple[int, str], bool] = {}
        self._view: tuple[int, YearEndView] | None = None
        # the trust-in-groups matrix of each year end, written over the last one's (a fresh
        # matrix of every English practice by group costs more in page faults than to fill)
        self._trust_in_store = np.empty(0)

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

        def for_group(code: str) -> NewGroupFinance:
            return NewGroupFinance(finance[code], float(model.groups[code].population), fixed,
                                   fin.allocation_per_head, beh.finance_weight)

        return for_group

    def view(self) -> YearEndView:
        """Computed once per year end and shared by the stability check and the choices."""
        if self._view is not None and self._view[0] == self.model.month:
            return self._view[1]
        model = self.model
        trust = model.behaviours["trust"].network.trust
        groups = {g.code: g.member_indices() for g in model.active_groups}
        sizes = model.practice_arrays.list_size.copy()
        finance = self.finance_terms()
        # trust in a group matters to its members and to members of the groups it neighbours
        near = self.neighbours(groups)
        wanted = {code: [members] for code, members in groups.items()}
        for code, others in near.items():
            for other in others:
                wanted[other].append(groups[code])
        cells = len(sizes) * len(groups)
        if len(self._trust_in_store) < cells:
            self._trust_in_store = np.empty(cells)
        extremes = np.empty((len(sizes), 2))
        matrix = trust_in_matrix(trust, groups, sizes,
                                 {c: np.concatenate(r) for c, r in wanted.items()},
                                 out=self._trust_in_store[:cells].reshape(len(sizes), len(groups)),
                                 extremes=extremes)
        trust_in = {c: matrix[:, j] for j, c in enumerate(groups)}
        stay = stay_utilities(trust, groups, sizes, finance, trust_in)
        cost = model.cfg.behaviour.switching_cost
        best = all_best_neighbours(groups, near, matrix, finance, cost)
        rules = self.rules()
        for_group = self.new_finance(finance)
        new_group = {code: for_group(code) for code in groups}
        found = first_coalitions(groups, trust, stay, sizes, new_group.__getitem__, cost, rules,
                                 extremes=extremes)
        view = YearEndView(groups, sizes, finance, near, trust_in, stay, best, rules, new_group,
                           found)
        self._view = (model.month, view)
        return view

    def rules(self) -> Rules:
        """The Board's rules for a leaving coalition this year end (``coalitions.Rules``)."""
        model = self.model
        beh = model.cfg.behaviour
        minimum = beh.min_group_population * model.world.scale
        barred = np.zeros(len(model.practices), dtype=bool)
        for month, members in model.board.dissolved.values():
            if model.month - month < 12 * beh.reformation_bar_years:
                barred[list(members)] = True
        # While the Board expects one group per footprint it authorises no new group.
        new_group = math.inf if beh.consolidation_policy == "one_per_footprint" else minimum
        return Rules(min_size=beh.min_coalition, min_population=new_group,
                     cap_share=beh.coalition_cap_share, source_minimum=minimum,
                     barred=barred if barred.any() else None)

    def neighbours(self, groups: dict[str, np.ndarray]) -> dict[str, set[str]]:
        """Each group's neighbours among ``groups`` (those in play at this year end)."""
        return {g.code: {n for n in g.neighbours if n in groups}
                for g in self.model.active_groups}

    # ---- phases --------------------------------------------------------------------------------
    def record_core_stability(self) -> None:
        """Whether any move the rules allow would block each group, as a group-year flag."""
        model = self.model
        view = self.view()
        trust = model.behaviours["trust"].network.trust
        year = model.month // 12
        cost = model.cfg.behaviour.switching_cost
        for code, members in view.groups.items():
            stable = core_stable(members, trust, view.stay, view.sizes, view.new_group[code],
                                 cost, view.rules, searched=True, found=view.found[code])
            if stable:  # a member free to join a neighbour it prefers also blocks
                stable = not self._defection_allowed(code, members, view)
            self.core_stability[(year, code)] = stable

    def _defection_allowed(self, code: str, members: np.ndarray, view: YearEndView) -> bool:
        """Whether any member prefers a neighbouring group the Board would let it join."""
        model = self.model
        targets, utility = view.best[code]
        minimum = model.cfg.behaviour.min_group_population * model.world.scale
        for a in np.flatnonzero(utility > view.stay[members]).tolist():
            p, target = int(members[a]), targets[a]
            if target is not None and model.board.approve_switch(
                    model.groups[code], model.groups[target], int(view.sizes[p]), minimum):
                return True
        return False

    def choose(self) -> None:
        """Coalitions leave to form new groups; practices join neighbours the Board allows."""
        model = self.model
        beh = model.cfg.behaviour
        view = self.view()
        self._view = None
        minimum = beh.min_group_population * model.world.scale
        trust = model.behaviours["trust"].network.trust
        moves = choose_moves(
            trust, view.groups, view.neighbours, view.sizes, view.finance,
            view.new_group.__getitem__, beh.switching_cost, view.rules,
            trust_in=view.trust_in, stay=view.stay, best=view.best, found=view.found,
        )
        for move in moves:
            source = model.groups[move.source]
            practices = [model.practices[i] for i in move.practices]
            if move.target is None:  # the search only forms coalitions the Board authorises
                cause = self._cause(Event.FRACTURE, source, move, view, trust)
                group = model.form_group(source, practices)
                self._done(Event.FRACTURE, source, practices, group.code,
                           "authorised: viable new group", cause)
                continue
            target = model.groups[move.target]
            returning = [p for p in practices if target.code in model.member_of_before[p.index]]
            joining = [p for p in practices if target.code not in model.member_of_before[p.index]]
            for kind, movers in ((Event.RETURN, returning), (Event.DEFECTION, joining)):
                if not movers:
                    continue
                part = Move([p.index for p in movers], move.source, move.target, gain=move.gain)
                cause = self._cause(kind, source, part, view, trust)
                if model.board.approve_switch(source, target,
                                              sum(p.list_size for p in movers), minimum):
                    model.move_practices(movers, target, reason=str(kind))
                    self._done(kind, source, movers, target.code, "approved", cause)
                else:
                    self._refused(kind, source, movers, target.code,
                                  "refused: not a neighbour, or the group would fall below the "
                                  "minimum viable population", cause)

    # ---- the record ----------------------------------------------------------------------------
    def _cause(self, kind: Event, source, move: Move, view: YearEndView,
               trust: np.ndarray) -> dict:
        """What led the movers to leave: votes lost, trust, the source's finances."""
        model = self.model
        idx = np.array(move.practices)
        decommissioning = model.behaviours.get("decommissioning")
        votes = sum(decommissioning.votes_lost_in(int(p), source.code) for p in idx) \
            if decommissioning is not None else 0
        if kind == Event.FRACTURE:
            inside = coalition_utilities(trust, idx, view.sizes, 0.0) if len(idx) > 1 else [0.0]
            trust_target = float(np.mean(inside))
        else:
            trust_target = float(np.mean(view.trust_in[move.target][idx]))
        allocation = model.board.allocations.get(source.code, 0.0)

        def share(x: float) -> float:
            return float(x / allocation) if allocation > 0 else float("nan")

        return {
            "votes_lost": int(votes),
            "trust_in_source": float(np.mean(view.trust_in[source.code][idx])),
            "trust_in_target": trust_target,
            "gain": float(move.gain),
            "balance_share": share(source.balance),
            "last_result_share": share(source.last_in_year_result),
            "deficit_years": int(getattr(source, "deficit_years", 0)),
            "cuts": int(getattr(source, "community_cuts", 0)
                        + getattr(source, "plcv_restrictions", 0)),
        }

    def _row(self, kind: Event, source, practices: list, target: str, board: str,
             cause: dict) -> None:
        self.model.datacollector.add_table_row("departures", {
            "month": self.model.month, "kind": str(kind), "source": source.code,
            "target": target, "practices": len(practices),
            "population": int(sum(p.list_size for p in practices)),
            "members": ";".join(p.code for p in practices), **cause, "board": board,
        })

    def _done(self, kind: Event, source, practices: list, target: str, board: str,
              cause: dict) -> None:
        model = self.model
        source.first.setdefault(kind, model.month)
        model.record(kind, group=source.code, value=len(practices), detail=target)
        self._row(kind, source, practices, target, board, cause)

    def _refused(self, kind: Event, source, practices: list, target: str, board: str,
                 cause: dict) -> None:
        for p in practices:
            self.model.record(Event.MOVE_REFUSED, group=source.code, practice=p.code,
                              detail=f"{kind} {target}: {board}".replace("  ", " "))
        self._row(kind, source, practices, target, board, cause)

    figures = ("core_stable_share",)

    def summary(self, tables, fates) -> dict:
        stable = list(self.core_stability.values())
        return {"core_stable_share": float(np.mean(stable)) if stable else float("nan")}
