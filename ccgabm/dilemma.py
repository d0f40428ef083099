"""The seed dilemma: a deprived practice next to an affluent, successful group.

Choices (``[dilemma] choice``): ``stay`` with its historic deprived partners; ``join`` the
affluent group alone; ``negotiate`` both it and its closest partner into the affluent group.
The decision is taken at the start of ``decision_year``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from ccgabm.model import CommissioningModel


@dataclass
class Dilemma:
    """Who decides (focal practice and partner) and between which groups."""

    focal: str
    partner: str
    deprived: str
    affluent: str

    @classmethod
    def setup(cls, model: CommissioningModel) -> Dilemma:
        """Focal: the deprived group's practice nearest the affluent group; partner: its nearest."""
        groups = list(model.groups.values())
        if len(groups) < 2:
            from ccgabm.params import ConfigError

            raise ConfigError("[dilemma] choice needs at least 2 groups ([region] n_groups >= 2)")
        mean_imd = {g.code: np.average([p.imd for p in g.members],
                                       weights=[p.list_size for p in g.members]) for g in groups}
        affluent = min(mean_imd, key=mean_imd.get)
        deprived = max(mean_imd, key=mean_imd.get)
        centre = np.mean([p.position for p in model.groups[affluent].members], axis=0)
        candidates = model.groups[deprived].members
        focal = min(candidates, key=lambda p: float(np.hypot(*(np.array(p.position) - centre))))
        others = [p for p in candidates if p is not focal]
        partner = min(others, key=lambda p: float(np.hypot(*(np.array(p.position) -
                                                               np.array(focal.position)))))
        model.groups[deprived].neighbours.add(affluent)
        model.groups[affluent].neighbours.add(deprived)
        return cls(focal.code, partner.code, deprived, affluent)

    def decide(self, model: CommissioningModel) -> None:
        """Carry out the configured choice."""
        choice = model.cfg.dilemma.choice
        by_code = {p.code: p for p in model.practices}
        movers = {"stay": [], "join": [self.focal], "negotiate": [self.focal, self.partner]}[choice]
        target = model.groups[self.affluent]
        model.recorder.event(model.month, "dilemma_choice", group=self.deprived,
                             practice=self.focal, detail=choice)
        if target.active:
            model.move_practices([by_code[c] for c in movers if by_code[c].open], target,
                                 reason="dilemma")


def dilemma_outcomes(practice_year: pd.DataFrame, group_year: pd.DataFrame,
                     group_fates: pd.DataFrame, dilemma: Dilemma, decision_year: int,
                     ) -> dict[str, Any]:
    """Gaps between the focal practice's patients and its old neighbours after the decision."""
    allocations = group_year[["year", "group", "allocation", "need_weight"]].rename(
        columns={"need_weight": "group_need_weight"})
    after = practice_year[practice_year["year"] >= decision_year]
    focal = after[after["practice"] == dilemma.focal]
    first = practice_year[practice_year["year"] == practice_year["year"].min()]
    old_codes = set(first.loc[first["group"] == dilemma.deprived, "practice"]) - {
        dilemma.focal, dilemma.partner}
    old = after[after["practice"].isin(old_codes)]

    def per_1000(df: pd.DataFrame, col: str) -> float:
        return float(12000 * df[col].sum() / max(df["person_months"].sum(), 1))

    def spend_per_need(df: pd.DataFrame) -> float:
        return float(df["activity_spend"].sum() / max(df["need_weight"].sum(), 1e-9))

    def budget_per_need(df: pd.DataFrame) -> float:
        rows = df.merge(allocations, on=["year", "group"], how="left")
        per_need = rows["allocation"] / rows["group_need_weight"]
        return float(np.average(per_need, weights=rows["list_size"].clip(lower=1)))

    fates = group_fates.set_index("group_id")
    return {
        "dilemma_focal": dilemma.focal,
        "dilemma_spend_per_need_gap": spend_per_need(focal) / spend_per_need(old) - 1.0,
        "dilemma_budget_per_need_gap": budget_per_need(focal) / budget_per_need(old) - 1.0,
        "dilemma_emergency_gap_per_1000": per_1000(focal, "emergency") - per_1000(old, "emergency"),
        "dilemma_affluent_fractured": bool(fates.loc[dilemma.affluent, "fractured"]),
        "dilemma_deprived_fractured": bool(fates.loc[dilemma.deprived, "fractured"]),
    }
