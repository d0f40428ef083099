"""The compiled and array forms of the organisations' rounds give the same numbers, bit for bit.

The coalition game, the trust updates and the hospitals' cut-offs have compiled or
vectorised forms (``ccgabm.coalition_kernels`` and friends) next to the plain array code they
replace (and keep for worlds below ``COMPILED_MIN_PRACTICES`` practices); these tests compare
the two on random inputs, including inputs where the compiled search must fall back to the
array code.
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest
from support import small_config

from ccgabm import coalition_kernels as kernels
from ccgabm.agents.hospital import Hospital, treatment_cutoffs
from ccgabm.behaviours.trust import TrustNetwork, TrustParams
from ccgabm.coalitions import (
    SEEDS,
    NewGroupFinance,
    Rules,
    _trust_in_product,
    all_best_neighbours,
    best_neighbours,
    core_stable,
    first_coalition,
    first_coalitions,
    greedy_coalition,
    least_satisfied,
    trust_in_groups,
    trust_in_matrix,
)
from ccgabm.core import levers_of
from ccgabm.model import CommissioningModel


@pytest.fixture(autouse=True)
def compiled_everywhere(monkeypatch):
    """The compiled forms run here even for these small worlds."""
    monkeypatch.setattr(kernels, "COMPILED_MIN_PRACTICES", 0)


def world(seed: int, n: int = 60, low: float = 0.03):
    rng = np.random.default_rng(seed)
    trust = rng.uniform(low, 1.0, (n, n)).astype(np.float32)
    np.fill_diagonal(trust, 1.0)
    sizes = rng.integers(0, 3000, n)
    return rng, trust, sizes


def plain(finance: NewGroupFinance):
    """The same finance term as a plain function: the array code runs."""
    return lambda population: finance(population)


def assert_searches_agree(members, trust, stay, sizes, finance, switching_cost, rules) -> None:
    """From every member, the compiled search finds the coalition the array code finds (or none)."""
    for p in members.tolist():
        fast = first_coalition([p], members, trust, stay, sizes, finance, switching_cost, rules)
        slow = greedy_coalition(p, members, trust, stay, sizes, plain(finance), switching_cost, rules)
        assert (fast is None) == (slow is None)
        if fast is not None:
            assert np.array_equal(fast, slow)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("m", [5, 12, 30])
def test_coalition_search_compiled_equals_array_code(seed, m):
    rng, trust, sizes = world(seed)
    members = rng.choice(len(sizes), m, replace=False)
    stay = np.full(len(sizes), np.nan)
    stay[members] = rng.uniform(0.2, 0.9, m)
    finance = NewGroupFinance(rng.normal(0, 0.05), float(sizes[members].sum()), 9000.0, 1000.0, 0.1)
    barred = rng.random(len(sizes)) < 0.2 if seed % 3 == 0 else None
    rules = Rules(min_size=2, min_population=float(rng.integers(0, 2000)), cap_share=0.5,
                  source_minimum=float(rng.integers(0, 3000)), barred=barred)
    assert_searches_agree(members, trust, stay, sizes, finance, 0.05, rules)
    assert core_stable(members, trust, stay, sizes, finance, 0.05, rules) == core_stable(
        members, trust, stay, sizes, plain(finance), 0.05, rules)


def test_coalition_search_falls_back_when_sums_may_round():
    rng, trust, sizes = world(3, low=0.0)
    trust[trust < 0.5] = np.float32(1e-30)  # units far below the largest sums: not exact
    members = np.arange(20)
    stay = np.full(len(sizes), 0.3)
    finance = NewGroupFinance(0.0, float(sizes[members].sum()), 9000.0, 1000.0, 0.1)
    rules = Rules()
    assert_searches_agree(members, trust, stay, sizes, finance, 0.0, rules)


def test_trust_in_groups_agrees_with_the_blas_product():
    """Above the size where BLAS leaves its small-matrix kernels, the compiled sums are the
    float32 product's, in the compiled code's own fixed order: bit for bit where the BLAS sums in
    that order (OpenBLAS's AVX-512 kernels), to a few float32 roundings elsewhere; entries not
    wanted are NaN."""
    rng, trust, sizes = world(5, n=150)
    assert kernels.BLAS_ORDER_MIN_MNK < 150 * 150 * 60
    labels = rng.integers(0, 60, len(sizes))
    groups = {f"G{j}": np.flatnonzero(labels == j) for j in range(60)}
    weights = np.maximum(sizes, 1).astype(float)
    expected = _trust_in_product(trust, groups, weights)
    every = trust_in_groups(trust, groups, sizes)
    some = trust_in_groups(trust, groups, sizes, {c: m for c, m in groups.items()})
    for c, m in groups.items():
        np.testing.assert_allclose(every[c], expected[:, list(groups).index(c)], rtol=1e-5, atol=0)
        assert np.array_equal(some[c][m], every[c][m])
        assert np.isnan(np.delete(some[c], m)).all()


@pytest.mark.parametrize("seed", range(8))
def test_coalition_searches_of_all_groups_at_once_equal_one_by_one(seed):
    """``first_coalitions`` (every group in one compiled call, groups whose sums may round
    left to the array code) finds, group by group, what the array code finds."""
    rng, trust, sizes = world(seed, n=120)
    labels = rng.integers(0, 6, len(sizes))
    groups = {f"G{j}": np.flatnonzero(labels == j) for j in range(6)}
    groups["G6"] = np.zeros(0, dtype=np.int64)
    if seed % 2:
        trust[np.ix_(groups["G0"], groups["G0"])] = np.float32(1e-30)  # sums may round
    stay = np.full(len(sizes), np.nan)
    for members in groups.values():
        stay[members] = rng.uniform(0.2, 0.8, len(members)) + 0.1 * (seed % 4)
    finance = {c: NewGroupFinance(rng.normal(0, 0.05), float(sizes[m].sum()), 9000.0, 1000.0, 0.1)
               for c, m in groups.items()}
    barred = rng.random(len(sizes)) < 0.2 if seed % 3 == 0 else None
    rules = Rules(min_size=2, min_population=float(rng.integers(0, 2000)), cap_share=0.5,
                  source_minimum=float(rng.integers(0, 3000)), barred=barred)
    found = first_coalitions(groups, trust, stay, sizes, finance.get, 0.0, rules)
    assert list(found) == list(groups)
    for c, members in groups.items():
        slow = first_coalition(least_satisfied(members, stay)[:SEEDS], members, trust, stay, sizes,
                               plain(finance[c]), 0.0, rules)
        assert (found[c] is None) == (slow is None)
        if slow is not None:
            assert np.array_equal(found[c], slow)
        assert core_stable(members, trust, stay, sizes, finance[c], 0.0, rules, searched=True,
                           found=found[c]) == core_stable(members, trust, stay, sizes,
                                                          plain(finance[c]), 0.0, rules)


@pytest.mark.parametrize("seed", range(4))
def test_searches_with_the_trust_in_extremes_equal_those_testing_exactness_themselves(seed):
    """The exactness ``trust_in_matrix`` finds on the way (``extremes``) is what each search
    would find itself (``_exact_units``), so ``first_coalitions`` finds the same coalitions."""
    rng, trust, sizes = world(seed, n=150)
    labels = rng.integers(0, 50, len(sizes))
    groups = {f"G{j}": np.flatnonzero(labels == j) for j in range(50)}
    groups["G50"] = np.zeros(0, dtype=np.int64)
    trust[np.ix_(groups["G0"], groups["G0"])] = np.float32(1e-30)  # sums may round
    trust[groups["G1"][0], groups["G1"][-1]] = 0.0
    if seed % 2:
        sizes[labels == 2] = 0
    extremes = np.empty((len(sizes), 2))
    trust_in_matrix(trust, groups, sizes, extremes=extremes)
    assert not np.isnan(extremes).any()
    flat = np.concatenate(list(groups.values())).astype(np.int64)
    start = np.concatenate([[0], np.cumsum([len(m) for m in groups.values()])]).astype(np.int64)
    known = kernels.exact_groups(extremes, flat, start, sizes.astype(np.int64))
    for g, members in enumerate(groups.values()):
        weight = float(np.maximum(sizes[members], 1).sum())
        assert known[g] == kernels._exact_units(trust, members.astype(np.int64),
                                                members.astype(np.int64), weight)
    assert known[0] == 0 and known.sum() > 40
    stay = np.full(len(sizes), np.nan)
    for members in groups.values():
        stay[members] = rng.uniform(0.2, 0.6, len(members))
    finance = {c: NewGroupFinance(rng.normal(0, 0.05), float(sizes[m].sum()), 9000.0, 1000.0, 0.1)
               for c, m in groups.items()}
    rules = Rules(min_size=2, min_population=500.0, cap_share=0.5, source_minimum=1000.0)
    quick = first_coalitions(groups, trust, stay, sizes, finance.get, 0.0, rules,
                             extremes=extremes)
    tested = first_coalitions(groups, trust, stay, sizes, finance.get, 0.0, rules)
    assert any(f is not None for f in tested.values())
    for c in groups:
        assert (quick[c] is None) == (tested[c] is None)
        if tested[c] is not None:
            assert np.array_equal(quick[c], tested[c])


def test_best_neighbours_of_all_groups_equal_group_by_group():
    rng = np.random.default_rng(4)
    n = 80
    labels = rng.integers(0, 7, n)
    groups = {f"G{j}": np.flatnonzero(labels == j) for j in range(7)}
    groups["G7"] = np.zeros(0, dtype=np.int64)
    neighbours = {"G0": {"G1", "G2", "G7"}, "G1": {"G0", "G2", "G3"}, "G2": {"G0", "G1"},
                  "G3": {"G1", "G4", "G5", "G6"}, "G4": {"G3"}, "G5": set(), "G6": {"G7"}}
    matrix = rng.integers(0, 4, (n, len(groups))) / 4.0  # ties
    matrix[rng.random(matrix.shape) < 0.05] = np.nan
    trust_in = {c: matrix[:, j] for j, c in enumerate(groups)}
    finance = {c: float(rng.integers(0, 2)) / 8 for c in groups}
    every = all_best_neighbours(groups, neighbours, matrix, finance, 0.1)
    for c, members in groups.items():
        targets, utility = best_neighbours(members, c, groups, neighbours, trust_in, finance, 0.1)
        assert every[c][0] == targets
        assert np.array_equal(every[c][1], utility, equal_nan=True)


def _column_segments_by_column(members: list[np.ndarray], n: int):
    """``column_segments`` column by column (the reference)."""
    block_of = kernels.gemm_k_blocks(n)
    starts, col_segments, offset = [], [0], 0
    for m in members:
        cut = np.flatnonzero(np.diff(block_of[m])) + 1
        if len(m):
            starts.append(offset + np.concatenate([[0], cut]))
        col_segments.append(col_segments[-1] + (len(cut) + 1 if len(m) else 0))
        offset += len(m)
    starts.append(np.array([offset]))
    return np.concatenate(starts), np.array(col_segments)


def test_trust_in_rows_side_by_side_equal_one_by_one():
    """Rows of one group run four chains side by side, each as it would alone; the K-block
    segments (here three: 512 practices, then the remainder in halves) as column by column."""
    rng, trust, sizes = world(8, n=1300)
    labels = np.sort(rng.integers(0, 40, len(sizes)))  # groups of neighbouring practices
    labels[rng.random(len(sizes)) < 0.1] = 40  # and one scattered across the blocks
    groups = {f"G{j}": np.flatnonzero(labels == j) for j in range(41)}
    groups["G41"] = np.zeros(0, dtype=np.int64)
    members = [np.sort(m) for m in groups.values()]
    flat = np.concatenate(members)
    start = np.concatenate([[0], np.cumsum([len(m) for m in members])])
    for got, expected in zip(kernels.column_segments(flat, start, len(sizes)),
                             _column_segments_by_column(members, len(sizes)), strict=True):
        assert np.array_equal(got, expected)
    wanted = {c: np.flatnonzero(np.abs(labels - j) <= 2) for j, c in enumerate(groups)}
    together = trust_in_matrix(trust, groups, sizes, wanted)
    for i in rng.choice(len(sizes), 60, replace=False):
        alone = trust_in_matrix(trust, groups, sizes,
                                {c: np.intersect1d(w, [i]) for c, w in wanted.items()})
        assert np.array_equal(alone[i], together[i], equal_nan=True)
    assert np.isnan(together).any() and not np.isnan(together[labels == 3][:, 3]).any()


def test_mean_trusts_equal_mean_trust():
    _, trust, sizes = world(7)
    network = TrustNetwork(np.zeros(len(sizes), dtype=int), TrustParams(),
                           np.random.default_rng(1))
    network.trust = trust
    members = np.arange(3, 40)
    fast = network.mean_trusts(members, members, sizes)
    assert np.array_equal(fast, [network.mean_trust(p, members, sizes) for p in members.tolist()])
    rows, others = np.array([0, 1, 2, 45]), np.array([45, 50, 51, 52])
    assert np.array_equal(network.mean_trusts(rows, others, sizes),
                          [network.mean_trust(p, others, sizes) for p in rows.tolist()])


def test_decay_equals_the_array_formula():
    rng, trust, _ = world(11, n=50)
    cfg = TrustParams()
    network = TrustNetwork(np.zeros(50, dtype=int), cfg, rng)
    network.trust = trust.copy()
    groups = [np.arange(0, 20), np.arange(20, 35), np.array([40, 45])]
    network.decay(groups)
    rate, outside = np.float32(cfg.trust_decay), np.float32(cfg.trust_outside)
    expected = trust * (np.float32(1.0) - rate)
    expected += rate * outside
    for members in groups:
        expected[np.ix_(members, members)] += rate * (np.float32(cfg.initial_trust) - outside)
    np.fill_diagonal(expected, 1.0)
    assert np.array_equal(network.trust, expected)


@pytest.mark.parametrize("seed", range(4))
def test_year_end_in_one_pass_equals_the_steps(seed, monkeypatch):
    """The compiled year end (one pass) gives the array code's shared success, unfairness
    and drift, bit for bit."""
    rng, trust, _ = world(seed, n=70)
    cfg = TrustParams(fairness_weight=0.4, trust_decay=0.15)
    groups = [np.arange(0, 20), rng.permutation(np.arange(20, 45)), np.array([50, 47, 60]),
              np.zeros(0, dtype=np.int64), np.array([66])]  # 45-46, 48-49, ... in no group
    success = [True, False, False, False, True]
    spend = [None, rng.uniform(0.2, 3.0, 25), rng.uniform(0.2, 3.0, 3), None, None]
    if seed % 2:
        spend[1] = None  # a group in deficit without spend figures: only the drift
    fast = TrustNetwork(np.zeros(70, dtype=int), cfg, rng)
    fast.trust = trust.copy()
    fast.year_end(groups, success, spend)
    monkeypatch.setattr(kernels, "COMPILED_MIN_PRACTICES", 10**9)
    slow = TrustNetwork(np.zeros(70, dtype=int), cfg, rng)
    slow.trust = trust.copy()
    slow.year_end(groups, success, spend)
    assert np.array_equal(fast.trust, slow.trust)
    assert not np.array_equal(fast.trust, trust)


def test_hospital_cutoffs_at_once_equal_one_by_one():
    rng = np.random.default_rng(2)
    hists = rng.integers(0, 50, (30, 256))
    hists[:5, 100:] = 0
    capacity = rng.uniform(0, 3000, 30)
    capacity[0], capacity[1] = 0.0, 1e9
    cuts, shares = treatment_cutoffs(hists, capacity)
    for h in range(30):
        hospital = Hospital.__new__(Hospital)
        hospital.waiting_hist, hospital.monthly_capacity = hists[h], capacity[h]
        assert (cuts[h], shares[h]) == hospital.treatment_cutoff()


def test_trust_block_add_equals_array_formula():
    rng, trust, _ = world(13, n=40)
    network = TrustNetwork(np.zeros(40, dtype=int), TrustParams(), rng)
    network.trust = trust.copy()
    losers, winners = np.array([3, 9, 17]), np.array([9, 20, 21, 30])
    network.lost_vote(losers, winners)
    expected = trust.copy()
    idx = np.ix_(losers, winners)
    expected[idx] = np.clip(expected[idx] - TrustParams().vote_loss_penalty, 0.0, 1.0)
    np.fill_diagonal(expected, 1.0)
    assert np.array_equal(network.trust, expected)


def test_cached_member_rows_and_levers_follow_moves_and_decisions():
    model = CommissioningModel(small_config(**{"region.n_groups": 2, "region.n_hospitals": 2}),
                               seed=1)
    groups, rows = model.member_rows()
    practice = groups[0].members[0]
    assert rows[practice.index] == 0
    before = levers_of(model)
    model.move_practices([practice], groups[1], reason="test")
    groups[1].forecast_deficit_share = 0.3
    groups[1].set_levers()  # the overspend response lowers referrals
    assert model.member_rows()[1][practice.index] == 1
    cached = levers_of(model)
    model._member_rows = model._member_levers = None  # recomputed from scratch
    fresh = levers_of(model)
    for field in fields(fresh):
        assert np.array_equal(getattr(cached, field.name), getattr(fresh, field.name))
    other = groups[1].members[0].index
    assert cached.refer[other] < before.refer[other]
    assert cached.hospital[practice.index] == groups[1].hospital.index


def test_unfairness_equals_array_formula():
    rng, trust, _ = world(17, n=40)
    cfg = TrustParams()
    network = TrustNetwork(np.zeros(40, dtype=int), cfg, rng)
    network.trust = trust.copy()
    members = np.array([2, 5, 7, 11, 30])
    spend = rng.uniform(0.5, 2.0, len(members))
    network.unfairness(members, spend)
    rel = spend / max(float(np.mean(spend)), 1e-12)
    gap = np.clip(rel[None, :] - rel[:, None], 0.0, None)
    idx = np.ix_(members, members)
    expected = trust.copy()
    expected[idx] = np.clip(expected[idx] - cfg.fairness_weight * gap, 0.0, 1.0)
    assert np.array_equal(network.trust, expected)


@pytest.mark.parametrize("noise_sd", [0.05, 0.5])
def test_starting_trust_equals_the_array_formula(noise_sd):
    """The starting matrix: one normal draw per entry in row-major order, cast to float32,
    plus trust inside or outside, clipped (the numpy expression, one (n, n) draw, and the
    generator left where that draw leaves it); built in a background thread it is the same."""
    from ccgabm.behaviours import trust as trust_module

    group_ids = np.repeat(np.arange(7), 23)[:150]
    cfg = TrustParams(trust_noise_sd=noise_sd)
    n = len(group_ids)
    numpys = np.random.default_rng(3)
    expected = numpys.normal(0.0, noise_sd, (n, n)).astype(np.float32)
    expected += np.where(group_ids[:, None] == group_ids[None, :],
                         np.float32(cfg.initial_trust), np.float32(cfg.trust_outside))
    np.clip(expected, 0.0, 1.0, out=expected)
    np.fill_diagonal(expected, 1.0)
    ours = np.random.default_rng(3)
    direct = TrustNetwork(group_ids, cfg, ours)
    assert direct.trust.dtype == np.float32
    assert np.array_equal(direct.trust, expected)
    assert ours.bit_generator.state == numpys.bit_generator.state  # left where numpy leaves it
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(trust_module, "BACKGROUND_ENTRIES", 0)
        built = TrustNetwork(group_ids, cfg, np.random.default_rng(3), background=True)
        assert built._building is not None
        assert np.array_equal(built.trust, expected)


def test_the_wait_for_a_background_trust_matrix_is_timed(monkeypatch):
    """What the model waited for the background build is kept (``ccgabm bench`` shows it)."""
    import time

    from ccgabm.behaviours import trust as trust_module

    build = trust_module._starting

    def slow(*args):
        time.sleep(0.3)
        return build(*args)

    monkeypatch.setattr(trust_module, "BACKGROUND_ENTRIES", 0)
    monkeypatch.setattr(trust_module, "_starting", slow)
    network = TrustNetwork(np.zeros(20, dtype=int), TrustParams(), np.random.default_rng(1),
                           background=True)
    assert network.waited_s == 0.0
    assert network.trust.shape == (20, 20)  # waits for the build
    assert 0.1 < network.waited_s < 5.0
