"""A GP practice: gatekeeper of referrals for its registered list."""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

from ccgabm.kernels import COUNTER_NAMES

if TYPE_CHECKING:
    from ccgabm.agents.group import CommissioningGroup


class Practice(mesa.Agent):
    """A practice with a persistent referral propensity and a place in one group."""

    def __init__(
        self,
        model: mesa.Model,
        index: int,
        code: str,
        list_size: int,
        imd: float,
        referral_propensity: float,
        position: tuple[float, float],
    ) -> None:
        super().__init__(model)
        self.index = index
        self.code = code
        self.list_size = int(list_size)
        self.imd = float(imd)
        self.referral_propensity = float(referral_propensity)
        self.position = position
        self.group: CommissioningGroup | None = None
        self.open = True
        self.need_weight = 0.0

    @property
    def year_counts(self) -> np.ndarray:
        """This financial year's patient counts so far (a row of the model's table)."""
        return self.model.practice_year_counts[self.index]

    def close_year(self) -> dict[str, float]:
        """The practice's annual panel row (the model resets the counts afterwards)."""
        return {name: int(v) for name, v in zip(COUNTER_NAMES, self.year_counts, strict=True)}
