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

The searches run compiled (``ccgabm.coalition_kernels``, same arithmetic) when the finance
term is a :class:`NewGroupFinance`; the array code here is the reference and the fallback.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ccgabm import coalition_kernels as kernels


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
SEEDS = 8  # members tried as the seed of a leaving coalition, least satisfied first
HEURISTIC_SEEDS = SEEDS  # large groups: the same greedy search (the moves reuse its result)

# Each practice's utility for staying in its group: by practice index (an array, NaN for
# practices in no group) or a mapping from practice index.
Stay = dict[int, float] | np.ndarray

# Finance term of a new group carved out of one group, as a function of its population
# (a number or an array of them): all coalitions searched here come from a single group.
FinanceOf = Callable[[np.ndarray | float], np.ndarray | float]


@dataclass(frozen=True)
class NewGroupFinance:
    """The ``FinanceOf`` of a group: its own finance term plus ``new_group_finance`` against
    its population (what the compiled searches take)."""

    parent_finance: float
    parent_population: float
    fixed_cost: float
    per_head_budget: float
    weight: float

    def __call__(self, population: np.ndarray | float) -> np.ndarray | float:
        return self.parent_finance + new_group_finance(
            population, self.parent_population, self.fixed_cost, self.per_head_budget, self.weight)

    @property
    def params(self) -> tuple[float, float, float, float, float]:
        return (float(self.parent_finance), float(self.parent_population), float(self.fixed_cost),
                float(self.per_head_budget), float(self.weight))


def _compiled_args(trust: np.ndarray, stay_utility: Stay,
                   list_sizes: np.ndarray, finance_of: FinanceOf, rules: Rules):
    """Arguments of the compiled searches, or None where they do not apply (a finance term
    given as a plain function, a trust matrix that is not float32, or a small world)."""
    if (not isinstance(finance_of, NewGroupFinance) or trust.dtype != np.float32
            or not kernels.compiled_for(len(trust))):
        return None
    if isinstance(stay_utility, np.ndarray):
        stay = stay_utility
    else:
        stay = np.full(len(list_sizes), np.nan)
        stay[list(stay_utility)] = list(stay_utility.values())
    barred = rules.barred if rules.barred is not None else np.zeros(len(list_sizes), dtype=bool)
    params = (float(rules.min_size), float(rules.min_population), float(rules.cap_share),
              float(rules.source_minimum))
    return stay, np.asarray(list_sizes, dtype=np.int64), barred, finance_of.params, params


