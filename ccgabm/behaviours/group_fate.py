"""Group fate: dissolution after persistent deficits, Board-forced and voluntary mergers.

Each year end, after practices' choices:

- a group emptied by departures ends (``emptied``);
- a group is *failing* in a year it closes in deficit with a cumulative deficit above
  ``dissolve_deficit_share`` of its allocation; after ``dissolve_after_years`` failing years
  running, the Board dissolves it: each member goes to the neighbouring group whose members it
  trusts most;
- from ``forced_merger_year``, groups below the minimum viable population are merged by the
  Board into a neighbour (``merger_partner``: the smallest, or the one its members trust most);
- under a consolidation policy (``consolidation_policy``, usually dated by the timeline), each
  footprint (the area of the practice table's later group, see ``ccgabm.world``) holding two or
  more groups consolidates with probability ``consolidation_rate_by_application`` a year while
  the Board considers merger applications case by case, or ``consolidation_rate_pushed`` while it
  expects one group per footprint: its groups merge into the largest (``consolidation_merger``);
  footprints named in ``consolidate_footprints`` (mergers approved by name, dated by the
  timeline) are consolidated that year end whatever the policy;
- unless the Board holds a moratorium (``voluntary_mergers = false``), a group in deficit merges
  with a neighbour (``merger_partner``) also in deficit when their members' mutual trust is at
  least ``merger_trust`` (voluntary).

A group formed by a fracture at this year end inherits its parent's failing years and takes no
part in this year's fate (its first accounts are next year's).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ccgabm.behaviours.base import Behaviour
from ccgabm.events import Event
from ccgabm.params import ASSUMED, param
from ccgabm.schedule import Phase, When


@dataclass(frozen=True)
class GroupFateParams:
    dissolve_deficit_share: float = param(
        0.02, lo=0.0, hi=1.0, unit="cumulative deficit as share of allocation",
        source="NHS England: legal directions for CCGs with deficits above ~2% (assumed threshold)",
        dated=True,
    )
    dissolve_after_years: int = param(
        3, lo=1, hi=50, source="NHS England legal directions after repeated deficits (assumed 3)",
        dated=True,
    )
    dissolution_write_off: bool = param(
        True,
        source="NHS England cleared commissioners' historic deficits when groups were replaced "
        "(2022 ICB establishment); assumed for every dissolution",
        doc="the Board writes off a dissolved group's debt rather than passing it to the groups "
        "that take its members",
    )
    merger_trust: float = param(
        0.45, lo=0.0, hi=1.0,
        source=ASSUMED + ": mutual trust two groups' members need to merge voluntarily",
        dated=True,
    )
    forced_merger_year: int = param(
        7, lo=0, hi=50, unit="financial year index (0 = 2013/14)",
        source="NHS England pushed consolidation to one group per system from 2020/21 "
        "(135 CCGs in April 2020 from 191 in 2019)",
        dated=True,
    )
    voluntary_mergers: bool = param(
        True, dated=True,
        source="NHS England allowed mergers by agreement, except under the informal moratorium "
        "of 2014-2016 (HSJ, 'NHS England sets new rules for CCG mergers', Nov 2016)",
        doc="groups in deficit may merge with a trusted neighbour in deficit",
    )
    consolidation_policy: str = param(
        "none", choices=("none", "by_application", "one_per_footprint"), dated=True,
        source="NHS England, Procedures for CCGs to apply for constitution change, merger or "
        "dissolution (Nov 2016): applications case by case; letter of 23 Nov 2018 and NHS Long "
        "Term Plan (Jan 2019): typically one CCG per system",
        doc="the Board's policy on consolidating the groups of one footprint",
    )
    consolidation_rate_by_application: float = param(
        0.05, lo=0.0, hi=1.0, unit="probability a year",
        source=ASSUMED + "; calibrated in the England history scenario",
        doc="chance a year that a footprint's groups apply and merge while applications are "
        "considered case by case",
    )
    consolidation_rate_pushed: float = param(
        0.5, lo=0.0, hi=1.0, unit="probability a year",
        source=ASSUMED + "; calibrated in the England history scenario",
        doc="chance a year that a footprint's groups merge while the Board expects one group "
        "per footprint",
    )
    consolidate_footprints: str = param(
        "", dated=True,
        source="scenario input: mergers the Board approved by name (e.g. Newcastle Gateshead, "
        "April 2015; Manchester, April 2017), dated by the timeline",
        doc="footprints (comma-separated codes of the practice table's groups) whose groups the "
        "Board consolidates at this year end, whatever its policy",
    )
    merger_partner: str = param(
        "smallest", choices=("smallest", "most_trusted"),
        source=ASSUMED + ": which neighbour a group merges into",
    )


class GroupFate(Behaviour):
    name = "group_fate"
    params = {"behaviour": GroupFateParams}
    group_state = {"deficit_years": 0}
    events = (Event.EMPTIED, Event.DISSOLVED, Event.VOLUNTARY_MERGER, Event.FORCED_MERGER,
              Event.CONSOLIDATION_MERGER, Event.JOIN, Event.LEAVE)
    phases = (Phase("group fate", When.YEAR_END, 170, "decide",
                    "groups emptied by departures end; persistently failing groups are "
                    "dissolved; small groups are merged (forced); footprints are consolidated "
                    "while the Board pushes; groups in deficit merge with a trusted neighbour in "
                    "deficit (voluntary)"),)
    requires = ("trust",)
    income_kinds = ("debt_write_off",)

    def group_formed(self, group, parent) -> None:
        group.deficit_years = parent.deficit_years

    def decide(self) -> None:
        """Dissolve persistently failing groups; merge small ones; retire emptied ones."""
        model = self.model
        beh = model.cfg.behaviour
        year = model.month // 12
        settled = [g for g in model.active_groups if g.created_month <= model.month]
        for group in list(settled):
            if not group.members:
                model.end_group(group, Event.EMPTIED, [])
                continue
            allocation = model.board.allocations.get(group.code, 0.0)
            failing = (group.balance < -beh.dissolve_deficit_share * allocation
                       and group.last_in_year_result < 0)
            group.deficit_years = group.deficit_years + 1 if failing else 0
            if group.deficit_years >= beh.dissolve_after_years and len(model.active_groups) > 1:
                model.board.dissolved[group.code] = (model.month,
                                                     frozenset(p.index for p in group.members))
                if beh.dissolution_write_off and group.balance < 0:
                    model.board.pay(group, -group.balance, "debt_write_off")
                model.end_group(group, Event.DISSOLVED, self._receivers_by_trust(group),
                                detail=f"{group.deficit_years} failing years")
        minimum = beh.min_group_population * model.world.scale
        if year >= beh.forced_merger_year:
            for group in sorted(settled, key=lambda g: g.population):
                if group.active and group.population < minimum and len(model.active_groups) > 1:
                    partner = self._partner(group)
                    if partner is not None:
                        model.merge_groups(group, partner, Event.FORCED_MERGER)
        named = {code.strip() for code in beh.consolidate_footprints.split(",") if code.strip()}
        if named:
            self._consolidate([g for g in settled if g.active and g.footprint in named], 1.0,
                              draw=False)
        rate = {"none": 0.0, "by_application": beh.consolidation_rate_by_application,
                "one_per_footprint": beh.consolidation_rate_pushed}[beh.consolidation_policy]
        if rate > 0:
            self._consolidate([g for g in settled if g.active], rate)
        if not beh.voluntary_mergers:
            return
        for group in sorted(settled, key=lambda g: g.code):
            if not group.active or group.balance >= 0:
                continue
            partner = self._partner(group)
            if partner is None or partner.balance >= 0:
                continue
            if self.mutual_trust(group, partner) >= beh.merger_trust:
                small, large = sorted((group, partner), key=lambda g: g.population)
                model.merge_groups(small, large, Event.VOLUNTARY_MERGER)

    def _consolidate(self, groups: list, rate: float, draw: bool = True) -> None:
        """Each footprint holding two or more of ``groups`` is consolidated with probability
        ``rate``: its groups merge into the largest (one draw per such footprint, in order;
        every one of them without drawing when ``draw`` is false)."""
        by_footprint: dict[str, list] = {}
        for group in groups:
            by_footprint.setdefault(group.footprint, []).append(group)
        candidates = sorted(f for f, members in by_footprint.items() if len(members) > 1)
        if not candidates:
            return
        draws = (self.model.streams.get("board.consolidation").random(len(candidates)).tolist()
                 if draw else [0.0] * len(candidates))
        for footprint, u in zip(candidates, draws, strict=True):
            if u >= rate:
                continue
            members = sorted(by_footprint[footprint], key=lambda g: (-g.population, g.code))
            into = members[0]
            for absorbed in members[1:]:
                self.model.merge_groups(absorbed, into, Event.CONSOLIDATION_MERGER)

    def mutual_trust(self, a, b) -> float:
        """Mean trust of each group's members in the other's, averaged both ways."""
        trust = self.model.behaviours["trust"].network.trust
        ia, ib = a.member_indices(), b.member_indices()
        if len(ia) == 0 or len(ib) == 0:
            return 0.0
        return float(trust[np.ix_(ia, ib)].mean() + trust[np.ix_(ib, ia)].mean()) / 2

    def _active_neighbours(self, group) -> list:
        """Neighbours in play, except groups formed at this year end (no accounts yet)."""
        groups, month = self.model.groups, self.model.month
        return [groups[c] for c in sorted(group.neighbours)
                if c in groups and groups[c].active and c != group.code
                and groups[c].created_month <= month]

    def _partner(self, group):
        options = self._active_neighbours(group)
        if not options:
            return None
        if self.cfg.behaviour.merger_partner == "most_trusted":
            return max(options, key=lambda g: (self.mutual_trust(group, g), g.code))
        return min(options, key=lambda g: (g.population, g.code))

    def _receivers_by_trust(self, group) -> list:
        """For each member, the active neighbouring group whose members it trusts most."""
        model = self.model
        trust = model.behaviours["trust"].network
        options = self._active_neighbours(group) or [
            g for g in model.active_groups if g is not group
        ]
        sizes = model.practice_arrays.list_size
        members = group.member_indices()
        # each member's mean trust in each option's members (-1: an option without members)
        trust_in = [trust.mean_trusts(members, g.member_indices(), sizes).tolist() if g.members
                    else [-1.0] * len(members) for g in options]
        return [options[max(range(len(options)), key=lambda o, a=a: (trust_in[o][a], options[o].code))]
                for a in range(len(members))]
