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
    NewGroupFinance,
    Rules,
    _trust_in_product,
    core_stable,
    first_coalition,
    greedy_coalition,
    trust_in_groups,
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