def greedy_coalition(seed: int, members: np.ndarray, trust: np.ndarray,
                     stay_utility: Stay, list_sizes: np.ndarray, finance_of: FinanceOf,
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


def core_stable(members: np.ndarray, trust: np.ndarray, stay_utility: Stay,
                list_sizes: np.ndarray, finance_of: FinanceOf, switching_cost: float,
                rules: Rules, searched: bool = False, found: np.ndarray | None = None) -> bool:
    """True if no coalition of members that the ``rules`` allow to leave blocks the group
    (exact for small groups). ``searched``: ``found`` is the greedy search's result (from the
    ``HEURISTIC_SEEDS`` least satisfied members, ``first_coalitions``) already made."""
    members = np.asarray(members)
    if len(members) <= 1:
        return True
    if searched and len(members) > EXACT_LIMIT:
        return found is None
    compiled = _compiled_args(trust, stay_utility, list_sizes, finance_of, rules)
    if len(members) <= EXACT_LIMIT:
        if compiled is not None:
            stay, sizes, barred, finance, params = compiled
            found = kernels.any_subset_blocks(np.asarray(members, dtype=np.int64), trust, stay,
                                              sizes, barred, finance, float(switching_cost),
                                              params)
            if found != kernels.INEXACT:
                return found == kernels.NONE
        return not _any_subset_blocks(members, trust, stay_utility, list_sizes, finance_of,
                                      switching_cost, rules)
    seeds = least_satisfied(members, stay_utility if compiled is None else compiled[0])
    return first_coalition(seeds[:HEURISTIC_SEEDS], members, trust, stay_utility, list_sizes,
                           finance_of, switching_cost, rules) is None


def first_coalition(seeds: list[int], members: np.ndarray, trust: np.ndarray,
                    stay_utility: Stay, list_sizes: np.ndarray, finance_of: FinanceOf,
                    switching_cost: float, rules: Rules) -> np.ndarray | None:
    """``greedy_coalition`` from each of ``seeds`` in turn: the first coalition found, or None."""
    compiled = _compiled_args(trust, stay_utility, list_sizes, finance_of, rules)
    if compiled is not None:
        stay, sizes, barred, finance, params = compiled
        status, coalition = kernels.first_coalition(
            np.asarray(seeds, dtype=np.int64), np.asarray(members, dtype=np.int64), trust, stay,
            sizes, barred, finance, float(switching_cost), params)
        if status != kernels.INEXACT:
            return coalition if status == kernels.FOUND else None
    for seed in seeds:
        found = greedy_coalition(int(seed), members, trust, stay_utility, list_sizes, finance_of,
                                 switching_cost, rules)
        if found is not None:
            return found
    return None


def first_coalitions(groups: dict[str, np.ndarray], trust: np.ndarray, stay: np.ndarray,
                     list_sizes: np.ndarray, finance_for: Callable[[str], FinanceOf],
                     switching_cost: float, rules: Rules, seeds: int = SEEDS,
                     extremes: np.ndarray | None = None) -> dict[str, np.ndarray | None]:
    """For each group, ``first_coalition`` from its ``seeds`` least satisfied members
    (``least_satisfied``); ``stay`` by practice index, ``finance_for(code)`` the group's
    ``FinanceOf``. Compiled for every group in one call where the searches apply.
    ``extremes``: what ``trust_in_matrix`` gave for these groups, when it did (the searches
    then need not read the groups' trust again to know their sums are exact)."""
    codes = list(groups)
    finances = [finance_for(c) for c in codes]
    found: dict[str, np.ndarray | None] = {}
    if codes and all(isinstance(f, NewGroupFinance) for f in finances):
        compiled = _compiled_args(trust, stay, list_sizes, finances[0], rules)
        if compiled is not None:
            _, sizes, barred, _, params = compiled
            flat, group_start = flatten([groups[c] for c in codes])
            group_id = np.repeat(np.arange(len(codes), dtype=np.int64), np.diff(group_start))
            order = np.lexsort((stay[flat], group_id))  # stable: ties in member order
            first = np.arange(len(flat)) - group_start[group_id] < seeds
            seed_start = np.zeros(len(codes) + 1, dtype=np.int64)
            np.cumsum(np.minimum(np.diff(group_start), seeds), out=seed_start[1:])
            known = (kernels.exact_groups(extremes, flat, group_start, sizes)
                     if extremes is not None and not np.isnan(extremes[0, 0])
                     else np.full(len(codes), -1, dtype=np.int64))
            status, coalitions, lengths = kernels.first_coalitions(
                flat, group_start, flat[order][first], seed_start, trust, stay, sizes, barred,
                np.array([f.params for f in finances], dtype=float), float(switching_cost),
                params, known)
            for g, code in enumerate(codes):
                if status[g] == kernels.FOUND:
                    found[code] = coalitions[group_start[g]:group_start[g] + lengths[g]].copy()
                elif status[g] == kernels.NONE:
                    found[code] = None
    for code, finance_of in zip(codes, finances, strict=True):
        if code not in found:
            members = groups[code]
            found[code] = first_coalition(least_satisfied(members, stay)[:seeds], members, trust,
                                          stay, list_sizes, finance_of, switching_cost, rules)
    return {code: found[code] for code in codes}


def flatten(parts: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``parts`` (arrays of practice indices) end to end as int64, and where each part starts
    (closed by the total)."""
    part_start = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum([len(part) for part in parts], out=part_start[1:])
    flat = (np.concatenate([np.asarray(part, dtype=np.int64) for part in parts]) if parts
            else np.zeros(0, dtype=np.int64))
    return flat, part_start


def least_satisfied(members: np.ndarray, stay_utility: Stay) -> list[int]:
    """``members`` by utility of staying, lowest first (ties in member order)."""
    members = np.asarray(members)
    return members[np.argsort(stay_values(members, stay_utility), kind="stable")].tolist()


def stay_values(members: np.ndarray, stay_utility: Stay) -> np.ndarray:
    """Each of ``members``' utility of staying, in member order (float64)."""
    members = np.asarray(members)
    if isinstance(stay_utility, np.ndarray):
        return stay_utility[members]
    return np.array([stay_utility[int(p)] for p in members.tolist()], dtype=float)


def _any_subset_blocks(members: np.ndarray, trust: np.ndarray, stay_utility: Stay,
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

@dataclass
class Move:
    """Practices leaving ``source`` together for ``target`` (None = a new group)."""

    practices: list[int]
    source: str
    target: str | None
    gain: float = 0.0
    kind: str = field(default="switch")  # "switch" or "new_group"


def trust_in_groups(trust: np.ndarray, groups: dict[str, np.ndarray], list_sizes: np.ndarray,
                    wanted: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """For each group, every practice's list-size-weighted mean trust in its members.

    A practice's trust in itself is left out (it matters for its own group). The sums are
    those of one float32 matrix product ``trust @ membership``; for large worlds they are
    computed only for the practices ``wanted[code]`` lists for each group (default: every
    practice), in the order BLAS sums them (``coalition_kernels.trust_in_blocked``), and the
    other entries are NaN. The columns of ``trust_in_matrix``.
    """
    mean = trust_in_matrix(trust, groups, list_sizes, wanted)
    return {c: mean[:, j] for j, c in enumerate(groups)}


def trust_in_matrix(trust: np.ndarray, groups: dict[str, np.ndarray], list_sizes: np.ndarray,
                    wanted: dict[str, np.ndarray] | None = None,
                    out: np.ndarray | None = None,
                    extremes: np.ndarray | None = None) -> np.ndarray:
    """``trust_in_groups`` side by side: [practice, group], groups in the order of ``groups``;
    written into ``out`` (float64, of that shape) when given, every entry, and returned.

    ``extremes`` (float64 [practice, 2]), when given: where the compiled sums run, each
    practice's smallest nonzero and largest absolute trust in its own group's members ((inf,
    0) for a practice in no group; ``coalition_kernels.trust_in_blocked``), for
    ``first_coalitions``; else NaN."""
    weights = np.maximum(list_sizes, 1).astype(float)
    codes = list(groups)
    n = len(weights)
    if float(n) * n * len(codes) <= kernels.BLAS_ORDER_MIN_MNK or trust.dtype != np.float32:
        if extremes is not None:
            extremes.fill(np.nan)
        mean = _trust_in_product(trust, groups, weights)
        if out is None:
            return mean
        out[...] = mean
        return out
    members = {c: np.sort(np.asarray(groups[c], dtype=np.int64)) for c in codes}
    flat_members, member_start = flatten([members[c] for c in codes])
    member_group = np.repeat(np.arange(len(codes), dtype=np.int64), np.diff(member_start))
    rows = {c: np.arange(n) if wanted is None else wanted[c] for c in codes}
    flat_rows, wanted_start = flatten([rows[c] for c in codes])
    row_start, row_cols = kernels.rows_first(
        flat_rows, np.repeat(np.arange(len(codes), dtype=np.int64), np.diff(wanted_start)), n)
    group_of = np.full(n, -1, dtype=np.int64)
    group_of[flat_members] = member_group
    # sums of integers: exact, so the same whatever the order
    col_totals = np.bincount(member_group, weights=weights[flat_members], minlength=len(codes))
    segment_start, col_segments = kernels.column_segments(flat_members, member_start, n)
    mean = np.empty((n, len(codes))) if out is None else out
    mean.fill(np.nan)
    kernels.trust_in_blocked(trust, flat_members, weights[flat_members].astype(np.float32),
                             segment_start, col_segments, row_start, row_cols, group_of, weights,
                             col_totals, mean,
                             np.zeros((0, 2)) if extremes is None else extremes)
    return mean


def _trust_in_product(trust: np.ndarray, groups: dict[str, np.ndarray],
                      weights: np.ndarray) -> np.ndarray:
    """``trust_in_matrix`` by one BLAS matrix product (small worlds), every entry."""
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
    return np.divide(totals, denoms, out=np.zeros_like(totals), where=denoms > 0)


def stay_utilities(trust: np.ndarray, groups: dict[str, np.ndarray], list_sizes: np.ndarray,
                   finance: dict[str, float],
                   trust_in: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Each practice's utility for staying where it is, by practice index (NaN: in no group)."""
    trust_in = trust_in if trust_in is not None else trust_in_groups(trust, groups, list_sizes)
    stay = np.full(len(list_sizes), np.nan)
    for code, members in groups.items():
        stay[members] = trust_in[code][members] + finance[code]
    return stay


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


def all_best_neighbours(groups: dict[str, np.ndarray], neighbours: dict[str, set[str]],
                        trust_in: np.ndarray, finance: dict[str, float], switching_cost: float
                        ) -> dict[str, tuple[list[str | None], np.ndarray]]:
    """``best_neighbours`` of every group's members at once (compiled for large worlds);
    ``trust_in``: the columns of ``trust_in_groups`` side by side in the order of ``groups``
    (``trust_in_matrix``)."""
    codes = list(groups)
    if not kernels.compiled_for(len(trust_in)):
        columns = {c: trust_in[:, j] for j, c in enumerate(codes)}
        return {c: best_neighbours(groups[c], c, groups, neighbours, columns, finance,
                                   switching_cost) for c in codes}
    column = {c: j for j, c in enumerate(codes)}
    options = {c: [o for o in sorted(neighbours.get(c, ())) if len(groups.get(o, ())) > 0]
               for c in codes}
    option_start = np.zeros(len(codes) + 1, dtype=np.int64)
    np.cumsum([len(options[c]) for c in codes], out=option_start[1:])
    option_cols = np.array([column[o] for c in codes for o in options[c]], dtype=np.int64)
    flat, start = flatten([groups[c] for c in codes])
    best, utility = kernels.best_options(
        trust_in, flat, start, option_start, option_cols,
        np.array([finance[c] for c in codes], dtype=float), float(switching_cost))
    out = {}
    for g, c in enumerate(codes):
        part = slice(start[g], start[g + 1])
        targets = ([options[c][i] for i in best[part].tolist()] if options[c]
                   else [None] * len(groups[c]))
        out[c] = (targets, utility[part])
    return out


def choose_moves(trust: np.ndarray, groups: dict[str, np.ndarray], neighbours: dict[str, set[str]],
                 list_sizes: np.ndarray, finance: dict[str, float], new_finance, switching_cost: float,
                 rules: Rules, trust_in: dict[str, np.ndarray] | None = None,
                 stay: Stay | None = None,
                 best: dict[str, tuple[list[str | None], np.ndarray]] | None = None,
                 found: dict[str, np.ndarray | None] | None = None) -> list[Move]:
    """The moves practices want this year: at most one coalition per group, then moves of
    single practices to the neighbouring group each likes best (grouped by target).

    Coalitions are grown around the ``SEEDS`` least satisfied members of each group.
    ``trust_in``, ``stay`` (an array by practice index), ``best`` (each group's
    ``best_neighbours``) and ``found`` (``first_coalitions``) may be passed in when already
    computed for these groups.
    """
    trust_in = trust_in if trust_in is not None else trust_in_groups(trust, groups, list_sizes)
    stay = stay if stay is not None else stay_utilities(trust, groups, list_sizes, finance, trust_in)
    found = found if found is not None else first_coalitions(
        groups, trust, stay, list_sizes, new_finance, switching_cost, rules)
    moves: list[Move] = []
    for code in sorted(groups):
        members = groups[code]
        taken: set[int] = set()
        finance_of = new_finance(code)
        coalition = found[code]
        if coalition is not None:
            u = coalition_utilities(trust, coalition, list_sizes,
                                    finance_of(float(list_sizes[coalition].sum())))
            gain = float(np.mean(u - switching_cost - [stay[int(p)] for p in coalition]))
            moves.append(Move([int(p) for p in coalition], code, None, gain=gain,
                              kind="new_group"))
            taken.update(int(p) for p in coalition)
        by_target: dict[str, list[tuple[int, float]]] = {}
        targets, utility = best[code] if best is not None else best_neighbours(
            members, code, groups, neighbours, trust_in, finance, switching_cost)
        stays = stay_values(members, stay)
        for a in np.flatnonzero(utility > stays).tolist():  # those who prefer their best option
            p, target = int(members[a]), targets[a]
            if target is not None and p not in taken:
                by_target.setdefault(target, []).append((p, utility[a] - stays[a]))
        for target, chosen in sorted(by_target.items()):
            moves.append(Move([p for p, _ in chosen], code, target,
                              gain=float(np.mean([g for _, g in chosen]))))
    return moves
