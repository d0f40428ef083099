"""The monthly kernel gives the same results on every path: serial or parallel, any threads."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numba
import numpy as np
import pytest
from reference.draws import month_keys as python_month_keys
from support import ROOT

import ccgabm.patients.population as population_module
from ccgabm.config import Config
from ccgabm.patients import COUNTER_NAMES, Counter, Population, PracticeLevers, kernel
from ccgabm.patients.draws import N_KEYS, Decision, month_keys
from ccgabm.rng import Streams


def run_population(months: int = 14, headroom: float | None = None, free: str | None = None):
    """``free``: None (no free levers given), "same" (given, equal to the levers) or "above"
    (the levers hold need back: free referral and conversion probabilities above them)."""
    cfg = Config().with_overrides({"run.years": 2, **({"world.headroom": headroom}
                                                       if headroom is not None else {})})
    r = np.random.default_rng(1)
    n = 9
    pop = Population(cfg, r.integers(300, 2500, n), r.uniform(5, 60, n), Streams(77))
    levers = PracticeLevers(r.uniform(0.2, 0.6, n), np.ones(n), np.full(n, 0.25), np.arange(n) % 2)
    if free is not None:
        extra = 0.3 if free == "above" else 0.0
        levers = PracticeLevers(levers.refer, levers.emergency, levers.conversion, levers.hospital,
                                refer_free=levers.refer + extra,
                                conversion_free=levers.conversion + extra)
    sizes = pop.list_sizes()
    out = []
    for month in range(months):
        res = pop.step(month, sizes, levers, np.array([2, 3]), np.array([0.5, 0.3]), 2)
        sizes = res.counts[:, Counter.LIST_END].copy()
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
    assert np.array_equal(counts[:, Counter.LIST_END], expected)
    occupied = pop.block_hi - pop.block_start[:-1]
    for b in range(pop.n_practices):  # nobody above a block's high-water mark
        assert not pop.alive[pop.block_start[b] + occupied[b]:pop.block_start[b + 1]].any()


def test_full_blocks_report_unfilled_registrations():
    pop, out, _ = run_population(months=24, headroom=0.0)
    total = sum(o[0].sum(axis=0) for o in out)
    assert total[Counter.REGISTRATIONS] > 0
    assert (pop.block_hi <= pop.block_start[1:]).all()


def test_month_keys_match_the_reference_implementation():
    for seed in (0, 1, 12345, 2**63 - 1):
        for month in (0, 1, 11, 119, 599):
            assert np.array_equal(month_keys(seed, month), python_month_keys(seed, month))


def test_counters_and_decisions_are_numbered_as_the_tables_and_streams_expect():
    assert [int(c) for c in Counter] == list(range(15)) and len(Counter) == kernel.N_COUNTERS
    assert COUNTER_NAMES == (
        "person_months", "deaths", "registrations", "referrals", "newly_referred", "outpatient",
        "day_case", "elective_inpatient", "emergency", "waiting", "ltc_onsets", "list_end",
        "registrations_unfilled", "wait_months_treated", "deferred_emergency",
    )
    assert Counter.WAIT_MONTHS_TREATED == 13 and Counter.INPATIENT.column == "elective_inpatient"
    assert Counter.DEFERRED_EMERGENCY == 14  # added last: earlier columns keep their numbers
    # decision values select the draw streams: keys[d] hashes d + 1; a new stream is added
    # last, so the existing streams (and every draw they make) are unchanged
    assert [int(d) for d in Decision] == list(range(1, 16)) and N_KEYS == 16
    assert Decision.DEFERRED == 15 and Decision.REG_LTC == 14


def test_free_levers_default_to_the_levers_and_held_back_need_returns_as_emergencies():
    plain, same_, above = run_population(), run_population(free="same"), run_population(free="above")
    assert same(plain, same_)  # free levers equal to the levers: nothing is held back
    deferred = Counter.DEFERRED_EMERGENCY
    assert all(o[0][:, deferred].sum() == 0 for o in plain[1])
    held = sum(o[0][:, deferred].sum() for o in above[1])
    assert held > 0
    for (c_plain, _, q_plain), (c_above, _, q_above) in zip(plain[1], above[1], strict=True):
        # holding need back changes no patient's state: every other count is the same, and
        # the extra emergency admissions are exactly the deferred ones
        others = [c for c in Counter if c not in (Counter.EMERGENCY, deferred)]
        assert np.array_equal(c_plain[:, others], c_above[:, others])
        assert np.array_equal(c_above[:, Counter.EMERGENCY] - c_plain[:, Counter.EMERGENCY],
                              c_above[:, deferred])
        assert q_above[:, 1].sum() - q_plain[:, 1].sum() == c_above[:, deferred].sum()


_SERIAL_THEN_PARALLEL = textwrap.dedent("""
    import numba
    import numpy as np

    from ccgabm.config import Config
    from ccgabm.patients import kernel
    from ccgabm.patients.population import Population, PracticeLevers
    from ccgabm.rng import Streams

    Population.warm_up = lambda self: None  # no kernel call at construction

    def layer():
        try:
            return numba.threading_layer()
        except ValueError:
            return None

    r = np.random.default_rng(1)
    n = 9
    sizes, imd = r.integers(300, 2500, n), r.uniform(5, 60, n)
    pop = {path: Population(Config().with_overrides({"run.years": 2}), sizes, imd, Streams(77))
           for path in ("serial", "parallel")}
    levers = PracticeLevers(np.full(n, 0.4), np.ones(n), np.full(n, 0.25), np.arange(n) % 2)
    sizes = np.bincount(pop["serial"].practice[pop["serial"].alive == 1], minlength=n)
    args = (0, sizes, levers, np.array([2, 3]), np.array([0.5, 0.3]), 2)
    serial = pop["serial"]._step(kernel.step_patients_serial, 1, np.array([0, n]), *args)
    assert kernel.step_patients_serial.stats.cache_hits, "serial kernel not loaded from the cache"
    assert layer() is None, "the serial kernel started a thread team"
    chunks = kernel.balanced_chunks(pop["parallel"].block_start, pop["parallel"].block_hi, 4)
    parallel = pop["parallel"]._step(kernel.step_patients, 2, chunks, *args)
    assert kernel.step_patients.stats.cache_hits, "parallel kernel not loaded from the cache"
    assert layer() is not None, "the parallel kernel ran no parallel region"
    assert np.array_equal(serial.counts, parallel.counts), "different counts"
    assert np.array_equal(serial.waiting_hist, parallel.waiting_hist), "different waiting lists"
