"""The dilemma (Pulse): a deprived practice next to an affluent, successful group.

Choices (``[dilemma] choice``): ``stay`` with its historic deprived partners; ``join`` the
affluent group alone; ``negotiate`` both it and its closest partner into the affluent group.
The decision is taken at the start of ``decision_year``. The focal practice is the deprived
group's practice nearest the affluent group's centre; its partner is its nearest fellow member.
The affluent group starts ``affluent_head_start`` above its capitation target.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ccgabm.behaviours.base import Behaviour
from ccgabm.events import Event
from ccgabm.params import ASSUMED, ConfigError, param
from ccgabm.schedule import Phase, When


@dataclass(frozen=True)
class DilemmaParams:
    choice: str = param(
        "none", choices=("none", "stay", "join", "negotiate"),
        source="Pulse: stay with deprived partners, join the affluent group, or negotiate both "
        "practices into it",
    )
    decision_year: int = param(1, lo=0, hi=50, unit="financial year index", source=ASSUMED)
    affluent_head_start: float = param(
        0.03, lo=-0.5, hi=0.5, unit="share above capitation target",
        source="Pulse: the affluent group is 'successful' (assumed 3% above target)",
    )


@dataclass
class Sides:
    """Who decides (focal practice and partner) and between which groups."""

    focal: str
    partner: str
    deprived: str
    affluent: str


class Dilemma(Behaviour):
    name = "dilemma"
    params = {"dilemma": DilemmaParams}
    events = (Event.DILEMMA_CHOICE, Event.JOIN, Event.LEAVE)
    phases = (Phase("dilemma", When.YEAR_START, 10, "decide",
                    "in the decision year, the focal practice's configured choice is carried "
                    "out ([dilemma] choice; off by default)"),)

    @classmethod
    def check_config(cls, cfg) -> None:
        if cfg.dilemma.choice != "none" and cfg.dilemma.decision_year >= cfg.run.years:
            raise ConfigError(
                f"[dilemma] decision_year = {cfg.dilemma.decision_year} is not allowed with "
                f"[run] years = {cfg.run.years}: the decision must fall within the run "
                f"(0 to {cfg.run.years - 1})"
            )

    @property
    def on(self) -> bool:
        return self.cfg.dilemma.choice != "none"

    def setup(self) -> None:
        """Focal: the deprived group's practice nearest the affluent group; partner: its nearest."""
        self.sides: Sides | None = None
        if not self.on:
            return
        model = self.model
        groups = list(model.groups.values())
        if len(groups) < 2:
            raise ConfigError(f"[dilemma] choice = {self.cfg.dilemma.choice!r} needs a world of at "
                              f"least 2 groups (this one has {len(groups)})")
        mean_imd = {g.code: np.average([p.imd for p in g.members],
                                       weights=[p.list_size for p in g.members]) for g in groups}
        affluent = min(mean_imd, key=mean_imd.get)
        deprived = max(mean_imd, key=mean_imd.get)
        if mean_imd[affluent] == mean_imd[deprived]:
            raise ConfigError(f"[dilemma] choice = {self.cfg.dilemma.choice!r} needs groups that "
                              "differ in deprivation: every group has the same mean IMD score")
        if len(model.groups[deprived].members) < 2:
            raise ConfigError(f"[dilemma] choice = {self.cfg.dilemma.choice!r} needs at least 2 "
                              f"practices in the most deprived group ({deprived} has "
                              f"{len(model.groups[deprived].members)})")
        centre = np.mean([p.position for p in model.groups[affluent].members], axis=0)
        candidates = model.groups[deprived].members
        focal = min(candidates, key=lambda p: float(np.hypot(*(np.array(p.position) - centre))))
        others = [p for p in candidates if p is not focal]
        partner = min(others, key=lambda p: float(np.hypot(*(np.array(p.position) -
                                                               np.array(focal.position)))))
        model.groups[deprived].neighbours.add(affluent)
        model.groups[affluent].neighbours.add(deprived)
        self.sides = Sides(focal.code, partner.code, deprived, affluent)

    def adjust_initial_distances(self, draws: dict[str, float]) -> None:
        if self.sides is not None:
            draws[self.sides.affluent] += self.cfg.dilemma.affluent_head_start

    def decide(self) -> None:
        """Carry out the configured choice in the decision year."""
        model, sides = self.model, self.sides
        if sides is None or model.month // 12 != self.cfg.dilemma.decision_year:
            return
        choice = self.cfg.dilemma.choice
        by_code = {p.code: p for p in model.practices}
        movers = {"stay": [], "join": [sides.focal],
                  "negotiate": [sides.focal, sides.partner]}[choice]
        target = model.groups[sides.affluent]
        model.record(Event.DILEMMA_CHOICE, group=sides.deprived, practice=sides.focal,
                     detail=choice)
        if target.active:
            model.move_practices([by_code[c] for c in movers if by_code[c].open], target,
                                 reason="dilemma")

    def summary(self, tables: dict[str, pd.DataFrame], fates: pd.DataFrame) -> dict[str, Any]:
        if self.sides is None:
            return {}
        return outcomes(tables["practice_year"], tables["group_year"], fates, self.sides,
                        self.cfg.dilemma.decision_year)


def outcomes(practice_year: pd.DataFrame, group_year: pd.DataFrame, group_fates: pd.DataFrame,
             sides: Sides, decision_year: int) -> dict[str, Any]:
    """Gaps between the focal practice's patients and its old neighbours after the decision."""
    allocations = group_year[["year", "group", "allocation", "need_weight"]].rename(
        columns={"need_weight": "group_need_weight"})
    after = practice_year[practice_year["year"] >= decision_year]
    focal = after[after["practice"] == sides.focal]
    first = practice_year[practice_year["year"] == practice_year["year"].min()]
    old_codes = set(first.loc[first["group"] == sides.deprived, "practice"]) - {
        sides.focal, sides.partner}
    old = after[after["practice"].isin(old_codes)]

    def per_1000(df: pd.DataFrame, col: str) -> float:
        return float(12000 * df[col].sum() / max(df["person_months"].sum(), 1))

    def spend_per_need(df: pd.DataFrame) -> float:
        return float(df["activity_spend"].sum() / max(df["need_weight"].sum(), 1e-9))

    def budget_per_need(df: pd.DataFrame) -> float:
        rows = df.merge(allocations, on=["year", "group"], how="left")
        per_need = rows["allocation"] / rows["group_need_weight"]
        return float(np.average(per_need, weights=rows["list_size"].clip(lower=1)))

    def gap(focal_value: float, old_value: float) -> float:
        """Relative gap; NaN (written as null with a note) when the old neighbours have none."""
        return focal_value / old_value - 1.0 if old_value else float("nan")

    if focal.empty or old.empty:  # no comparison: every old neighbour closed or left
        nan = float("nan")
        spend_gap = budget_gap = emergency_gap = nan
    else:
        spend_gap = gap(spend_per_need(focal), spend_per_need(old))
        budget_gap = gap(budget_per_need(focal), budget_per_need(old))
        emergency_gap = per_1000(focal, "emergency") - per_1000(old, "emergency")

    fates = group_fates.set_index("group_id")
    return {
        "dilemma_focal": sides.focal,
        "dilemma_spend_per_need_gap": spend_gap,
        "dilemma_budget_per_need_gap": budget_gap,
        "dilemma_emergency_gap_per_1000": emergency_gap,
        "dilemma_affluent_fractured": bool(fates.loc[sides.affluent, "fractured"]),
        "dilemma_deprived_fractured": bool(fates.loc[sides.deprived, "fractured"]),
    }
