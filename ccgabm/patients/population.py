"""The registered population: one array per patient attribute, contiguous by practice block.

Every practice owns a block of slots (its list plus headroom for growth). A slot is either
a living registered patient or free; deaths free slots and new registrations fill them.
The monthly kernel in ``kernel.py`` advances every patient and reports per-practice counts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numba
import numpy as np

from ccgabm.patients import kernel
from ccgabm.patients.draws import month_keys
from ccgabm.patients.epidemiology import RateTables, age_band_probabilities, build_rate_tables
from ccgabm.patients.kernel import MAX_WAIT, N_COUNTERS, Counter
from ccgabm.patients.sampling import initial_patients

if TYPE_CHECKING:  # the patient layer imports no other part of ccgabm
    from ccgabm.config import Config
    from ccgabm.rng import Streams

__all__ = [
    "PARALLEL_ALWAYS_SLOTS", "PARALLEL_MIN_SLOTS", "KernelChoice", "MonthResult", "Population",
    "PracticeLevers",
]

# Below this many occupied slots the monthly kernel runs on the calling thread: starting the
# thread team costs more than it saves. Measured on a 2-core machine (the baseline region's
# practices at several sizes, wall time a month with the other core free): serial 0.08 ms
# and threaded 0.11 ms at 3,000 slots, 0.23 and 0.19 ms at 30,000, 0.57 and 0.36 ms at
# 90,000, 1.8 and 1.0 ms at 300,000. Threads gain from about 20,000 slots; below 50,000 the
# gain (under 0.05 ms a month) is less than a month of trying them on busy cores costs
# (assumed margin).
PARALLEL_MIN_SLOTS = 50_000

# From this many occupied slots the threaded kernel always runs. Between the two bounds the
# faster of the two as last measured runs (``KernelChoice``): a thread the system holds back
# (another process on the core) delays the end of the parallel region, which measured on a
# 2-core machine made the baseline region's month 5 to 10 ms threaded against 1.9 ms serial.
# Assumed from those figures (about 9 ns a slot serial, a delay of about 8 ms): threads win
# above about 2M slots even then.
PARALLEL_ALWAYS_SLOTS = 4_000_000

# Chunks of work per thread of the threaded kernels, handed out one at a time to whichever
# thread is free: a thread the system holds back (other work on the cores) delays the month
# by one chunk, not by half of it. Assumed; England at scale 1.0 has ~2M slots a chunk.
CHUNKS_PER_THREAD = 16


@dataclass
class PracticeLevers:
    """Per-practice multipliers the organisations set before the patients' month."""

    refer: np.ndarray  # probability that a referable need is referred
    emergency: np.ndarray  # relative risk of emergency admission (community services)
    conversion: np.ndarray  # probability that a first outpatient leads to an elective admission
    hospital: np.ndarray  # index of the hospital that serves the practice's group
    refer_free: np.ndarray | None = None  # ``refer`` without group levers (None: the same)
    conversion_free: np.ndarray | None = None  # ``conversion`` without restrictions


@dataclass
class MonthResult:
    """What one month of patient activity reports to the organisations."""

    counts: np.ndarray  # [practice, Counter] int64
    waiting_hist: np.ndarray  # [hospital, months waited] int64
    quintiles: np.ndarray  # [deprivation quintile, (person-months, emergencies)] int64


class KernelChoice:
    """Which compilation of the monthly kernel runs, serial or threaded, from measured times.

    Results do not depend on it (draws keyed by slot, integer counts), only the time does:
    threads pay off when the cores are free and cost more than they save when another
    process holds a core. Both are tried first (threaded, then serial); then the faster runs
    month after month, and the other is tried again after ``PROBE_MIN`` months, then after
    twice as many at each try (at most ``PROBE_MAX``). A kernel's time is its seconds per
    occupied slot: the median of its last ``RECENT`` months while it runs (a few slow months
    do not switch), the month of its last try while it does not. A try that beats the one
    running takes over; the one running gives way when its time exceeds the other's.
    """

    PROBE_MIN = 6  # assumed
    PROBE_MAX = 48  # assumed: a slower month at most every 4 years once one kernel wins
    RECENT = 5  # assumed

    def __init__(self) -> None:
        self.times: dict[bool, list[float]] = {True: [], False: []}  # by threaded or not
        self.running = True
        self.interval = self.wait = self.PROBE_MIN  # months before the other is tried again

    def _time(self, threaded: bool) -> float:
        return float(np.median(self.times[threaded]))

    def threaded(self) -> bool:
        """Whether this month's kernel is the threaded one."""
        if not self.times[False]:
            return not self.times[True]
        return self.running if self.wait > 0 else not self.running

    def record(self, threaded: bool, seconds: float, slots: int) -> None:
        """The time the kernel chosen by ``threaded()`` took this month over ``slots`` slots."""
        cost = seconds / max(slots, 1)
        other = not self.running
        if threaded == self.running and self.times[other]:
            self.times[threaded] = (self.times[threaded] + [cost])[-self.RECENT:]
            self.wait -= 1
            if self._time(threaded) > self._time(other):  # gives way
                self.running = other
                self.wait = self.interval
            return
        first = not self.times[threaded] or not self.times[self.running]  # the first months
        self.times[threaded] = [cost]
        if not self.times[self.running]:
            return
        if self._time(threaded) < self._time(self.running):  # takes over
            self.running = threaded
        if not first:
            self.interval = self.wait = min(2 * self.interval, self.PROBE_MAX)


