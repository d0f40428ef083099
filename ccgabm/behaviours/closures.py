"""Practice closures: small practices in deprived areas close unless their group invests.

Each year end, an open practice with fewer than ``closure_list_size`` patients (scaled with the
world) and an IMD score of at least ``closure_imd`` closes with probability
``closure_rate`` x (1 - protection), where protection is the group's community investment share
over 1% (capped at 1). Its patients are dispersed among the group's other practices.
"""

from __future__ import annotations

from dataclasses import dataclass

from ccgabm.behaviours.base import Behaviour
from ccgabm.events import Event
from ccgabm.params import param
from ccgabm.schedule import Phase, When

FULL_PROTECTION = 0.01  # structural: investing 1% of the programme budget stops closures


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
        rng = model.streams.fresh("behaviour.closure", model.month // 12)
        limit = beh.closure_list_size * model.world.scale
        for practice in model.practices:
            u = rng.random()
            if not practice.open or practice.list_size >= limit or practice.imd < beh.closure_imd:
                continue
            group = practice.group
            protection = min(1.0, group.investment_share() / FULL_PROTECTION)
            if len(group.members) > 1 and u < beh.closure_rate * (1.0 - protection):
                model.close_practice(practice, rng)
