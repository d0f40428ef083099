"""Trust between practices: a dense matrix, updated once a year.

``trust[p, q]`` is how much practice p trusts practice q (0..1). It starts at
``initial_trust`` within a group and ``trust_outside`` across groups (plus noise). Each year
end: members of a group that broke even trust each other more (``success_gain``); in a deficit
year, members whose patients got less spend per need than others trust those others less
(``fairness_weight``); then all trust drifts back towards its starting pattern
(``trust_decay``). Practices outvoted in a decommissioning decision trust the winners less
(``vote_loss_penalty``; applied by the decommissioning behaviour).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ccgabm.behaviours.base import Behaviour
from ccgabm.params import ASSUMED, param
from ccgabm.schedule import Phase, When


@dataclass(frozen=True)
class TrustParams:
    initial_trust: float = param(
        0.6, lo=0.0, hi=1.0, source=ASSUMED + ": trust between practices that worked together",
    )
    trust_outside: float = param(
        0.3, lo=0.0, hi=1.0, source=ASSUMED + ": trust in practices of neighbouring groups",
    )
    trust_noise_sd: float = param(0.05, lo=0.0, hi=0.5, source=ASSUMED)
    success_gain: float = param(
        0.03, lo=0.0, hi=0.5, source=ASSUMED + ": trust gained in a year the group breaks even",
    )
    fairness_weight: float = param(
        0.1, lo=0.0, hi=5.0, source=ASSUMED + ": trust lost per unit of unfairness of spend vs need",
    )
    vote_loss_penalty: float = param(
        0.08, lo=0.0, hi=1.0, source=ASSUMED + ": trust lost in the winners by a practice outvoted",
    )
    trust_decay: float = param(
        0.05, lo=0.0, hi=1.0, source=ASSUMED + ": yearly drift of trust back to its starting level",
    )


class TrustNetwork:
    """``trust[p, q]`` is how much practice p trusts practice q (0..1)."""

    def __init__(self, group_ids: np.ndarray, cfg: TrustParams, rng: np.random.Generator) -> None:
        n = len(group_ids)
        same = group_ids[:, None] == group_ids[None, :]
        base = np.where(same, cfg.initial_trust, cfg.trust_outside).astype(np.float32)
        noise = rng.normal(0.0, cfg.trust_noise_sd, (n, n)).astype(np.float32)
        # Trust decays towards its starting pattern: keep that target pre-multiplied.
        self._decay_target = (np.float32(cfg.trust_decay) * base).astype(np.float32)
        self.trust = np.clip(base + noise, 0.0, 1.0)
        np.fill_diagonal(self.trust, 1.0)
        self.cfg = cfg

    def mean_trust(self, p: int, others: np.ndarray, weights: np.ndarray | None = None) -> float:
        """Mean trust of ``p`` in ``others`` (p excluded), weighted by ``weights[others]``."""
        others = others[others != p]
        if len(others) == 0:
            return 0.0
        w = None if weights is None else np.maximum(weights[others], 1)
        return float(np.average(self.trust[p, others], weights=w))

    def shared_success(self, members: np.ndarray) -> None:
        """A group that broke even: its members trust each other more."""
        self._add(members, members, self.cfg.success_gain)

    def lost_vote(self, losers: np.ndarray, winners: np.ndarray) -> None:
        """Practices outvoted in a decommissioning decision trust the winners less."""
        self._add(losers, winners, -self.cfg.vote_loss_penalty)

    def unfairness(self, members: np.ndarray, spend_per_need: np.ndarray) -> None:
        """Members whose patients get less than their need trust those who get more, less."""
        rel = spend_per_need / max(float(np.mean(spend_per_need)), 1e-12)
        gap = np.clip(rel[None, :] - rel[:, None], 0.0, None)  # how much more q gets than p
        idx = np.ix_(members, members)
        self.trust[idx] = np.clip(self.trust[idx] - self.cfg.fairness_weight * gap, 0.0, 1.0)

    def decay(self) -> None:
        """Memories fade: trust drifts back towards its starting level."""
        rate = np.float32(self.cfg.trust_decay)
        self.trust *= np.float32(1.0) - rate  # in place: the matrix is large for England
        self.trust += self._decay_target
        np.fill_diagonal(self.trust, 1.0)

    def _add(self, rows: np.ndarray, cols: np.ndarray, amount: float) -> None:
        if len(rows) == 0 or len(cols) == 0:
            return
        idx = np.ix_(rows, cols)
        self.trust[idx] = np.clip(self.trust[idx] + amount, 0.0, 1.0)
        np.fill_diagonal(self.trust, 1.0)


class Trust(Behaviour):
    name = "trust"
    params = {"behaviour": TrustParams}
    phases = (Phase("trust", When.YEAR_END, 140, "update",
                    "trust within each group: shared success, unfairness of spend vs need in "
                    "deficit years, then decay towards the starting pattern"),)

    def setup(self) -> None:
        model = self.model
        codes = {code: i for i, code in enumerate(model.groups)}
        group_ids = np.array([codes[p.group.code] for p in model.practices])
        self.network = TrustNetwork(group_ids, model.cfg.behaviour,
                                    model.streams.get("behaviour.trust"))

    def update(self) -> None:
        """Year-end trust updates within each group, then decay towards starting levels."""
        arrays = self.model.practice_arrays
        for group in self.model.active_groups:
            idx = np.array([p.index for p in group.members])
            if len(idx) == 0:
                continue
            if group.last_in_year_result >= 0:
                self.network.shared_success(idx)
            else:
                need = np.array([max(p.need_weight, 1e-9) for p in group.members])
                self.network.unfairness(idx, arrays.spend_year[idx] / need)
        self.network.decay()
