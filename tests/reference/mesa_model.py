"""Per-agent reference: one ``mesa.Agent`` per patient, applying the patient rules directly.

This is the straightforward Mesa implementation the vectorised population is measured
against (speed) and checked against (statistically equivalent results). It uses the same
rate tables (``ccgabm.patients.epidemiology.build_rate_tables``) and the same order of
decisions as ``ccgabm.patients.kernel.step_patients``, but plain Python objects and the
model's own random generator (``mesa.Model.random``), one call per decision:

1. death (by age and number of long-term conditions);
2. a new long-term condition (by age and deprivation);
3. elective treatment from the waiting list (hospital cut-off: longest waits first), which
   may convert to an elective admission (day case or inpatient);
4. an emergency admission (age, conditions, deprivation, practice relative risk, and a
   higher risk while waiting);
5. need, then the practice's referral decision, which puts the patient on the waiting list;

then each practice registers new patients (newborns and in-movers) at the registration rate.
Need held back by a group's lever (the kernel's deferred emergencies) cannot arise under fixed
levers with no group lever, so it is left out here (``tests/test_group_dynamics.py`` tests it).
The organisations are reduced to fixed practice levers and fixed hospital capacities
(``PatientWorld``), identical for both implementations.
"""

from __future__ import annotations

import mesa
import numpy as np

from ccgabm.patients.kernel import AGE_MAX, IMD_CODE_SCALE, MAX_LTC, MAX_WAIT, N_COUNTERS, Counter

# Counter columns as plain ints: the per-patient Python loop indexes lists with them, and an
# enum member costs more to look up (it would flatter the vectorised side of the ratio).
PERSON_MONTHS = int(Counter.PERSON_MONTHS)
DEATHS = int(Counter.DEATHS)
REGISTRATIONS = int(Counter.REGISTRATIONS)
REFERRALS = int(Counter.REFERRALS)
NEWLY_REFERRED = int(Counter.NEWLY_REFERRED)
OUTPATIENT = int(Counter.OUTPATIENT)
DAY_CASE = int(Counter.DAY_CASE)
INPATIENT = int(Counter.INPATIENT)
EMERGENCY = int(Counter.EMERGENCY)
WAITING = int(Counter.WAITING)
LTC_ONSETS = int(Counter.LTC_ONSETS)
LIST_END = int(Counter.LIST_END)
WAIT_MONTHS_TREATED = int(Counter.WAIT_MONTHS_TREATED)


