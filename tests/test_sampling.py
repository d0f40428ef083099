"""The starting population's compiled draws against numpy's array draws."""

from __future__ import annotations

import numpy as np
import pytest

from ccgabm.config import Config
from ccgabm.patients import sampling
from ccgabm.patients.epidemiology import age_band_probabilities, build_rate_tables
from ccgabm.patients.kernel import IMD_CODE_SCALE, MAX_LTC


def _generators(seed: int) -> tuple[np.random.Generator, ...]:
    return tuple(np.random.default_rng([seed, k]) for k in range(4))


def _numpy_patients(sizes, practice_imd, imd_sd, lam, rngs):
    """The starting patients as numpy array draws over all patients in practice order."""
    p = age_band_probabilities()
    ages = rngs[0].choice(len(p), size=int(sizes.sum()), p=p)
    owner = np.repeat(np.arange(len(sizes)), sizes)
    imd = practice_imd[owner] + rngs[1].standard_normal(len(owner)) * imd_sd
    codes = np.clip(np.rint(imd * IMD_CODE_SCALE), 1, 255).astype(np.uint8)
    ltc = np.minimum(rngs[2].poisson(lam[ages, codes]), MAX_LTC).astype(np.uint8)
    birth = -(ages * 12 + rngs[3].integers(0, 12, size=len(owner)))
    return birth.astype(np.int16), codes, ltc


@pytest.mark.parametrize("chunk", [7, 1000, 1 << 21])
def test_initial_patients_are_numpys_array_draws_in_every_block(monkeypatch, chunk):
    """Whatever the chunks (one on the calling thread, or many drawn by a thread per stream,
    splitting practices), the values are those of one numpy array draw per stream, each
    practice's patients fill the first slots of its block, and every generator ends where
    numpy's draw leaves it; the patients are counted by deprivation code."""
    monkeypatch.setattr(sampling, "CHUNK", chunk)
    sizes = np.array([0, 5, 1200, 3, 0, 2400, 777], dtype=np.int64)
    practice_imd = np.array([10.0, 0.4, 25.0, 80.0, 30.0, 127.6, 45.5])
    block_start = np.concatenate(([0], np.cumsum(sizes + 11))).astype(np.int64)
    lam = build_rate_tables(Config()).lam
    cdf = age_band_probabilities().cumsum()
    cdf /= cdf[-1]
    total = int(block_start[-1])
    birth, codes, ltc, alive = (np.zeros(total, dtype=t)
                                for t in (np.int16, np.uint8, np.uint8, np.uint8))
    rngs = _generators(4)
    counts = sampling.initial_patients(sizes, block_start, practice_imd, 8.0, cdf, lam, rngs,
                                       birth, codes, ltc, alive)
    expected_rngs = _generators(4)
    expected = _numpy_patients(sizes, practice_imd, 8.0, lam, expected_rngs)
    slots = np.concatenate([np.arange(s, s + n) for s, n in zip(block_start, sizes, strict=False)])
    for got, want in zip((birth, codes, ltc), expected, strict=True):
        assert np.array_equal(got[slots], want)
    assert np.array_equal(np.flatnonzero(alive), slots)
    assert np.array_equal(counts, np.bincount(codes[slots], minlength=256))
    assert not birth[alive == 0].any() and not codes[alive == 0].any()
    for got, want in zip(rngs, expected_rngs, strict=True):
        assert got.bit_generator.state == want.bit_generator.state
    assert (codes[slots] == 1).any() and (codes[slots] == 255).any()  # both clips exercised


def test_a_draw_failing_in_a_stream_thread_is_raised(monkeypatch):
    monkeypatch.setattr(sampling, "CHUNK", 10)
    compiled = sampling._codes

    def fail_on_the_third_chunk(rng, practice_imd, first, imd_sd, lo, out, counts):
        if lo == 20:
            raise ValueError("a draw failed")
        compiled(rng, practice_imd, first, imd_sd, lo, out, counts)

    monkeypatch.setattr(sampling, "_codes", fail_on_the_third_chunk)
    sizes = np.array([50, 50], dtype=np.int64)
    block_start = np.array([0, 60, 120], dtype=np.int64)
    cdf = age_band_probabilities().cumsum()
    cdf /= cdf[-1]
    alive = np.zeros(120, dtype=np.uint8)
    out = [np.zeros(120, dtype=t) for t in (np.int16, np.uint8, np.uint8)]
    with pytest.raises(ValueError, match="a draw failed"):
        sampling.initial_patients(sizes, block_start, np.array([20.0, 30.0]), 8.0, cdf,
                                  build_rate_tables(Config()).lam, _generators(1), *out, alive)
    assert alive[:20].all()  # the chunks before it were placed


def test_poisson_with_its_exponential_given_is_numpys():
    """``_poisson`` draws numpy's values and leaves the generator where numpy does, for rates
    below 10 (its own loop), zero (no draw) and 10 and above (numpy's other algorithm)."""
    import math

    from numba import njit

    @njit
    def draw(rng, lam, exp_minus_lam, out):
        for j in range(lam.shape[0]):
            out[j] = sampling._poisson(rng, lam[j], exp_minus_lam[j])

    rates = np.concatenate((np.random.default_rng(0).uniform(0, 12, 20_000), [0.0, 1e-300, 9.999,
                                                                               10.0, 250.0]))
    got = np.empty(len(rates), dtype=np.int64)
    ours, numpys = np.random.default_rng(8), np.random.default_rng(8)
    draw(ours, rates, np.array([math.exp(-x) for x in rates]), got)
    assert np.array_equal(got, numpys.poisson(rates))
    assert ours.bit_generator.state == numpys.bit_generator.state


@pytest.mark.parametrize("rate, message", [(np.inf, "too large"), (np.nan, "too large"),
                                           (1e19, "too large"), (-1.0, "negative")])
def test_a_rate_numpy_would_refuse_is_refused(monkeypatch, rate, message):
    """A rate numpy's Poisson draw refuses (above its limit, NaN, negative) raises as numpy
    does, when a patient is drawn with it; rates of ages nobody is drawn at do not matter."""
    monkeypatch.setattr(sampling, "CHUNK", 100)
    sizes = np.array([300, 200], dtype=np.int64)
    block_start = np.array([0, 300, 500], dtype=np.int64)
    cdf = age_band_probabilities().cumsum()
    cdf /= cdf[-1]
    lam = build_rate_tables(Config()).lam.copy()
    lam[100:] = rate  # ages 100 and over have no share of the starting population
    out = [np.zeros(500, dtype=t) for t in (np.int16, np.uint8, np.uint8, np.uint8)]
    sampling.initial_patients(sizes, block_start, np.array([20.0, 30.0]), 8.0, cdf, lam,
                              _generators(2), *out)
    with pytest.raises(ValueError, match="lam"):
        np.random.default_rng(0).poisson(np.full(3, rate))
    lam[40] = rate
    with pytest.raises(ValueError, match=message):
        sampling.initial_patients(sizes, block_start, np.array([20.0, 30.0]), 8.0, cdf, lam,
                                  _generators(2), *out)
