"""Group fate: dissolution after persistent deficits, Board-forced and voluntary mergers.

Each year end, after practices' choices:

- a group emptied by departures ends as fractured;
- a group whose cumulative deficit exceeds ``dissolve_deficit_share`` of its allocation, with a
  deficit in the year just closed, for ``dissolve_after_years`` years running, is dissolved by
  the Board: each member goes to the neighbouring group whose members it trusts most;
- from the year of the running-cost cut, groups below the minimum viable population are merged
  into their smallest neighbour (forced);
- a group in deficit merges with its smallest neighbour, also in deficit, when their mutual
  trust is at least ``initial_trust`` (voluntary).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ccgabm.behaviours.base import Behaviour
from ccgabm.events import Event
from ccgabm.params import param
from ccgabm.schedule import Phase, When


@dataclass(frozen=True)
class GroupFateParams:
    dissolve_deficit_share: float = param(
        0.02, lo=0.0, hi=1.0, unit="cumulative deficit as share of allocation",
        source="NHS England: legal directions for CCGs with deficits above ~2% (assumed threshold)",
    )
    dissolve_after_years: int = param(
        3, lo=1, hi=50, source="NHS England legal directions after repeated deficits (assumed 3)",
    )


class GroupFate(Behaviour):
    name = "group_fate"
    params = {"behaviour": GroupFateParams}
    group_state = {"deficit_years": 0}
    events = (Event.FRACTURED, Event.DISSOLVED, Event.MERGER, Event.MERGED, Event.JOIN, Event.LEAVE)
    phases = (Phase("group fate", When.YEAR_END, 170, "decide",
                    "groups emptied by departures end; persistently failing groups are "
                    "dissolved; small groups are merged (forced) and groups in deficit merge "
                    "with a trusted neighbour in deficit (voluntary)"),)
    requires = ("trust",)

    def decide(self) -> None:
        """Dissolve persistently failing groups; merge small ones; retire emptied ones."""
        model = self.model
        beh = model.cfg.behaviour
        year = model.month // 12
        for group in list(model.active_groups):
            if not group.members:
                model.end_group(group, Event.FRACTURED, [])
                continue
            allocation = model.board.allocations.get(group.code, 0.0)
            failing = (group.balance < -beh.dissolve_deficit_share * allocation
                       and group.last_in_year_result < 0)
            group.deficit_years = group.deficit_years + 1 if failing else 0
            if group.deficit_years >= beh.dissolve_after_years and len(model.active_groups) > 1:
                model.end_group(group, Event.DISSOLVED, self._receivers_by_trust(group))
        minimum = beh.min_group_population * model.world.scale
        if year + 1 >= beh.running_cost_cut_year:
            for group in sorted(model.active_groups, key=lambda g: g.population):
                if group.active and group.population < minimum and len(model.active_groups) > 1:
                    partner = self._smallest_neighbour(group)
                    if partner is not None:
                        model.merge_groups(group, partner, forced=True)
        trust = model.behaviours["trust"].network.trust
        for group in sorted(model.active_groups, key=lambda g: g.code):
            if not group.active or group.balance >= 0:
                continue
            partner = self._smallest_neighbour(group)
            if partner is None or partner.balance >= 0:
                continue
            a = np.array([p.index for p in group.members])
            b = np.array([p.index for p in partner.members])
            mutual = float(trust[np.ix_(a, b)].mean() + trust[np.ix_(b, a)].mean()) / 2
            if mutual >= beh.initial_trust:
                small, large = sorted((group, partner), key=lambda g: g.population)
                model.merge_groups(small, large, forced=False)

    def _active_neighbours(self, group) -> list:
        groups = self.model.groups
        return [groups[c] for c in sorted(group.neighbours)
                if c in groups and groups[c].active and c != group.code]

    def _smallest_neighbour(self, group):
        options = self._active_neighbours(group)
        return min(options, key=lambda g: (g.population, g.code)) if options else None

    def _receivers_by_trust(self, group) -> list:
        """For each member, the active neighbouring group whose members it trusts most."""
        model = self.model
        trust = model.behaviours["trust"].network
        options = self._active_neighbours(group) or [
            g for g in model.active_groups if g is not group
        ]
        sizes = model.practice_arrays.list_size
        out = []
        for p in group.members:
            best = max(options, key=lambda g: (
                trust.mean_trust(p.index, np.array([q.index for q in g.members]), sizes)
                if g.members else -1.0, g.code))
            out.append(best)
        return out
