"""Each year every practice weighs staying against the alternatives it can reach.

Alternatives: joining a neighbouring group, or leaving with trusted fellow members to form a
new group. A coalition of members leaving together is a fracture of their group.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ccgabm.dynamics.stability import greedy_coalition

SEEDS = 8  # members tried as the seed of a leaving coalition, least satisfied first


@dataclass
class Move:
    """Practices leaving ``source`` together for ``target`` (None = a new group)."""

    practices: list[int]
    source: str
    target: str | None
    gain: float = 0.0
    kind: str = field(default="switch")  # "switch" or "new_group"


def trust_in_groups(trust: np.ndarray, groups: dict[str, np.ndarray],
                    list_sizes: np.ndarray) -> dict[str, np.ndarray]:
    """For each group, every practice's list-size-weighted mean trust in its members.

    A practice's trust in itself is left out (it matters for its own group). One matrix
    product covers every group.
    """
    weights = np.maximum(list_sizes, 1).astype(float)
    codes = list(groups)
    rows = np.concatenate([groups[c] for c in codes]) if codes else np.zeros(0, dtype=int)
    cols = np.concatenate([np.full(len(groups[c]), j) for j, c in enumerate(codes)]) if codes \
        else np.zeros(0, dtype=int)
    membership = np.zeros((len(weights), len(codes)), dtype=np.float32)
    membership[rows, cols] = weights[rows]
    totals = (trust @ membership).astype(float)  # [practice, group], one BLAS product
    denoms = np.broadcast_to(membership.sum(axis=0, dtype=float), totals.shape).copy()
    own = np.diagonal(trust)[rows] * weights[rows]
    totals[rows, cols] -= own
    denoms[rows, cols] -= weights[rows]
    mean = np.divide(totals, denoms, out=np.zeros_like(totals), where=denoms > 0)
    return {c: mean[:, j] for j, c in enumerate(codes)}


def stay_utilities(trust: np.ndarray, groups: dict[str, np.ndarray], list_sizes: np.ndarray,
                   finance: dict[str, float],
                   trust_in: dict[str, np.ndarray] | None = None) -> dict[int, float]:
    """Each practice's utility for staying where it is."""
    trust_in = trust_in if trust_in is not None else trust_in_groups(trust, groups, list_sizes)
    return {int(p): float(trust_in[code][p]) + finance[code]
            for code, members in groups.items() for p in members}


def best_neighbour(p: int, own: str, groups: dict[str, np.ndarray], neighbours: dict[str, set[str]],
                   trust_in: dict[str, np.ndarray], finance: dict[str, float],
                   switching_cost: float) -> tuple[str | None, float]:
    """The neighbouring group a practice likes best, and its utility there."""
    best, best_u = None, -np.inf
    for code in sorted(neighbours.get(own, ())):
        members = groups.get(code)
        if members is None or len(members) == 0:
            continue
        u = float(trust_in[code][p]) + finance[code] - switching_cost
        if u > best_u:
            best, best_u = code, u
    return best, best_u


def choose_moves(trust: np.ndarray, groups: dict[str, np.ndarray], neighbours: dict[str, set[str]],
                 list_sizes: np.ndarray, finance: dict[str, float], new_finance, switching_cost: float,
                 min_coalition: int, min_new_population: float,
                 trust_in: dict[str, np.ndarray] | None = None,
                 stay: dict[int, float] | None = None) -> list[Move]:
    """The moves practices want this year: at most one coalition per group, then switches.

    Coalitions are grown around the ``SEEDS`` least satisfied members of each group.
    ``trust_in`` and ``stay`` may be passed in when already computed for these groups.
    """
    trust_in = trust_in if trust_in is not None else trust_in_groups(trust, groups, list_sizes)
    stay = stay if stay is not None else stay_utilities(trust, groups, list_sizes, finance, trust_in)
    moves: list[Move] = []
    for code in sorted(groups):
        members = groups[code]
        taken: set[int] = set()
        order = sorted(members.tolist(), key=lambda p: stay[p])
        for seed in order[:SEEDS]:
            coalition = greedy_coalition(seed, members, trust, stay, list_sizes, new_finance(code),
                                         switching_cost, min_coalition)
            if coalition is not None and list_sizes[coalition].sum() >= min_new_population:
                moves.append(Move([int(p) for p in coalition], code, None, kind="new_group"))
                taken.update(int(p) for p in coalition)
                break
        by_target: dict[str, list[int]] = {}
        for p in members.tolist():
            if p in taken:
                continue
            target, u = best_neighbour(p, code, groups, neighbours, trust_in, finance,
                                       switching_cost)
            if target is not None and u > stay[p]:
                by_target.setdefault(target, []).append(p)
        for target, practices in sorted(by_target.items()):
            moves.append(Move(practices, code, target))
    return moves
