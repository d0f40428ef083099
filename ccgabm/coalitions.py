"""The hedonic game practices play: what a group is worth to a member, who would leave with whom.

Pure functions over the trust matrix, list sizes and groups' finance terms, used by the
practice-choices behaviour (``ccgabm.behaviours.practice_choices``):

- utilities: trust in a group's other members (list-size weighted) plus the group's finance
  term (budget per need against national, last year's result; for a new group, the extra
  fixed running cost per head of a smaller group);
- the rules a leaving coalition must meet (``Rules``): at least ``min_size`` practices, a
  viable population, at most ``cap_share`` of the group's population, a source left viable
  (unless it is small already), and not founded mostly (by list size) by members of a group
  the Board dissolved recently (``barred``);
- core stability: whether any coalition of members the rules allow would rather leave together
  (exact enumeration for groups of up to ``EXACT_LIMIT`` members; greedy search from the
  ``HEURISTIC_SEEDS`` least satisfied members above that: it can miss a blocking coalition,
  never invents one);
- moves: at most one leaving coalition per group (grown around the ``SEEDS`` least satisfied
  members), then moves of single practices to the neighbouring group they like best.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


# ---- utilities --------------------------------------------------------------------------------
def coalition_utilities(trust: np.ndarray, coalition: np.ndarray, list_sizes: np.ndarray,
                        finance: float) -> np.ndarray:
    """Utility of each coalition member for belonging to it (trust + finance term)."""
    w = np.maximum(list_sizes[coalition], 1).astype(float)
    sub = trust[np.ix_(coalition, coalition)].astype(float)
    others = w.sum() - w
    weighted = sub @ w - np.diag(sub) * w
    mean = np.divide(weighted, others, out=np.zeros_like(weighted), where=others > 0)
    return mean + finance


def new_group_finance(population: np.ndarray | float, reference_population: float, fixed_cost: float,
                      per_head_budget: float, weight: float) -> np.ndarray | float:
    """Finance term of a new group: extra fixed running cost per head against a reference."""
    extra = fixed_cost / np.maximum(population, 1.0) - fixed_cost / max(reference_population, 1.0)
    return -weight * extra / 100.0 if per_head_budget > 0 else 0.0 * extra


def group_finance(allocation: float, need_weight: float, national_rate: float,
                  last_result: float, per_head_budget: float, weight: float) -> float:
    """Finance term of an existing group: budget per need vs national, plus last year's result.

    Both parts are shares of a year's budget, converted to GBP 100 a head and weighted.
    """
    if allocation <= 0 or need_weight <= 0 or national_rate <= 0:
        return 0.0
    share = (allocation / need_weight) / national_rate - 1.0 + last_result / allocation
    return weight * share * per_head_budget / 100.0


# ---- the rules of leaving ----------------------------------------------------------------------
@dataclass(frozen=True)
class Rules:
    """What a coalition leaving a group to form a new one must meet (the Board's rules).

    ``barred`` flags practices (by index) that were members of a group the Board dissolved
    recently: it does not authorise a new group more than half of whose patients (by list
    size) are theirs. None: no practice is barred.
    """

    min_size: int = 2  # practices
    min_population: float = 0.0  # a new group's viable population
    cap_share: float = 0.5  # at most this share of the group's population leaves together
    source_minimum: float = 0.0  # the group left behind keeps this population (if it had it)
    barred: np.ndarray | None = None  # bool per practice index

    def allows(self, population: np.ndarray | float, size: np.ndarray | int,
               group_population: float,
               barred_population: np.ndarray | float = 0.0) -> np.ndarray | bool:
        """Whether coalitions of ``population`` patients and ``size`` practices may leave;
        ``barred_population``: how many of their patients are barred practices'."""
        population = np.asarray(population, dtype=float)
        remaining_ok = (group_population - population >= self.source_minimum) | (
            group_population < self.source_minimum)
        return ((np.asarray(size) >= self.min_size) & (population >= self.min_population)
                & (population <= self.cap_share * group_population) & remaining_ok
                & ~(np.asarray(barred_population, dtype=float) > population / 2.0))

    def barred_population(self, coalition: np.ndarray, list_sizes: np.ndarray) -> float:
        """Patients of the barred practices in ``coalition``."""
        if self.barred is None:
            return 0.0
        return float(list_sizes[coalition][self.barred[coalition]].sum())


# ---- core stability ---------------------------------------------------------------------------
EXACT_LIMIT = 12
HEURISTIC_SEEDS = 8  # large groups: greedy search from the least satisfied members

# Finance term of a new group carved out of one group, as a function of its population
# (a number or an array of them): all coalitions searched here come from a single group.
FinanceOf = Callable[[np.ndarray | float], np.ndarray | float]


def greedy_coalition(seed: int, members: np.ndarray, trust: np.ndarray,
                     stay_utility: dict[int, float], list_sizes: np.ndarray, finance_of: FinanceOf,
                     switching_cost: float, rules: Rules) -> np.ndarray | None:
    """Grow a coalition around ``seed`` from its most trusted fellows, then prune the unwilling.

    ``friends`` are taken in order of mutual trust, so trimming to the cap drops the least
    trusted first. Returns a coalition the ``rules`` allow whose members all prefer it, or None.
    """
    others = members[members != seed]
    if len(others) == 0:
        return None
    total = float(list_sizes[members].sum())
    mutual = (trust[seed, others] + trust[others, seed]) / 2.0
    order = np.argsort(-mutual, kind="stable")
    ranked = mutual[order]  # most trusted first
    n = len(ranked)
    median = (ranked[(n - 1) // 2] + ranked[n // 2]) / 2.0
    friends = others[order][ranked >= median]
    coalition = np.concatenate([[seed], friends])
    while len(coalition) > 1 and list_sizes[coalition].sum() > rules.cap_share * total:
        coalition = coalition[:-1]
    while len(coalition) >= rules.min_size:
        population = float(list_sizes[coalition].sum())
        if not rules.allows(population, len(coalition), total,
                            rules.barred_population(coalition, list_sizes)):
            return None
        finance = finance_of(population)
        u = coalition_utilities(trust, coalition, list_sizes, finance) - switching_cost
        stay = np.array([stay_utility[int(p)] for p in coalition])
        unwilling = u <= stay
        if not unwilling.any():
            return coalition
        if unwilling[0]:
            return None  # the seed itself would rather stay
        worst = np.argmin(u - stay)
        coalition = np.delete(coalition, worst)
    return None


def core_stable(members: np.ndarray, trust: np.ndarray, stay_utility: dict[int, float],
                list_sizes: np.ndarray, finance_of: FinanceOf, switching_cost: float,
                rules: Rules) -> bool:
    """True if no coalition of members that the ``rules`` allow to leave blocks the group
    (exact for small groups)."""
    members = np.asarray(members)
    if len(members) <= 1:
        return True
    if len(members) <= EXACT_LIMIT:
        return not _any_subset_blocks(members, trust, stay_utility, list_sizes, finance_of,
                                      switching_cost, rules)
    for seed in sorted(members.tolist(), key=lambda p: stay_utility[int(p)])[:HEURISTIC_SEEDS]:
        found = greedy_coalition(int(seed), members, trust, stay_utility, list_sizes, finance_of,
                                 switching_cost, rules)
        if found is not None:
            return False
    return True


def _any_subset_blocks(members: np.ndarray, trust: np.ndarray, stay_utility: dict[int, float],
                       list_sizes: np.ndarray, finance_of: FinanceOf, switching_cost: float,
                       rules: Rules) -> bool:
    """Exact check over every proper subset of ``members`` the rules allow (vectorised)."""
    m = len(members)
    codes = np.arange(1, 2**m - 1)  # every non-empty proper subset
    inside = ((codes[:, None] >> np.arange(m)[None, :]) & 1).astype(bool)
    sizes = list_sizes[members].astype(float)
    population = inside @ sizes
    barred = inside @ (sizes * rules.barred[members]) if rules.barred is not None else 0.0
    allowed = rules.allows(population, inside.sum(axis=1), float(sizes.sum()), barred)
    if not np.any(allowed):
        return False
    inside, population = inside[allowed], population[allowed]
    w = np.maximum(list_sizes[members], 1).astype(float)
    t = trust[np.ix_(members, members)].astype(float)
    np.fill_diagonal(t, 0.0)
    numer = (inside * w) @ t.T  # [subset, p]: weighted trust of p in the subset's others
    denom = (inside @ w)[:, None] - w[None, :]
    mean = np.divide(numer, denom, out=np.zeros_like(numer), where=denom > 0)
    finance = np.asarray(finance_of(population), dtype=float)
    utility = mean + finance.reshape(-1, 1) - switching_cost
    stay = np.array([stay_utility[int(p)] for p in members])
    prefers = (utility > stay[None, :]) | ~inside
    return bool(np.any(prefers.all(axis=1)))


# ---- moves ------------------------------------------------------------------------------------
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


def best_neighbours(members: np.ndarray, own: str, groups: dict[str, np.ndarray],
                    neighbours: dict[str, set[str]], trust_in: dict[str, np.ndarray],
                    finance: dict[str, float], switching_cost: float
                    ) -> tuple[list[str | None], np.ndarray]:
    """For each of ``members`` of group ``own``: the neighbouring group it likes best (the
    first in code order among equals; None without a neighbour) and its utility there."""
    options = [c for c in sorted(neighbours.get(own, ())) if len(groups.get(c, ())) > 0]
    if not options:
        return [None] * len(members), np.full(len(members), -np.inf)
    utility = np.stack([trust_in[c][members] + finance[c] - switching_cost for c in options])
    best = np.argmax(utility, axis=0)
    return [options[i] for i in best.tolist()], utility[best, np.arange(len(members))]


def choose_moves(trust: np.ndarray, groups: dict[str, np.ndarray], neighbours: dict[str, set[str]],
                 list_sizes: np.ndarray, finance: dict[str, float], new_finance, switching_cost: float,
                 rules: Rules, trust_in: dict[str, np.ndarray] | None = None,
                 stay: dict[int, float] | None = None) -> list[Move]:
    """The moves practices want this year: at most one coalition per group, then moves of
    single practices to the neighbouring group each likes best (grouped by target).

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
                                         switching_cost, rules)
            if coalition is not None:
                u = coalition_utilities(trust, coalition, list_sizes,
                                        new_finance(code)(float(list_sizes[coalition].sum())))
                gain = float(np.mean(u - switching_cost - [stay[int(p)] for p in coalition]))
                moves.append(Move([int(p) for p in coalition], code, None, gain=gain,
                                  kind="new_group"))
                taken.update(int(p) for p in coalition)
                break
        by_target: dict[str, list[tuple[int, float]]] = {}
        targets, utility = best_neighbours(members, code, groups, neighbours, trust_in, finance,
                                           switching_cost)
        for p, target, u in zip(members.tolist(), targets, utility.tolist(), strict=True):
            if p in taken:
                continue
            if target is not None and u > stay[p]:
                by_target.setdefault(target, []).append((p, u - stay[p]))
        for target, chosen in sorted(by_target.items()):
            moves.append(Move([p for p, _ in chosen], code, target,
                              gain=float(np.mean([g for _, g in chosen]))))
    return moves
