"""Compiled kernels of the hedonic game (``ccgabm.coalitions``), with the arithmetic of the
array code they replace (the other kernels return exactly what their NumPy expressions do):

- ``trust_in_blocked``: the float32 product ``trust @ membership`` of ``trust_in_groups`` for
  worlds large enough that OpenBLAS runs its threaded GEMM (``BLAS_ORDER_MIN_MNK``), in one
  fixed order on every machine: each entry is a chain of fused multiply-adds over the
  practices in index order, in K-blocks of ``GEMM_K_BLOCK`` (the last two blocks split in
  halves), the blocks' partial sums added in float32. That is the order of OpenBLAS's SkylakeX
  (AVX-512) SGEMM kernels, so there it returns the BLAS product bit for bit; a BLAS that sums in
  another order differs in the last bits. Unlike the BLAS call it depends neither on the
  machine nor on the BLAS thread count, and it computes only the entries asked for. It also
  gives what the coalition searches' exactness test needs (``extremes``), read while each row
  is in the cache rather than again by each search;
- ``first_coalition`` and ``any_subset_blocks``: the coalition search and the exact blocking check on
  float64 sums of trust x list size. Such a sum is exact, whatever the order of its terms,
  when every term is a multiple of the smallest trust's unit in the last place and the sum of
  list sizes stays below 2**53 such units (``_exact_units``); then the result equals the BLAS
  matrix-vector product bit for bit. When that cannot be guaranteed the kernel says so
  (``INEXACT``) and the caller falls back to the array code;
- ``mean_trust_rows``: mean trusts the same way (``TrustNetwork.mean_trusts``);
- ``first_coalitions``: ``first_coalition`` for every group at once, and ``best_options``: every
  group's ``coalitions.best_neighbours`` (the same comparisons, in the same order).

Worlds of fewer than ``COMPILED_MIN_PRACTICES`` practices keep the array code (trust updates
in ``ccgabm.behaviours.trust`` included).
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, prange
from numba.core import cgutils, types
from numba.extending import intrinsic

# OpenBLAS interface/gemm.c: products of at most 100^3 multiply-adds go to the small-matrix
# kernels (a different summation order); the array code keeps them.
BLAS_ORDER_MIN_MNK = 100.0 * 100.0 * 100.0
# The compiled sums' fixed order: blocks of 512 practices, as OpenBLAS param.h's SGEMM_DEFAULT_Q
# for its SkylakeX (AVX-512) kernels; the same on every machine.
GEMM_K_BLOCK = 512
# Worlds of fewer practices keep the array code: it is as fast there, and loading compiled
# code from numba's cache costs more than it saves (assumed from timings: about 10 ms a kernel).
COMPILED_MIN_PRACTICES = 1000


def compiled_for(n_practices: int) -> bool:
    """Whether a world of ``n_practices`` practices runs these kernels (else the array code)."""
    return n_practices >= COMPILED_MIN_PRACTICES

FOUND, NONE, INEXACT = 1, 0, -1


@intrinsic
def _fma32(typingctx, a, b, c):
    """``a * b + c`` in float32 with one rounding (LLVM's fma intrinsic)."""
    sig = types.float32(types.float32, types.float32, types.float32)

    def codegen(context, builder, signature, args):
        f = ir.FloatType()
        fn = builder.module.declare_intrinsic("llvm.fma", [f], ir.FunctionType(f, [f, f, f]))
        return builder.call(fn, args)

    return sig, codegen


def gemm_k_blocks(k: int) -> np.ndarray:
    """Block number of each of ``k`` summation indices in OpenBLAS's threaded GEMM driver
    (driver/level3/level3_thread.c): blocks of ``GEMM_K_BLOCK``; a remainder between one
    and two blocks is split in two halves (the first rounded up)."""
    out = np.zeros(k, dtype=np.int64)
    start, block = 0, 0
    while start < k:
        size = k - start
        if size >= 2 * GEMM_K_BLOCK:
            size = GEMM_K_BLOCK
        elif size > GEMM_K_BLOCK:
            size = (size + 1) // 2
        out[start:start + size] = block
        start += size
        block += 1
    return out


@intrinsic
def _prefetch(typingctx, array, index):
    """Ask the cache for ``array[index]`` (LLVM's prefetch intrinsic: a read, kept in every
    level); changes no value."""
    sig = types.void(array, index)

    def codegen(context, builder, signature, args):
        array_type = signature.args[0]
        view = context.make_array(array_type)(context, builder, args[0])
        pointer = cgutils.get_item_pointer(context, builder, array_type, view, [args[1]],
                                           wraparound=False)
        byte, word = ir.IntType(8).as_pointer(), ir.IntType(32)
        fn = builder.module.declare_intrinsic(
            "llvm.prefetch", [byte], ir.FunctionType(ir.VoidType(), [byte, word, word, word]))
        builder.call(fn, [builder.bitcast(pointer, byte), word(0), word(3), word(1)])
        return context.get_dummy_value()

    return sig, codegen


@njit(parallel=True, cache=True)
def trust_in_blocked(trust, col_members, col_weights, segment_start, col_segments, row_start,
                     row_cols, group_of, weights, col_totals, out, extremes):
    """For each row i and each column j it wants (``row_cols[row_start[i]:row_start[i+1]]``):
    the float32 sum over the members k of column j of ``trust[i, k] * weight[k]`` in
    OpenBLAS's order, made a mean into ``out[i, j]`` (``_mean_of``). Column j's members
    (ascending) and their float32 weights are ``col_members`` and ``col_weights`` at the
    positions of its K-block segments ``col_segments[j]:col_segments[j+1]``, segment s covering
    ``segment_start[s]:segment_start[s+1]``: a chain of fused multiply-adds within a segment,
    the segments' sums added in float32.

    Rows go in blocks of four: the entries they read are prefetched first, and a block whose
    rows want the same columns (members of one group do) runs their four chains side by side
    (independent chains hide the multiply-adds' latency), each in its own order.

    Unless ``extremes`` is empty, row i's ``extremes[i]`` is (the smallest nonzero, the
    largest) absolute trust of i in the members of its own column ``group_of[i]`` ((inf, 0)
    for a row in no column): ``_exact_units`` over a group's members from its members' rows."""
    n = len(row_start) - 1
    for b in prange((n + 3) // 4):
        first = 4 * b
        last = min(first + 4, n)
        for i in range(first, last):
            row = trust[i]
            for r in range(row_start[i], row_start[i + 1]):
                j = row_cols[r]
                for t in range(segment_start[col_segments[j]], segment_start[col_segments[j + 1]]):
                    _prefetch(row, col_members[t])
        if last - first == 4 and _same_columns(row_start, row_cols, first, 4):
            _sum_four_rows(trust, col_members, col_weights, segment_start, col_segments,
                           row_start, row_cols, first, group_of, weights, col_totals, out)
        else:
            for i in range(first, last):
                row = trust[i]
                for r in range(row_start[i], row_start[i + 1]):
                    j = row_cols[r]
                    c = np.float32(0.0)
                    for s in range(col_segments[j], col_segments[j + 1]):
                        acc = np.float32(0.0)
                        for t in range(segment_start[s], segment_start[s + 1]):
                            acc = _fma32(row[col_members[t]], col_weights[t], acc)
                        c = c + acc
                    out[i, j] = _mean_of(trust, i, j, c, group_of, weights, col_totals)
        if len(extremes):
            for i in range(first, last):
                _row_extremes(trust[i], group_of[i], col_members, segment_start, col_segments,
                              extremes[i])


@njit(cache=True)
def _row_extremes(row, j, col_members, segment_start, col_segments, out):
    """``out`` = (smallest nonzero, largest) of ``abs(row)`` over column j's members ((inf,
    0) for j < 0)."""
    smallest = np.inf
    largest = 0.0
    if j >= 0:
        for t in range(segment_start[col_segments[j]], segment_start[col_segments[j + 1]]):
            v = abs(np.float64(row[col_members[t]]))
            if v != 0:
                smallest = min(smallest, v)
                largest = max(largest, v)
    out[0] = smallest
    out[1] = largest


@njit(cache=True)
def _mean_of(trust, i, j, total, group_of, weights, col_totals):
    """Row i's mean over column j from its float32 ``total``: in float64, less its trust in
    itself (weighted) where j is its own group (``group_of``), over the column's weight
    (``col_totals``) less its own there; 0 when that is not positive."""
    numer = np.float64(total)
    denom = col_totals[j]
    if group_of[i] == j:
        numer -= np.float64(trust[i, i]) * weights[i]
        denom -= weights[i]
    return numer / denom if denom > 0 else 0.0


@njit(cache=True)
def rows_first(flat_rows, flat_cols, n):
    """For ``trust_in_blocked``: the (row, column) pairs wanted by row, each row's columns in
    their order in ``flat_cols`` (``row_start``, closed by the total; ``row_cols``)."""
    row_start = np.zeros(n + 1, dtype=np.int64)
    for r in flat_rows:
        row_start[r + 1] += 1
    for i in range(n):
        row_start[i + 1] += row_start[i]
    fill = row_start[:-1].copy()
    row_cols = np.empty(len(flat_rows), dtype=np.int64)
    for t in range(len(flat_rows)):
        r = flat_rows[t]
        row_cols[fill[r]] = flat_cols[t]
        fill[r] += 1
    return row_start, row_cols


@njit(cache=True)
def _same_columns(row_start, row_cols, first, count):
    """Whether rows ``first`` .. ``first + count - 1`` want the same columns in the same order."""
    k = row_start[first + 1] - row_start[first]
    for q in range(1, count):
        start = row_start[first + q]
        if row_start[first + q + 1] - start != k:
            return False
        for x in range(k):
            if row_cols[start + x] != row_cols[row_start[first] + x]:
                return False
    return True


@njit(cache=True)
def _sum_four_rows(trust, col_members, col_weights, segment_start, col_segments, row_start,
                   row_cols, first, group_of, weights, col_totals, out):
    """``trust_in_blocked``'s entries for rows ``first`` .. ``first + 3``, which want the same
    columns: four independent chains, each in the order of one row alone."""
    ra, rb, rc, rd = trust[first], trust[first + 1], trust[first + 2], trust[first + 3]
    for x in range(row_start[first + 1] - row_start[first]):
        j = row_cols[row_start[first] + x]
        ca = cb = cc = cd = np.float32(0.0)
        for s in range(col_segments[j], col_segments[j + 1]):
            aa = ab = ac = ad = np.float32(0.0)
            for t in range(segment_start[s], segment_start[s + 1]):
                m = col_members[t]
                w = col_weights[t]
                aa = _fma32(ra[m], w, aa)
                ab = _fma32(rb[m], w, ab)
                ac = _fma32(rc[m], w, ac)
                ad = _fma32(rd[m], w, ad)
            ca = ca + aa
            cb = cb + ab
            cc = cc + ac
            cd = cd + ad
        out[first, j] = _mean_of(trust, first, j, ca, group_of, weights, col_totals)
        out[first + 1, j] = _mean_of(trust, first + 1, j, cb, group_of, weights, col_totals)
        out[first + 2, j] = _mean_of(trust, first + 2, j, cc, group_of, weights, col_totals)
        out[first + 3, j] = _mean_of(trust, first + 3, j, cd, group_of, weights, col_totals)


def column_segments(members: np.ndarray, member_start: np.ndarray,
                    n: int) -> tuple[np.ndarray, np.ndarray]:
    """For ``trust_in_blocked``: where each column's K-block segments start in the flat member
    list ``members`` (column j's ascending at ``member_start[j]:member_start[j+1]``;
    ``segment_start``, closed by the total) and each column's first segment (``col_segments``,
    closed by the number of segments)."""
    block = gemm_k_blocks(n)[members]
    first = np.zeros(len(members), dtype=bool)
    first[member_start[:-1][np.diff(member_start) > 0]] = True  # a column's first member
    first[1:] |= block[1:] != block[:-1]
    segment_start = np.append(np.flatnonzero(first), len(members)).astype(np.int64)
    col_segments = np.searchsorted(segment_start[:-1], member_start).astype(np.int64)
    return segment_start, col_segments


@njit(cache=True)
def best_options(trust_in, members, group_start, option_start, option_cols, finance,
                 switching_cost):
    """``coalitions.best_neighbours`` of every group g (members ``members[group_start[g]:
    group_start[g+1]]``, options the columns ``option_cols[option_start[g]:option_start[g+1]]``
    of ``trust_in`` and ``finance``): each member's utility ``(trust_in + finance) -
    switching_cost`` in its best option and that option's place in its group's list (the
    first of equals, a NaN taken first, as ``np.argmax``); -inf and 0 without options."""
    best = np.zeros(len(members), dtype=np.int64)
    value = np.full(len(members), -np.inf)
    for g in range(len(group_start) - 1):
        for a in range(group_start[g], group_start[g + 1]):
            p = members[a]
            for o in range(option_start[g + 1] - option_start[g]):
                j = option_cols[option_start[g] + o]
                u = (trust_in[p, j] + finance[j]) - switching_cost
                if np.isnan(u):
                    best[a], value[a] = o, u
                    break
                if o == 0 or u > value[a]:
                    best[a], value[a] = o, u
    return best, value


@njit(cache=True)
def _exact_units(trust, rows, cols, weight_total):
    """Whether every sum over ``cols`` of ``trust[row, col] * weight`` (integer weights
    totalling ``weight_total``, trust in [0, 1]) is exact in float64 in any order."""
    smallest = np.inf
    largest = 1.0
    for i in rows:
        for k in cols:
            t = abs(np.float64(trust[i, k]))
            if t != 0:
                smallest = min(smallest, t)
                largest = max(largest, t)
    return _exact_bound(smallest, largest, weight_total)


@njit(cache=True)
def _exact_bound(smallest, largest, weight_total):
    """``_exact_units`` from the smallest nonzero and the largest (at least 1) absolute trust."""
    lowest = min(math.frexp(smallest)[1], 1) if smallest < np.inf else 1
    return largest * weight_total < 2.0 ** (29 + lowest)


@njit(cache=True)
def exact_groups(extremes, members, group_start, list_sizes):
    """For each group g (members ``members[group_start[g]:group_start[g+1]]``, ``extremes``
    by practice as ``trust_in_blocked`` gives them): 1 when its coalition searches' sums are
    exact (what ``first_coalition``'s own test finds), else 0."""
    known = np.zeros(len(group_start) - 1, dtype=np.int64)
    for g in range(len(group_start) - 1):
        smallest = np.inf
        largest = 1.0
        weight_total = 0.0
        for a in range(group_start[g], group_start[g + 1]):
            p = members[a]
            smallest = min(smallest, extremes[p, 0])
            largest = max(largest, extremes[p, 1])
            weight_total += max(list_sizes[p], 1)
        known[g] = 1 if _exact_bound(smallest, largest, weight_total) else 0
    return known


@njit(cache=True)
def mean_trust_rows(trust, rows, cols, weights):
    """For each practice p of ``rows``: its mean trust in the practices of ``cols`` other than
    itself, weighted by ``weights[q]`` (the float64 value ``np.average`` gives; 0 when there
    are no others), or an empty array when the sums cannot be guaranteed exact."""
    weight_total = 0.0
    for k in cols:
        weight_total += weights[k]
    if not _exact_units(trust, rows, cols, weight_total):
        return np.zeros(0)
    out = np.empty(len(rows))
    for a in range(len(rows)):
        i = rows[a]
        numer = 0.0
        denom = 0.0
        for k in cols:
            if k != i:
                numer += np.float64(trust[i, k]) * weights[k]
                denom += weights[k]
        out[a] = numer / denom if denom > 0 else 0.0
    return out


@njit(cache=True)
def new_finance(population, parent_finance, reference, fixed, per_head, weight):
    """``FinanceOf`` of a group at one population (``coalitions.new_group_finance`` plus the
    parent's finance term)."""
    extra = fixed / max(population, 1.0) - fixed / max(reference, 1.0)
    term = -weight * extra / 100.0 if per_head > 0 else 0.0 * extra
    return parent_finance + term


@njit(cache=True)
def _allows(population, size, total, barred_population, min_size, min_population, cap_share,
            source_minimum):
    remaining_ok = (total - population >= source_minimum) or (total < source_minimum)
    return (size >= min_size and population >= min_population and population <= cap_share * total
            and remaining_ok and not (barred_population > population / 2.0))


@njit(cache=True)
def first_coalition(seeds, members, trust, stay, list_sizes, barred, finance, switching_cost,
                    rules, known=-1):
    """``coalitions.greedy_coalition`` compiled, tried from each of ``seeds`` in turn:
    (FOUND, the first coalition found), (NONE, empty) or (INEXACT, empty). ``stay`` is indexed
    by practice, ``barred`` a bool per practice (all false when none is barred), ``finance``
    and ``rules`` tuples: (parent finance, parent population, fixed cost, per-head budget,
    weight) and (min size, min population, cap share, source minimum). ``known``: whether the
    sums are exact when already tested (1, 0; ``exact_groups``), -1 to test them here."""
    empty = np.zeros(0, dtype=np.int64)
    total_int = 0
    weight_total = 0.0
    for p in members:
        total_int += list_sizes[p]
        weight_total += max(list_sizes[p], 1)
    if known == 0 or (known < 0 and not _exact_units(trust, members, members, weight_total)):
        return INEXACT, empty
    for seed in seeds:
        coalition = _grow(seed, members, float(total_int), trust, stay, list_sizes, barred,
                          finance, switching_cost, rules)
        if len(coalition):
            return FOUND, coalition
    return NONE, empty


@njit(cache=True)
def _grow(seed, members, total, trust, stay, list_sizes, barred, finance, switching_cost, rules):
    """One greedy search around ``seed`` (empty: none found)."""
    min_size, min_population, cap_share, source_minimum = rules
    empty = np.zeros(0, dtype=np.int64)
    # the other members by mutual trust, most trusted first (ties in member order): an
    # insertion sort, stable as the array code's
    coalition = np.empty(len(members) + 1, dtype=np.int64)
    ranked = np.empty(len(members), dtype=np.float32)
    n = 0
    for p in members:
        if p == seed:
            continue
        mutual = (trust[seed, p] + trust[p, seed]) / np.float32(2.0)
        j = n
        while j > 0 and ranked[j - 1] < mutual:
            ranked[j] = ranked[j - 1]
            coalition[j + 1] = coalition[j]
            j -= 1
        ranked[j] = mutual
        coalition[j + 1] = p
        n += 1
    if n == 0:
        return empty
    median = (ranked[(n - 1) // 2] + ranked[n // 2]) / np.float32(2.0)
    keep = 0
    while keep < n and ranked[keep] >= median:
        keep += 1
    coalition[0] = seed
    length = keep + 1
    population_int = 0
    for a in range(length):
        population_int += list_sizes[coalition[a]]
    while length > 1 and population_int > cap_share * total:
        length -= 1
        population_int -= list_sizes[coalition[length]]
    coalition = coalition[:length].copy()
    # each member's weighted trust in the others, kept up to date as members are dropped
    # (exact sums, so dropping a term gives what summing afresh would); the others' only once
    # the seed is willing (most searches end there)
    w = np.empty(length)
    weight_total = 0.0
    for a in range(length):
        w[a] = max(list_sizes[coalition[a]], 1)
        weight_total += w[a]
    weighted = np.zeros(length)
    _weigh(trust, coalition, w, weighted, 0, 1)
    summed = False
    u = np.empty(length)
    while length >= min_size:
        population_int = 0
        barred_int = 0
        for a in range(length):
            p = coalition[a]
            population_int += list_sizes[p]
            if barred[p]:
                barred_int += list_sizes[p]
        population = float(population_int)
        if not _allows(population, length, total, float(barred_int), min_size, min_population,
                       cap_share, source_minimum):
            return empty
        f = new_finance(population, finance[0], finance[1], finance[2], finance[3], finance[4])
        if not summed:
            # an unwilling seed ends the search, whatever the others want
            others = weight_total - w[0]
            mean = weighted[0] / others if others > 0 else 0.0
            if (mean + f) - switching_cost <= stay[coalition[0]]:
                return empty
            _weigh(trust, coalition, w, weighted, 1, length)
            summed = True
        any_unwilling = False
        for a in range(length):
            others = weight_total - w[a]
            mean = weighted[a] / others if others > 0 else 0.0
            u[a] = (mean + f) - switching_cost
            if u[a] <= stay[coalition[a]]:
                any_unwilling = True
        if not any_unwilling:
            return coalition[:length].copy()
        if u[0] <= stay[coalition[0]]:
            return empty
        worst = 0
        best = u[0] - stay[coalition[0]]
        for a in range(1, length):
            d = u[a] - stay[coalition[a]]
            if d < best:
                best = d
                worst = a
        gone = coalition[worst]
        for a in range(length):
            if a != worst:
                weighted[a] -= np.float64(trust[coalition[a], gone]) * w[worst]
        weight_total -= w[worst]
        for a in range(worst, length - 1):
            coalition[a] = coalition[a + 1]
            w[a] = w[a + 1]
            weighted[a] = weighted[a + 1]
        length -= 1
    return empty


@njit(cache=True)
def _weigh(trust, coalition, w, weighted, first, last):
    """``weighted[a]`` for members ``first`` .. ``last - 1`` of ``coalition``: the sum over the
    other members b of ``trust[coalition[a], coalition[b]] * w[b]``, in float64."""
    for a in range(first, last):
        i = coalition[a]
        for b in range(len(coalition)):
            if b != a:
                weighted[a] += np.float64(trust[i, coalition[b]]) * w[b]


@njit(cache=True)
def any_subset_blocks(members, trust, stay, list_sizes, barred, finance, switching_cost, rules):
    """``coalitions._any_subset_blocks`` compiled: FOUND if a proper subset the rules allow
    would rather leave, NONE if none, INEXACT if the sums cannot be guaranteed exact."""
    min_size, min_population, cap_share, source_minimum = rules
    m = len(members)
    sizes = np.empty(m)
    w = np.empty(m)
    total = 0.0
    weight_total = 0.0
    for a in range(m):
        sizes[a] = float(list_sizes[members[a]])
        w[a] = max(list_sizes[members[a]], 1)
        total += sizes[a]
        weight_total += w[a]
    if not _exact_units(trust, members, members, weight_total):
        return INEXACT
    for code in range(1, 2**m - 1):
        population = 0.0
        barred_population = 0.0
        weight_in = 0.0
        size = 0
        for a in range(m):
            if (code >> a) & 1:
                population += sizes[a]
                weight_in += w[a]
                size += 1
                if barred[members[a]]:
                    barred_population += sizes[a]
        if not _allows(population, size, total, barred_population, min_size, min_population,
                       cap_share, source_minimum):
            continue
        f = new_finance(population, finance[0], finance[1], finance[2], finance[3], finance[4])
        blocks = True
        for a in range(m):
            if not (code >> a) & 1:
                continue
            i = members[a]
            numer = 0.0
            for b in range(m):
                if b != a and (code >> b) & 1:
                    numer += np.float64(trust[i, members[b]]) * w[b]
            denom = weight_in - w[a]
            mean = numer / denom if denom > 0 else 0.0
            if not ((mean + f) - switching_cost > stay[i]):
                blocks = False
                break
        if blocks:
            return FOUND
    return NONE


@njit(parallel=True, cache=True)
def first_coalitions(members, group_start, seeds, seed_start, trust, stay, list_sizes, barred,
                     finances, switching_cost, rules, known):
    """``first_coalition`` for each group g at once (independently, in parallel): its members
    ``members[group_start[g]:group_start[g+1]]``, its seeds ``seeds[seed_start[g]:
    seed_start[g+1]]``, its finance tuple the row ``finances[g]``, its ``known`` exactness
    ``known[g]``. Returns each group's status and, from its first member's position in a copy
    of ``members``, the coalition found (of ``lengths[g]`` practices)."""
    groups = len(group_start) - 1
    status = np.empty(groups, dtype=np.int64)
    lengths = np.zeros(groups, dtype=np.int64)
    found = np.empty(len(members), dtype=np.int64)
    for g in prange(groups):
        f = finances[g]
        start = group_start[g]
        status[g], coalition = first_coalition(
            seeds[seed_start[g]:seed_start[g + 1]], members[start:group_start[g + 1]], trust,
            stay, list_sizes, barred, (f[0], f[1], f[2], f[3], f[4]), switching_cost, rules,
            known[g])
        lengths[g] = len(coalition)
        found[start:start + len(coalition)] = coalition
    return status, found, lengths
