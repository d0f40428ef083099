"""Run seeds: one ``SeedSequence`` child per point, then per replication.

The seed of run (point p, replication r) depends only on the root seed, p and r — never on the
number of workers, the backend or completion order. With common random numbers the point level
is skipped, so replication r of every point shares one seed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

__all__ = ["RunSeed", "run_seeds", "design_seed"]

_MAX_SEED = (1 << 63) - 1


@dataclass(frozen=True)
class RunSeed:
    """Where a run's seed comes from (entropy + spawn key) and the int handed to the model."""

    entropy: int
    spawn_key: tuple[int, ...]
    seed: int

    @property
    def spawn_key_text(self) -> str:
        """The spawn key as compact JSON, e.g. ``"[3,17]"``."""
        return json.dumps(list(self.spawn_key), separators=(",", ":"))


def _to_int(seq: np.random.SeedSequence) -> int:
    hi, lo = (int(x) for x in seq.generate_state(2, dtype=np.uint32))
    return ((hi << 32) | lo) & _MAX_SEED


def run_seeds(
    root: int, n_points: int, replications: int, common_random_numbers: bool = False
) -> list[list[RunSeed]]:
    """Seeds indexed ``[point][replication]``."""
    root_seq = np.random.SeedSequence(root)
    if common_random_numbers:
        reps = root_seq.spawn(replications)
        shared = [RunSeed(root, tuple(s.spawn_key), _to_int(s)) for s in reps]
        return [list(shared) for _ in range(n_points)]
    out: list[list[RunSeed]] = []
    for point_seq in root_seq.spawn(n_points):
        out.append([RunSeed(root, tuple(s.spawn_key), _to_int(s)) for s in point_seq.spawn(replications)])
    return out


def design_seed(root: int) -> int:
    """Seed for drawing the sampling design (LHS, Sobol, Morris), apart from run seeds."""
    return int(np.random.SeedSequence([root, 0x5EED]).generate_state(1, dtype=np.uint32)[0])