class Population:
    """Vectorised registered patients of every practice."""

    def __init__(
        self,
        cfg: Config,
        list_sizes: np.ndarray,
        practice_imd: np.ndarray,
        streams: Streams,
    ) -> None:
        self.cfg = cfg
        self.seed = streams.seed
        self.tables: RateTables = build_rate_tables(cfg)
        n_prac = len(list_sizes)
        if n_prac >= np.iinfo(np.int16).max:
            raise ValueError(f"at most {np.iinfo(np.int16).max - 1} practices are supported")
        sizes = np.asarray(list_sizes, dtype=np.int64)
        growth = (1.0 + cfg.population.birth_rate / 1000 + cfg.population.in_registration_rate / 1000)
        years = cfg.run.years
        capacity = np.ceil(sizes * max(cfg.world.headroom, growth**years - 1.0 + 0.05)).astype(
            np.int64
        ) + sizes + 4
        self.practice_imd = np.asarray(practice_imd, dtype=np.float64)
        self.block_start = np.zeros(n_prac + 1, dtype=np.int64)
        np.cumsum(capacity, out=self.block_start[1:])
        self.block_owner = np.arange(n_prac, dtype=np.int16)
        # the practice of every patient of each block, or -1 once a closure mixes practices
        self.block_practice = np.arange(n_prac, dtype=np.int16)
        # blocks that can hold each practice's patients (its own, plus closed practices' blocks)
        self.blocks_of: dict[int, list[int]] = {p: [p] for p in range(n_prac)}
        total = int(self.block_start[-1])
        self.n_practices = n_prac

        self.birth_month = np.zeros(total, dtype=np.int16)
        self.practice = np.zeros(total, dtype=np.int16)
        self.imd_code = np.zeros(total, dtype=np.uint8)
        self.ltc = np.zeros(total, dtype=np.uint8)
        self.wait = np.zeros(total, dtype=np.uint8)
        self.alive = np.zeros(total, dtype=np.uint8)
        self.ref_year = np.full(total, -1, dtype=np.int8)
        # one past the last slot of each block that may hold a patient (slots above are free)
        self.block_hi = self.block_start[:-1] + sizes
        self.quintile_edges = _quintile_edges(self._initialise(sizes, streams))
        self.quintile_of_code = np.searchsorted(
            self.quintile_edges, np.arange(256), side="right"
        ).astype(np.uint8)
        # living patients of each block, in all and by quintile (the kernel keeps them)
        self.block_living = np.zeros((n_prac, 6), dtype=np.int64)
        kernel.tally_blocks(self.patients, self.blocks, self.quintile_of_code)
        self._reg_rate = (cfg.population.birth_rate + cfg.population.in_registration_rate) / 12000.0
        self.constants = kernel.Constants(
            practice_imd=self.practice_imd,
            quintile_of_code=self.quintile_of_code,
            inpatient_share=float(cfg.hospital.inpatient_share),
            waiting_rr=float(cfg.emergency.waiting_rr),
            birth_share=float(cfg.population.birth_rate / max(
                cfg.population.birth_rate + cfg.population.in_registration_rate, 1e-12
            )),
            imd_sd=float(cfg.population.patient_imd_sd),
            deferred_emergency=float(cfg.emergency.deferred_need_emergency),
            newcomer_age_min=int(cfg.population.newcomer_age_min),
            newcomer_age_span=int(cfg.population.newcomer_age_max - cfg.population.newcomer_age_min + 1),
        )
        # every block in one chunk, for the serial kernel
        self._one_chunk = np.array([0, n_prac], dtype=np.int64)
        self.kernel_choice = KernelChoice()
        self.warm_up()

    def _initialise(self, sizes: np.ndarray, streams: Streams) -> np.ndarray:
        """Draw ages, deprivation and conditions of the starting population
        (``sampling.initial_patients``: the draws of numpy's ``choice(p=...)``,
        ``standard_normal``, ``poisson`` and ``integers`` on named streams); each practice's
        patients fill the first slots of its block. Returns the number of patients with each
        deprivation code."""
        cdf = age_band_probabilities().cumsum()
        cdf /= cdf[-1]
        rngs = tuple(streams.get(f"population.{name}")
                     for name in ("age", "imd", "ltc", "birth_month"))
        counts = initial_patients(sizes, self.block_start, self.practice_imd,
                                  self.cfg.population.patient_imd_sd, cdf, self.tables.lam, rngs,
                                  self.birth_month, self.imd_code, self.ltc, self.alive)
        for p in range(self.n_practices):
            self.practice[self.block_start[p]:self.block_start[p + 1]] = p
        return counts

    @property
    def n_slots(self) -> int:
        return len(self.alive)

    @property
    def patients(self) -> kernel.Patients:
        """The patient arrays, as the kernels take them."""
        return kernel.Patients(self.birth_month, self.practice, self.imd_code, self.ltc,
                               self.wait, self.alive, self.ref_year)

    @property
    def blocks(self) -> kernel.Blocks:
        """The block layout, as the kernels take it."""
        return kernel.Blocks(self.block_start, self.block_hi, self.block_owner, self.block_practice,
                             self.block_living)

    def warm_up(self) -> None:
        """Load every compiled kernel (numba's on-disk cache) and start the thread team.

        Each kernel is called once over no blocks with arguments of the real types, so the
        first month of a run does not pay for loading or compiling (start-up does).
        """
        n = self.n_practices
        none = np.array([0, 0], dtype=np.int64)
        levers = PracticeLevers(np.zeros(n), np.ones(n), np.zeros(n), np.zeros(n, dtype=np.int64))
        threads = numba.get_num_threads()
        cut, frac = np.zeros(1, dtype=np.int64), np.ones(1)
        sizes = np.zeros(n, dtype=np.int64)
        self._step(kernel.step_patients_serial, 1, none, 0, sizes, levers, cut, frac, 1)
        self._step(kernel.step_patients, threads, none, 0, sizes, levers, cut, frac, 1)
        out = np.zeros((threads, n), dtype=np.int64)
        kernel.need_weights(self.patients, self.blocks, none, 0, self.tables, out)
        kernel.count_alive(self.patients, self.blocks, none, out)

    def _chunks(self) -> tuple[int, np.ndarray]:
        """Thread count and block boundaries of work chunks balanced by occupied slots."""
        threads = numba.get_num_threads()
        return threads, kernel.balanced_chunks(self.block_start, self.block_hi,
                                               threads * CHUNKS_PER_THREAD)

    def list_sizes(self) -> np.ndarray:
        """Living registered patients per practice (a full count over the arrays)."""
        threads, chunks = self._chunks()
        out = np.zeros((threads, self.n_practices), dtype=np.int64)
        with numba.parallel_chunksize(1):
            kernel.count_alive(self.patients, self.blocks, chunks, out)
        return out.sum(axis=0)

    def step(
        self,
        month: int,
        list_sizes: np.ndarray,
        levers: PracticeLevers,
        hosp_cut: np.ndarray,
        hosp_frac: np.ndarray,
        n_hospitals: int,
    ) -> MonthResult:
        """Advance every patient one month and return the counts for the organisations."""
        threads = numba.get_num_threads()
        occupied = int(self.block_hi.sum() - self.block_start[:-1].sum())
        args = (month, list_sizes, levers, hosp_cut, hosp_frac, n_hospitals)
        if threads == 1 or occupied < PARALLEL_MIN_SLOTS:
            return self._run(False, args)
        if occupied >= PARALLEL_ALWAYS_SLOTS:
            return self._run(True, args)
        threaded = self.kernel_choice.threaded()
        started = time.perf_counter()
        result = self._run(threaded, args)
        self.kernel_choice.record(threaded, time.perf_counter() - started, occupied)
        return result

    def _run(self, threaded: bool, args: tuple) -> MonthResult:
        """One month by the threaded kernel (in balanced chunks) or the serial one."""
        if threaded:
            return self._step(kernel.step_patients, *self._chunks(), *args)
        return self._step(kernel.step_patients_serial, 1, self._one_chunk, *args)

    def _step(self, step, threads: int, chunks: np.ndarray, month: int, list_sizes: np.ndarray,
              levers: PracticeLevers, hosp_cut: np.ndarray, hosp_frac: np.ndarray,
              n_hospitals: int) -> MonthResult:
        """One month by ``step`` (the parallel or the serial compilation of the kernel)."""
        out = kernel.Outputs(
            counts=np.zeros((threads, self.n_practices, N_COUNTERS), dtype=np.int64),
            hist=np.zeros((threads, n_hospitals, MAX_WAIT + 1), dtype=np.int64),
            quint=np.zeros((threads, 5, 2), dtype=np.int64),
            scratch=np.zeros((threads, kernel.SCRATCH_WIDTH), dtype=np.int64),
        )
        owner = self.block_owner
        registrations = np.asarray(list_sizes, dtype=np.float64)[owner] * self._reg_rate
        registrations[owner < 0] = 0.0  # no practice registers into the block
        this_month = kernel.Month(
            index=month,
            year=np.int8(month // 12),
            keys=month_keys(self.seed, month),
            registrations=registrations,
        )
        refer = _as(levers.refer, np.float64)
        conversion = _as(levers.conversion, np.float64)
        kernel_levers = kernel.Levers(
            refer=refer,
            refer_free=refer if levers.refer_free is None else _as(levers.refer_free, np.float64),
            emergency=_as(levers.emergency, np.float64),
            conversion=conversion,
            conversion_free=conversion if levers.conversion_free is None
            else _as(levers.conversion_free, np.float64),
            hospital=_as(levers.hospital, np.int64),
            hospital_cut=_as(hosp_cut, np.int64),
            hospital_frac=_as(hosp_frac, np.float64),
        )
        args = (self.patients, self.blocks, chunks, kernel_levers, self.tables, self.constants,
                this_month, out)
        if threads > 1:
            with numba.parallel_chunksize(1):  # one chunk at a time to each free thread
                step(*args)
        else:
            step(*args)
        total = out.counts.sum(axis=0) if threads > 1 else out.counts[0]
        total[:, Counter.LIST_END] = (
            total[:, Counter.PERSON_MONTHS] - total[:, Counter.DEATHS]
            + total[:, Counter.REGISTRATIONS]
        )
        return MonthResult(total, out.hist.sum(axis=0), out.quint.sum(axis=0))

    def need_weights(self, month: int) -> np.ndarray:
        """Capitation need weight (expected annual modelled cost) summed per practice."""
        threads, chunks = self._chunks()
        out = np.zeros((threads, self.n_practices), dtype=np.int64)
        with numba.parallel_chunksize(1):
            kernel.need_weights(self.patients, self.blocks, chunks, month, self.tables, out)
        return out.sum(axis=0) / 1e6

    def expected_referrals(self, refer: np.ndarray, month: int = 0) -> np.ndarray:
        """Expected referrals a month per practice: the sum over its living patients of their
        monthly need probability at ``month`` times the practice's ``refer`` probability."""
        out = np.zeros(self.n_practices)
        kernel.expected_referrals(self.patients, self.blocks, month, self.tables.need,
                                  _as(refer, np.float64), out)
        return out

    def reassign(self, from_practice: int, to_practices: np.ndarray, rng: np.random.Generator) -> None:
        """Disperse a closing practice's patients among receiving practices."""
        blocks = self.blocks_of.pop(from_practice)
        idx = np.concatenate([
            lo + np.flatnonzero((self.practice[lo:hi] == from_practice) & (self.alive[lo:hi] == 1))
            for lo, hi in ((self.block_start[b], self.block_start[b + 1]) for b in blocks)
        ])
        self.practice[idx] = rng.choice(to_practices, size=len(idx)).astype(np.int16)
        for receiver in {int(r) for r in to_practices}:
            self.blocks_of[receiver] = sorted(set(self.blocks_of[receiver]) | set(blocks))
        self.block_owner[self.block_owner == from_practice] = -1
        self.block_practice[blocks] = -1


def _as(values: np.ndarray, dtype: type) -> np.ndarray:
    """``values`` as a contiguous array of ``dtype`` (no copy when it already is one)."""
    return np.ascontiguousarray(values, dtype=dtype)


def _quintile_edges(counts: np.ndarray) -> np.ndarray:
    """IMD codes splitting the starting population into five deprivation quintiles, from the
    number of patients with each code."""
    if counts.sum() == 0:
        return np.array([64, 128, 192, 255], dtype=np.int64)
    cdf = np.cumsum(counts) / counts.sum()
    return np.searchsorted(cdf, [0.2, 0.4, 0.6, 0.8], side="left").astype(np.int64) + 1
