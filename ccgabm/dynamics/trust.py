"""Trust between practices: a dense matrix updated once a year."""

from __future__ import annotations

import numpy as np

from ccgabm.config import BehaviourSection


class TrustNetwork:
    """``trust[p, q]`` is how much practice p trusts practice q (0..1)."""

    def __init__(self, group_ids: np.ndarray, cfg: BehaviourSection, rng: np.random.Generator) -> None:
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
