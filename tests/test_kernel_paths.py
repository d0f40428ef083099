"""The monthly kernel gives the same results on every path: serial or parallel, any threads."""

from __future__ import annotations

import numba
import numpy as np
import pytest

import ccgabm.population as population_module
from ccgabm import kernels, rng
from ccgabm.config import Config
from ccgabm.epidemiology import age_band_probabilities
from ccgabm.population import Population, PracticeLevers
from ccgabm.rng import Streams


def run_population(months: int = 14, headroom: float | None = None):
    cfg = Config().with_overrides({"run.years": 2, **({"world.headroom": headroom}
                                                       if headroom is not None else {})})
    r = np.random.default_rng(1)
    n = 9
    pop = Population(cfg, r.integers(300, 2500, n), r.uniform(5, 60, n), Streams(77))
    levers = PracticeLevers(r.uniform(0.2, 0.6, n), np.ones(n), np.full(n, 0.25), np.arange(n) % 2)
    sizes = pop.list_sizes()
    out = []
    for month in range(months):
        res = pop.step(month, sizes, levers, np.array([2, 3]), np.array([0.5, 0.3]), 2)
        sizes = res.counts[:, kernels.LIST_END].copy()
        out.append((res.counts.copy(), res.waiting_hist.copy(), res.quintiles.copy()))
    state = [a.copy() for a in (pop.alive, pop.ltc, pop.wait, pop.birth_month, pop.imd_code)]
    return pop, out, state


def same(a, b):
    (_, out_a, state_a), (_, out_b, state_b) = a, b
    return all(all(np.array_equal(x, y) for x, y in zip(ra, rb, strict=True))
               for ra, rb in zip(out_a, out_b, strict=True)) and all(
        np.array_equal(x, y) for x, y in zip(state_a, state_b, strict=True))


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 threads")
def test_serial_and_parallel_paths_and_thread_counts_agree(monkeypatch):
    before = numba.get_num_threads()
    try:
        serial = run_population()
        monkeypatch.setattr(population_module, "PARALLEL_MIN_SLOTS", 0)
        numba.set_num_threads(1)
        one = run_population()
        numba.set_num_threads(2)
        two = run_population()
    finally:
        numba.set_num_threads(before)
    assert same(serial, one)
    assert same(serial, two)


def test_list_end_and_list_sizes_count_the_living():
    pop, out, _ = run_population()
    counts = out[-1][0]
    alive = pop.alive == 1
    expected = np.bincount(pop.practice[alive], minlength=pop.n_practices)
    assert np.array_equal(pop.list_sizes(), expected)
    assert np.array_equal(counts[:, kernels.LIST_END], expected)
    occupied = pop.block_hi - pop.block_start[:-1]
    for b in range(pop.n_practices):  # nobody above a block's high-water mark
        assert not pop.alive[pop.block_start[b] + occupied[b]:pop.block_start[b + 1]].any()


def test_full_blocks_report_unfilled_registrations():
    pop, out, _ = run_population(months=24, headroom=0.0)
    total = sum(o[0].sum(axis=0) for o in out)
    assert total[kernels.REGISTRATIONS] > 0
    assert (pop.block_hi <= pop.block_start[1:]).all()


def test_month_keys_match_the_reference_implementation():
    for seed in (0, 1, 12345, 2**63 - 1):
        for month in (0, 1, 11, 119, 599):
            assert np.array_equal(kernels.month_keys(seed, month), rng.month_keys(seed, month))


def test_age_lookup_matches_numpy_choice():
    p = age_band_probabilities()
    expected = np.random.default_rng(5).choice(len(p), size=200_001, p=p)
    cdf = p.cumsum()
    cdf /= cdf[-1]
    got = np.empty(200_001, dtype=np.int16)
    kernels.searchsorted_right(cdf, np.random.default_rng(5).random(200_001), got)
    assert np.array_equal(got, expected)
