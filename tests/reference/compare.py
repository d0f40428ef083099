"""Run the vectorised population and the per-agent Mesa reference side by side.

Both implementations start from the same patients (drawn once by ``Population``), face the
same practice levers and hospital capacities, and apply the same patient rules; only their
random draws differ (hashed per-decision streams vs ``mesa.Model.random``). Their summary
figures must agree statistically (tests/test_reference_equivalence.py) and their speeds are
compared in patient-months per second (benchmarks/mesa_ratio.py).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ccgabm.agents.hospital import treatment_cutoffs
from ccgabm.config import Config
from ccgabm.patients import AGE_MAX, COUNTER_NAMES, MAX_WAIT, Counter, Population, PracticeLevers
from ccgabm.patients.epidemiology import RateTables
from ccgabm.rng import Streams
from ccgabm.world import build_world

from .mesa_model import ReferenceModel


@dataclass
class PatientWorld:
    """Practices with fixed levers, hospitals with fixed capacities, and a starting population."""

    cfg: Config
    seed: int
    list_sizes: np.ndarray
    practice_imd: np.ndarray
    refer: np.ndarray
    emergency: np.ndarray
    conversion: np.ndarray
    hospital: np.ndarray
    capacity: np.ndarray = field(default_factory=lambda: np.zeros(0))
    tables: RateTables | None = None
    quintile_of_code: np.ndarray | None = None
    _start: tuple[np.ndarray, ...] | None = None

    def population(self) -> Population:
        """A fresh vectorised population (the same starting patients every time)."""
        return Population(self.cfg, self.list_sizes, self.practice_imd, Streams(self.seed))

    def start_arrays(self) -> tuple[np.ndarray, ...]:
        """Practice, birth month, IMD code and conditions of every starting patient."""
        assert self._start is not None
        return self._start

    @property
    def n_patients(self) -> int:
        return int(self.list_sizes.sum())


def patient_world(cfg: Config, seed: int, capacity_ratio: float | None = None) -> PatientWorld:
    """Practices of ``cfg``'s world with base levers (propensity spread, no group policies)."""
    streams = Streams(seed)
    world = build_world(cfg, streams)
    table = world.practices
    n = len(table)
    sd = cfg.referral.practice_variation_sd
    propensity = streams.get("practice.propensity").lognormal(-sd * sd / 2, sd, n)
    hospital = np.array([world.group_hospital[g] for g in table["group"]], dtype=np.int64)
    pw = PatientWorld(
        cfg=cfg, seed=seed,
        list_sizes=table["list_size"].to_numpy(np.int64),
        practice_imd=table["imd"].to_numpy(np.float64),
        refer=np.minimum(1.0, cfg.referral.refer_probability * propensity),
        emergency=np.ones(n),
        conversion=np.full(n, cfg.hospital.elective_conversion),
        hospital=hospital,
    )
    pop = pw.population()
    alive = np.flatnonzero(pop.alive == 1)
    pw._start = (pop.practice[alive].copy(), pop.birth_month[alive].copy(),
                 pop.imd_code[alive].copy(), pop.ltc[alive].copy())
    pw.tables = pop.tables
    pw.quintile_of_code = pop.quintile_of_code.copy()
    practice, birth, _, ltc = pw._start
    age = np.minimum(-birth.astype(np.int64) // 12, AGE_MAX)
    expected = np.bincount(practice, weights=pop.tables.need[age, ltc] * pw.refer[practice],
                           minlength=n)
    ratio = cfg.hospital.capacity_ratio if capacity_ratio is None else capacity_ratio
    n_hosp = len(world.hospital_names)
    pw.capacity = ratio * np.bincount(hospital, weights=expected, minlength=n_hosp)
    return pw


@dataclass
class SideResult:
    """Totals of one implementation over a run."""

    name: str
    counts: np.ndarray  # [counter] summed over practices and months
    quintiles: np.ndarray  # [quintile, (person-months, emergencies)]
    waiting_months: int  # sum over months of the waiting list (person-months waiting)
    population_end: int
    seconds: float
    months: int

    @property
    def patient_months(self) -> int:
        return int(self.counts[Counter.PERSON_MONTHS])

    @property
    def patient_months_per_second(self) -> float:
        return self.patient_months / max(self.seconds, 1e-12)


def run_vectorised(pw: PatientWorld, months: int, seed: int | None = None) -> SideResult:
    """The compiled kernel over the vectorised population (timing excludes the build).

    ``seed`` keys the patients' hashed draws (default: the world's seed); the starting
    patients are the world's whatever it is.
    """
    pop = pw.population()
    if seed is not None:
        pop.seed = int(seed)
    n_hosp = len(pw.capacity)
    levers = PracticeLevers(pw.refer, pw.emergency, pw.conversion, pw.hospital)
    sizes = pop.list_sizes()
    waiting = np.zeros((n_hosp, MAX_WAIT + 1), dtype=np.int64)
    totals = np.zeros(len(Counter), dtype=np.int64)
    quint = np.zeros((5, 2), dtype=np.int64)
    capacity = np.asarray(pw.capacity, dtype=float)
    started = time.perf_counter()
    for month in range(months):
        cut, share = treatment_cutoffs(waiting, capacity)  # as the model's waiting-list phase
        res = pop.step(month, sizes, levers, cut, share, n_hosp)
        sizes = res.counts[:, Counter.LIST_END]
        waiting = res.waiting_hist
        totals += res.counts.sum(axis=0)
        quint += res.quintiles
    seconds = time.perf_counter() - started
    return SideResult("vectorised", totals, quint, int(totals[Counter.WAITING]),
                      int(sizes.sum()), seconds, months)


def run_reference(pw: PatientWorld, months: int, seed: int | None = None) -> SideResult:
    """One Mesa agent per patient (timing excludes creating the agents)."""
    model = ReferenceModel(pw, pw.seed if seed is None else seed)
    totals = np.zeros(len(Counter), dtype=np.int64)
    quint = np.zeros((5, 2), dtype=np.int64)
    started = time.perf_counter()
    for _ in range(months):
        model.step()
        totals += np.array(model.counts, dtype=np.int64).sum(axis=0)
        quint += np.array(model.quintiles, dtype=np.int64)
    seconds = time.perf_counter() - started
    return SideResult("mesa_per_agent", totals, quint, int(totals[Counter.WAITING]),
                      sum(model.list_sizes), seconds, months)


# The waiting list of a hospital working near capacity wanders (each month's list carries
# the last one's), so its figures vary more than independent counts would. Calibrated on 8
# replicate pairs (20,000 patients, 36 months, capacity 1.04 x expected referrals): with
# Poisson-like variances the z-scores of the two waiting figures had SD ~1.9; times 4, ~1.
QUEUE_VARIANCE_INFLATION = 4.0

EVENT_FIGURES = ("deaths", "ltc_onsets", "registrations", "referrals", "newly_referred",
                 "outpatient", "day_case", "elective_inpatient", "emergency")


def summary_figures(side: SideResult) -> dict[str, float]:
    """Rates per 1,000 patient-years and other headline figures of one side."""
    pm = side.patient_months
    per_1000 = {f"{name}_per_1000": 12000.0 * side.counts[COUNTER_NAMES.index(name)] / pm
                for name in EVENT_FIGURES}
    treated = side.counts[Counter.OUTPATIENT]
    q = side.quintiles
    return {
        **per_1000,
        "mean_waiting_per_1000": 1000.0 * side.waiting_months / pm,
        "mean_wait_months": side.counts[Counter.WAIT_MONTHS_TREATED] / max(treated, 1),
        "emergency_gradient_q5_q1": (q[4, 1] / q[4, 0]) / (q[0, 1] / q[0, 0]),
        "population_end": float(side.population_end),
    }


def equivalence_table(a: SideResult, b: SideResult) -> list[dict[str, Any]]:
    """Each summary figure of both sides with a z-score of their difference.

    Event rates use Poisson standard errors of the counts. Stocks and ratios use
    approximations: the waiting list and the mean wait with variances inflated for the
    persistence of a queue near capacity (``QUEUE_VARIANCE_INFLATION``), the gradient with
    the delta method, and the end population with the Poisson variation of deaths plus
    registrations.
    """
    fa, fb = summary_figures(a), summary_figures(b)
    rows = []
    for name in fa:
        va, vb = _variance(name, a, fa), _variance(name, b, fb)
        se = math.sqrt(va + vb)
        rows.append({"figure": name, a.name: fa[name], b.name: fb[name],
                     "z": (fa[name] - fb[name]) / se if se > 0 else 0.0})
    return rows


def _variance(name: str, side: SideResult, figures: dict[str, float]) -> float:
    pm = side.patient_months
    c = side.counts
    if name.endswith("_per_1000") and name != "mean_waiting_per_1000":
        count = c[COUNTER_NAMES.index(name.removesuffix("_per_1000"))]
        return (12000.0 / pm) ** 2 * max(count, 1)
    if name == "mean_waiting_per_1000":
        persistence = max(figures["mean_wait_months"], 1.0) * QUEUE_VARIANCE_INFLATION
        return (1000.0 / pm) ** 2 * max(side.waiting_months, 1) * persistence
    if name == "mean_wait_months":
        treated = max(c[Counter.OUTPATIENT], 1)
        mean = figures["mean_wait_months"]
        return max(mean, 1.0) ** 2 / treated * QUEUE_VARIANCE_INFLATION
    if name == "emergency_gradient_q5_q1":
        q = side.quintiles
        rel = 1.0 / max(q[4, 1], 1) + 1.0 / max(q[0, 1], 1)
        return figures[name] ** 2 * rel
    if name == "population_end":
        return float(c[Counter.DEATHS] + c[Counter.REGISTRATIONS])
    raise KeyError(name)
