"""GP practices: their state in arrays (one row per practice), each agent a view onto its row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import mesa
import numpy as np

from ccgabm.patients import Counter

if TYPE_CHECKING:
    from ccgabm.agents.group import CommissioningGroup


@dataclass
class PracticeArrays:
    """The state of every practice, indexed by ``Practice.index`` (the only copy of it).

    The patient kernel and the organisations' vectorised rounds read these arrays directly;
    a :class:`Practice` agent reads and writes its own row.
    """

    code: np.ndarray  # str
    list_size: np.ndarray  # int64: registered patients now (0 once closed)
    imd: np.ndarray  # float64: practice IMD 2019 score
    propensity: np.ndarray  # float64: persistent referral propensity (mean 1)
    x: np.ndarray  # float64: position (for the map and the dilemma's geography)
    y: np.ndarray
    open: np.ndarray  # bool
    need_weight: np.ndarray  # float64: capitation need weight at the last April
    year_counts: np.ndarray  # int64 [practice, Counter]: this financial year's patient counts
    spend_year: np.ndarray  # float64: this financial year's activity spend on its patients
    referrals_last_year: np.ndarray  # float64: for hospitals' capacity planning

    @classmethod
    def build(cls, codes, list_sizes, imd, propensity, x, y) -> PracticeArrays:
        n = len(codes)
        return cls(
            code=np.asarray(codes, dtype=object),
            list_size=np.asarray(list_sizes, dtype=np.int64).copy(),
            imd=np.asarray(imd, dtype=np.float64).copy(),
            propensity=np.asarray(propensity, dtype=np.float64).copy(),
            x=np.asarray(x, dtype=np.float64).copy(),
            y=np.asarray(y, dtype=np.float64).copy(),
            open=np.ones(n, dtype=bool),
            need_weight=np.zeros(n),
            year_counts=np.zeros((n, len(Counter)), dtype=np.int64),
            spend_year=np.zeros(n),
            referrals_last_year=np.zeros(n),
        )

    def start_year(self) -> None:
        """A new financial year: this year's patient counts and activity spend start at zero
        (the year-end rounds read last year's until then)."""
        self.year_counts[:] = 0
        self.spend_year[:] = 0.0

    def __len__(self) -> int:
        return len(self.list_size)


class Practice(mesa.Agent):
    """A practice: gatekeeper of referrals for its list, member of one commissioning group.

    Its numbers live in the model's :class:`PracticeArrays`; the properties below read and
    write row ``index`` of them. Membership (``group``) is kept with the group's member list.
    """

    def __init__(self, model: mesa.Model, index: int, arrays: PracticeArrays) -> None:
        super().__init__(model)
        self.index = index
        self.code = str(arrays.code[index])
        self._arrays = arrays
        self.group: CommissioningGroup | None = None

    @property
    def list_size(self) -> int:
        return int(self._arrays.list_size[self.index])

    @list_size.setter
    def list_size(self, value: int) -> None:
        self._arrays.list_size[self.index] = value

    @property
    def imd(self) -> float:
        return float(self._arrays.imd[self.index])

    @property
    def referral_propensity(self) -> float:
        return float(self._arrays.propensity[self.index])

    @property
    def position(self) -> tuple[float, float]:
        return float(self._arrays.x[self.index]), float(self._arrays.y[self.index])

    @property
    def open(self) -> bool:
        return bool(self._arrays.open[self.index])

    @property
    def need_weight(self) -> float:
        return float(self._arrays.need_weight[self.index])

    @property
    def year_counts(self) -> np.ndarray:
        """This financial year's patient counts so far (a view of the practice's row)."""
        return self._arrays.year_counts[self.index]

    def close(self) -> None:
        """The practice closes: it leaves the model's agents (its row stays, list size 0)."""
        self._arrays.open[self.index] = False
        self.remove()