""")


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 threads")
def test_cached_serial_and_parallel_compilations_stay_apart():
    """A fresh process loads each compilation of the kernel from numba's on-disk cache.

    Both are compiled (and cached) here first; the serial one must then load without
    starting a thread team (it would if the cache gave it the parallel machine code).
    """
    run_population(months=1)  # Population.warm_up compiles and caches both
    done = subprocess.run([sys.executable, "-c", _SERIAL_THEN_PARALLEL], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def test_person_months_and_block_tallies_follow_deaths_registrations_and_closures():
    """Person-months are the living at the month's start, whether a block is screened (one
    practice) or mixed by a closure; the kernel's tallies of the living stay exact."""
    cfg = Config().with_overrides({"run.years": 2})
    r = np.random.default_rng(3)
    n = 6
    pop = Population(cfg, r.integers(800, 3000, n), r.uniform(5, 60, n), Streams(11))
    levers = PracticeLevers(np.full(n, 0.4), np.ones(n), np.full(n, 0.25), np.arange(n) % 2)
    for month in range(18):
        if month == 6:
            pop.reassign(0, np.array([1, 2]), np.random.default_rng(0))
        alive = pop.alive == 1
        living = np.bincount(pop.practice[alive], minlength=n)
        quintiles = np.bincount(pop.quintile_of_code[pop.imd_code[alive]], minlength=5)
        res = pop.step(month, living, levers, np.array([2, 3]), np.array([0.5, 0.3]), 2)
        assert np.array_equal(res.counts[:, Counter.PERSON_MONTHS], living)
        assert np.array_equal(res.quintiles[:, 0], quintiles)
        kept = pop.block_living.copy()
        kernel.tally_blocks(pop.patients, pop.blocks, pop.quintile_of_code)
        assert np.array_equal(kept, pop.block_living)
    assert (pop.block_practice[pop.blocks_of[1]] == -1).any()


