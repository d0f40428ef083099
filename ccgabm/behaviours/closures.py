"""Practice closures: small practices in deprived areas close unless their group invests.

Each year end, an open practice with fewer than ``closure_list_size`` patients (scaled with the
world) and an IMD score of at least ``closure_imd`` closes with probability
``closure_rate`` x (1 - protection), where protection is the group's community investment share
over ``closure_full_protection`` (capped at 1). Its patients are dispersed among the group's
other practices.

Every practice's closure draw is taken up front, one a practice in index order, from the year's
``behaviour.closure`` stream, and the dispersal of patients draws from its own
``behaviour.closure_dispersal`` stream: whether one practice closes never shifts the draws that
decide the others (common random numbers across scenarios).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ccgabm.behaviours.base import Behaviour
from ccgabm.events import Event
from ccgabm.params import ASSUMED, param
from ccgabm.schedule import Phase, When


@dataclass(frozen=True)
class ClosureParams:
    closure_list_size: int = param(
        3000, lo=0, hi=100_000, unit="patients",
        source="NHS Digital: ~10% of practices below ~3,400 patients (p10 3,387)",
    )
    closure_imd: float = param(
        30.0, lo=0.0, hi=100.0, unit="IMD score", source="OHID 93553: top quintile of practices",
    )
    closure_rate: float = param(
        0.06, lo=0.0, hi=1.0, unit="probability a year",
        source="8,106 -> 6,495 practices 2013-22 (NHS Digital): ~2.4% a year overall, "
        "concentrated in small practices",
        dated=True,
    )
    closure_full_protection: float = param(
        0.01, lo=1e-6, hi=1.0, unit="share of programme budget",
        source=ASSUMED + ": investing 1% of the programme budget in community services "
        "stops closures",
        doc="community investment share of the programme budget that stops closures; "
        "protection rises linearly to it",
    )


class Closures(Behaviour):
    name = "closures"
    params = {"behaviour": ClosureParams}
    events = (Event.PRACTICE_CLOSED,)
    phases = (Phase("closures", When.YEAR_END, 180, "close_practices",
                    "small practices in deprived areas close unless their group invests in "
                    "community services; patients move to the group's other practices"),)

    def close_practices(self) -> None:
        """Small, deprived practices close unless their group invests in primary care."""
        model = self.model
        beh = model.cfg.behaviour
        year = model.month // 12
        draws = model.streams.fresh("behaviour.closure", year).random(len(model.practices))
        dispersal = model.streams.fresh("behaviour.closure_dispersal", year)
        limit = beh.closure_list_size * model.world.scale
        # a closure adds patients to its own group's practices only, counted once at the end,
        # or before a practice of such a group that would otherwise close (until counted, its
        # list size can only be too small, so one at or above the limit stays there)
        model.stale_list_sizes = []
        arrays = model.practice_arrays
        try:
            # only open practices deprived enough can close (neither changes during the round),
            # and small enough: a closure only adds patients to others, so a practice at or
            # above the limit now stays there
            small = arrays.open & ~(arrays.imd < beh.closure_imd) & (arrays.list_size < limit)
            for i in np.flatnonzero(small).tolist():
                practice = model.practices[i]
                if practice.list_size >= limit:
                    continue
                group = practice.group
                protection = min(1.0, group.investment_share() / beh.closure_full_protection)
                if not (len(group.members) > 1 and draws[i] < beh.closure_rate * (1.0 - protection)):
                    continue
                if group in {p.group for p in model.stale_list_sizes}:
                    model.recount_list_sizes()
                    if practice.list_size >= limit:
                        continue
                model.close_practice(practice, dispersal)
            model.recount_list_sizes()
        finally:
            model.stale_list_sizes = None