class PatientAgent(mesa.Agent):
    """One registered patient."""

    def __init__(self, model: ReferenceModel, practice: int, birth_month: int, imd_code: int,
                 ltc: int) -> None:
        super().__init__(model)
        self.practice = practice
        self.birth_month = birth_month
        self.imd_code = imd_code
        self.ltc = ltc
        self.wait = 0
        self.ref_year = -1

    def step(self) -> None:
        model = self.model
        rand = model.random.random
        t = model.tables
        p = self.practice
        counts = model.counts[p]
        age = min((model.month - self.birth_month) // 12, AGE_MAX)
        code = self.imd_code
        quintile = model.quintile_of_code[code]
        counts[PERSON_MONTHS] += 1
        model.quintiles[quintile][0] += 1
        if rand() < t.death[age, self.ltc]:
            counts[DEATHS] += 1
            model.leaving.append(self)
            return
        if self.ltc < MAX_LTC and rand() < t.onset[age, code]:
            self.ltc += 1
            counts[LTC_ONSETS] += 1
        hospital = model.practice_hospital[p]
        treated = False
        if self.wait > 0:
            cut, frac = model.cutoffs[hospital]
            if self.wait > cut or (self.wait == cut and rand() < frac):
                treated = True
                counts[OUTPATIENT] += 1
                counts[WAIT_MONTHS_TREATED] += self.wait
                if rand() < model.practice_conversion[p]:
                    if rand() < model.inpatient_share:
                        counts[INPATIENT] += 1
                    else:
                        counts[DAY_CASE] += 1
                self.wait = 0
            elif self.wait < MAX_WAIT:
                self.wait += 1
        risk = t.emergency[age, self.ltc] * t.dep_emergency[code] * model.practice_emergency[p]
        if self.wait > 0:
            risk *= model.waiting_rr
        if rand() < risk:
            counts[EMERGENCY] += 1
            model.quintiles[quintile][1] += 1
        if (self.wait == 0 and not treated and rand() < t.need[age, self.ltc]
                and rand() < model.practice_refer[p]):
            self.wait = 1
            counts[REFERRALS] += 1
            if self.ref_year != model.month // 12:
                self.ref_year = model.month // 12
                counts[NEWLY_REFERRED] += 1
        counts[LIST_END] += 1
        if self.wait > 0:
            counts[WAITING] += 1
            model.waiting[hospital][self.wait] += 1


class ReferenceModel(mesa.Model):
    """Patients as Mesa agents under fixed practice levers and hospital capacities."""

    def __init__(self, world, seed: int) -> None:
        super().__init__(rng=seed)
        cfg = world.cfg
        self.cfg = cfg
        self.tables = world.tables
        self.month = 0
        self.practice_refer = [float(v) for v in world.refer]
        self.practice_emergency = [float(v) for v in world.emergency]
        self.practice_conversion = [float(v) for v in world.conversion]
        self.practice_hospital = [int(v) for v in world.hospital]
        self.practice_imd = [float(v) for v in world.practice_imd]
        self.capacity = [float(v) for v in world.capacity]
        self.quintile_of_code = [int(v) for v in world.quintile_of_code]
        self.inpatient_share = cfg.hospital.inpatient_share
        self.waiting_rr = cfg.emergency.waiting_rr
        pop = cfg.population
        self.reg_rate = (pop.birth_rate + pop.in_registration_rate) / 12000.0
        self.birth_share = pop.birth_rate / max(pop.birth_rate + pop.in_registration_rate, 1e-12)
        self.imd_sd = pop.patient_imd_sd
        n_prac, n_hosp = len(self.practice_refer), len(self.capacity)
        self.n_practices, self.n_hospitals = n_prac, n_hosp
        for practice, birth, code, ltc in zip(*world.start_arrays(), strict=True):
            PatientAgent(self, int(practice), int(birth), int(code), int(ltc))
        self.list_sizes = [0] * n_prac
        for agent in self.agents:
            self.list_sizes[agent.practice] += 1
        self.waiting = [[0] * (MAX_WAIT + 1) for _ in range(n_hosp)]
        self.cutoffs = [(0, 1.0)] * n_hosp
        self.counts: list[list[int]] = []
        self.quintiles: list[list[int]] = []
        self.leaving: list[PatientAgent] = []

    def step(self) -> None:
        """One month: every patient acts, the dead leave, practices register newcomers."""
        self.cutoffs = [treatment_cutoff(self.waiting[h], self.capacity[h])
                        for h in range(self.n_hospitals)]
        self.counts = [[0] * N_COUNTERS for _ in range(self.n_practices)]
        self.quintiles = [[0, 0] for _ in range(5)]
        self.waiting = [[0] * (MAX_WAIT + 1) for _ in range(self.n_hospitals)]
        self.leaving = []
        self.agents.shuffle_do("step")
        for agent in self.leaving:
            agent.remove()
        for p in range(self.n_practices):
            expected = self.list_sizes[p] * self.reg_rate
            n_new = int(expected) + (1 if self.random.random() < expected - int(expected) else 0)
            for _ in range(n_new):
                self._register(p)
            self.counts[p][REGISTRATIONS] += n_new
            self.counts[p][LIST_END] += n_new
        self.list_sizes = [c[LIST_END] for c in self.counts]
        self.month += 1

    def _register(self, p: int) -> None:
        """A newborn, or an adult moving in, registers at practice ``p``."""
        rand = self.random.random
        pop = self.cfg.population
        span = pop.newcomer_age_max - pop.newcomer_age_min + 1
        age = 0 if rand() < self.birth_share else pop.newcomer_age_min + int(rand() * span)
        score = self.practice_imd[p] + self.imd_sd * self.random.gauss(0.0, 1.0)
        code = min(max(int(round(score * IMD_CODE_SCALE)), 1), 255)
        ltc = 0 if age == 0 else min(int(self.rng.poisson(self.tables.lam[age, code])), MAX_LTC)
        PatientAgent(self, p, self.month - 12 * age, code, ltc)


def treatment_cutoff(waiting: list[int] | np.ndarray, capacity: float) -> tuple[int, float]:
    """Longest waiters first: treat waits above the cut, and a share of those at the cut."""
    treated = 0
    for months in range(len(waiting) - 1, 0, -1):
        n = waiting[months]
        if treated + n <= capacity:
            treated += n
            continue
        return months, float((capacity - treated) / n)
    return 0, 1.0