def test_kernel_choice_runs_the_faster_and_tries_the_other_ever_less_often():
    """``KernelChoice`` tries both compilations, then runs the faster per slot, trying the
    slower again after ``PROBE_MIN`` months, then twice as long after each try (at most
    ``PROBE_MAX``), and switches when a try wins."""
    choice = population_module.KernelChoice()
    lo, hi = choice.PROBE_MIN, choice.PROBE_MAX
    seconds = {True: 1.0, False: 2.0}  # threaded faster

    def months(n):
        runs = []
        for _ in range(n):
            threaded = choice.threaded()
            choice.record(threaded, seconds[threaded], 1000)
            runs.append(threaded)
        return runs

    runs = months(200)
    assert runs[:2] == [True, False]  # both tried first
    expected, at, interval = [1], 2 + lo, lo  # then tries ever less often
    while at < 200:
        expected.append(at)
        interval = min(2 * interval, hi)
        at += interval + 1
    assert [m for m, t in enumerate(runs) if not t] == expected
    seconds[False] = 0.5  # the serial kernel becomes the faster: its next try takes over
    runs = months(200)
    switch = runs.index(False)
    assert switch <= hi
    tries = [m for m, t in enumerate(runs) if t and m > switch]
    assert tries and all(b - a == hi + 1 for a, b in zip(tries, tries[1:], strict=False))


def test_kernel_choice_gives_way_after_slow_months_not_after_a_few():
    """The kernel running keeps running through slow months as long as they are fewer than
    half of its last ``RECENT`` (their median stands for it), and gives way after more."""
    choice = population_module.KernelChoice()
    choice.record(choice.threaded(), 1.0, 1)  # threaded
    choice.record(choice.threaded(), 2.0, 1)  # serial
    for seconds in (1.0, 1.0, 5.0, 5.0):  # two slow months of the last five
        assert choice.threaded()
        choice.record(True, seconds, 1)
    assert choice.threaded()
    choice.record(True, 5.0, 1)  # three of the last five: the serial one runs
    assert not choice.threaded()


def test_results_do_not_depend_on_which_kernel_the_choice_runs(monkeypatch):
    """Whatever ``KernelChoice`` picks month by month, the results are those of the serial
    kernel (here it is forced to alternate)."""
    serial = run_population()
    monkeypatch.setattr(population_module, "PARALLEL_MIN_SLOTS", 0)
    flips = iter([True, False] * 20)
    monkeypatch.setattr(population_module.KernelChoice, "threaded", lambda self: next(flips))
    assert same(serial, run_population())


def test_screen_lists_the_same_slots_whatever_the_padding():
    """Rows found past a tile's end (``kernel.PAD``, up to the arrays' end) change no list."""
    from ccgabm.patients.epidemiology import build_rate_tables

    tables = build_rate_tables(Config())
    r = np.random.default_rng(5)
    n = 300
    birth_month = (-r.integers(0, 12 * 115, n)).astype(np.int16)
    imd_code = r.integers(1, 256, n).astype(np.uint8)
    ltc = r.integers(0, kernel.MAX_LTC + 1, n).astype(np.uint8)
    wait = (r.random(n) < 0.1).astype(np.uint8) * 3
    alive = (r.random(n) < 0.9).astype(np.uint8)
    draws = r.random((4, kernel.TILE)) ** 3  # small draws: many slots listed, many not

    def screen(lo, hi, rows_hi):
        by_ltc = np.full(kernel.TILE, -1, dtype=np.int16)
        by_code = np.full(kernel.TILE, -1, dtype=np.int16)
        flags = np.zeros(kernel.TILE, dtype=np.uint8)
        flagged = np.zeros(kernel.TILE, dtype=np.int32)
        m = kernel._screen(lo, hi, rows_hi, 1.3, 7, birth_month, imd_code, ltc, wait, alive,
                           tables.by_ltc, tables.onset_flat, tables.dep_emergency, *draws,
                           by_ltc, by_code, flags, flagged)
        return flagged[:m].copy()

    for lo, hi in ((0, 91), (10, 11), (100, 197), (250, 299), (283, 300)):
        unpadded = screen(lo, hi, hi)
        assert 0 < len(unpadded) < hi - lo or hi - lo == 1
        for rows_hi in range(hi, min(hi + 2 * kernel.PAD, n) + 1):
            assert np.array_equal(screen(lo, hi, rows_hi), unpadded)
        # the full rules' verdict, one slot at a time, lists the same slots
        expected = []
        for j in range(hi - lo):
            i = lo + j
            age = min((7 - int(birth_month[i])) // 12, kernel.AGE_MAX)
            nl, code = int(ltc[i]), int(imd_code[i])
            pe = tables.emergency[age, nl] * tables.dep_emergency[code] * 1.3
            quiet = (alive[i] == 1 and wait[i] == 0 and draws[0, j] >= tables.death[age, nl]
                     and (nl == kernel.MAX_LTC or draws[1, j] >= tables.onset[age, code])
                     and draws[2, j] >= pe and draws[3, j] >= tables.need[age, nl])
            if not quiet:
                expected.append(j)
        assert np.array_equal(unpadded, expected)
