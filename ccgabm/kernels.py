"""Compiled monthly kernel over patients stored contiguously by practice block.

One pass over every patient slot applies, in order: death, new long-term condition,
elective treatment from the waiting list, emergency admission, need and referral;
free slots take new registrations. Each decision draws from a counter-based hash of
(seed, month, decision, slot), so results do not depend on the number of threads.
Counts are accumulated per thread in integers and summed afterwards (exact, order-free).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from ccgabm.rng import Decision

# Per-practice counters written by the kernel (columns of ``counts``).
PERSON_MONTHS = 0
DEATHS = 1
REGISTRATIONS = 2
REFERRALS = 3
NEWLY_REFERRED = 4
OUTPATIENT = 5
DAY_CASE = 6
INPATIENT = 7
EMERGENCY = 8
WAITING = 9
LTC_ONSETS = 10
LIST_END = 11
UNFILLED = 12
WAIT_MONTHS_TREATED = 13
N_COUNTERS = 14
COUNTER_NAMES = (
    "person_months", "deaths", "registrations", "referrals", "newly_referred", "outpatient",
    "day_case", "elective_inpatient", "emergency", "waiting", "ltc_onsets", "list_end",
    "registrations_unfilled", "wait_months_treated",
)

MAX_WAIT = 255
MAX_LTC = 7
AGE_MAX = 110
IMD_CODE_SCALE = 2.0  # patient IMD stored as uint8 code = round(2 * score)

_GOLD = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_INV53 = 1.0 / 9007199254740992.0

D_DEATH = int(Decision.DEATH)
D_LTC = int(Decision.LTC_ONSET)
D_NEED = int(Decision.NEED)
D_REFER = int(Decision.REFER)
D_TREAT = int(Decision.TREAT)
D_EMERG = int(Decision.EMERGENCY)
D_CONVERT = int(Decision.CONVERT)
D_INPAT = int(Decision.INPATIENT)
D_REG = int(Decision.REGISTER)
D_REG_KIND = int(Decision.REG_KIND)
D_REG_AGE = int(Decision.REG_AGE)
D_REG_IMD_A = int(Decision.REG_IMD_A)
D_REG_IMD_B = int(Decision.REG_IMD_B)
D_REG_LTC = int(Decision.REG_LTC)


@njit(inline="always", cache=True)
def _uniform(key, idx):
    z = key + np.uint64(idx) * _GOLD
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    z = z ^ (z >> _S31)
    return float(z >> _S11) * _INV53


@njit(cache=True)
def _poisson_from_uniform(lam, u, cap):
    k = 0
    p = np.exp(-lam)
    cdf = p
    while u > cdf and k < cap:
        k += 1
        p *= lam / k
        cdf += p
    return k


@njit(parallel=True, cache=True)
def step_patients(
    birth_month, practice, imd_code, ltc, wait, alive, ref_year,
    block_start, block_reg, block_owner, practice_imd, practice_refer, practice_emerg,
    practice_conversion, practice_hospital, hosp_cut, hosp_frac,
    death_t, onset_t, need_t, emerg_t, dep_emerg, lam_t,
    keys, month, fy, inpatient_share, waiting_rr, birth_share, imd_sd,
    quint_edges, counts, hist, quint,
):
    """Advance every patient by one month; write per-thread counts, histograms, quintiles."""
    n_blocks = block_start.shape[0] - 1
    for b in prange(n_blocks):
        tid = numba.get_thread_id()
        expected = block_reg[b]
        n_reg = int(expected)
        if _uniform(keys[D_REG], b) < expected - n_reg:
            n_reg += 1
        owner = block_owner[b]
        for i in range(block_start[b], block_start[b + 1]):
            if alive[i] == 0:
                if n_reg > 0 and owner >= 0:
                    n_reg -= 1
                    _register(i, owner, birth_month, practice, imd_code, ltc, wait, alive,
                              ref_year, practice_imd, lam_t, keys, month, birth_share, imd_sd)
                    counts[tid, owner, REGISTRATIONS] += 1
                    counts[tid, owner, LIST_END] += 1
                continue
            p = practice[i]
            age = (month - birth_month[i]) // 12
            if age > AGE_MAX:
                age = AGE_MAX
            nl = ltc[i]
            code = imd_code[i]
            q = 0
            while q < 4 and code >= quint_edges[q]:
                q += 1
            counts[tid, p, PERSON_MONTHS] += 1
            quint[tid, q, 0] += 1
            if _uniform(keys[D_DEATH], i) < death_t[age, nl]:
                alive[i] = 0
                wait[i] = 0
                counts[tid, p, DEATHS] += 1
                continue
            if nl < MAX_LTC and _uniform(keys[D_LTC], i) < onset_t[age, code]:
                nl += 1
                ltc[i] = nl
                counts[tid, p, LTC_ONSETS] += 1
            w = wait[i]
            treated = False
            if w > 0:
                h = practice_hospital[p]
                cut = hosp_cut[h]
                if w > cut or (w == cut and _uniform(keys[D_TREAT], i) < hosp_frac[h]):
                    treated = True
                    counts[tid, p, OUTPATIENT] += 1
                    counts[tid, p, WAIT_MONTHS_TREATED] += w
                    if _uniform(keys[D_CONVERT], i) < practice_conversion[p]:
                        if _uniform(keys[D_INPAT], i) < inpatient_share:
                            counts[tid, p, INPATIENT] += 1
                        else:
                            counts[tid, p, DAY_CASE] += 1
                    w = 0
                elif w < MAX_WAIT:
                    w += 1
            pe = emerg_t[age, nl] * dep_emerg[code] * practice_emerg[p]
            if w > 0:
                pe *= waiting_rr
            if _uniform(keys[D_EMERG], i) < pe:
                counts[tid, p, EMERGENCY] += 1
                quint[tid, q, 1] += 1
            # need arises (the patient's draw), then the practice decides (its own draw)
            if (
                w == 0
                and not treated
                and _uniform(keys[D_NEED], i) < need_t[age, nl]
                and _uniform(keys[D_REFER], i) < practice_refer[p]
            ):
                w = 1
                counts[tid, p, REFERRALS] += 1
                if ref_year[i] != fy:
                    ref_year[i] = fy
                    counts[tid, p, NEWLY_REFERRED] += 1
            wait[i] = w
            counts[tid, p, LIST_END] += 1
            if w > 0:
                counts[tid, p, WAITING] += 1
                hist[tid, practice_hospital[p], w] += 1
        if n_reg > 0 and owner >= 0:
            counts[tid, owner, UNFILLED] += n_reg


@njit(cache=True)
def _register(i, owner, birth_month, practice, imd_code, ltc, wait, alive, ref_year,
              practice_imd, lam_t, keys, month, birth_share, imd_sd):
    """Fill a free slot with a newborn or an in-moving adult registering at ``owner``."""
    newborn = _uniform(keys[D_REG_KIND], i) < birth_share
    age = 0 if newborn else 18 + int(_uniform(keys[D_REG_AGE], i) * 27.0)
    u1 = max(_uniform(keys[D_REG_IMD_A], i), 1e-12)
    u2 = _uniform(keys[D_REG_IMD_B], i)
    z = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    score = practice_imd[owner] + imd_sd * z
    code = int(round(score * IMD_CODE_SCALE))
    code = min(max(code, 1), 255)
    birth_month[i] = month - 12 * age
    practice[i] = owner
    imd_code[i] = code
    ltc[i] = 0 if age == 0 else _poisson_from_uniform(lam_t[age, code], _uniform(keys[D_REG_LTC], i), MAX_LTC)
    wait[i] = 0
    alive[i] = 1
    ref_year[i] = -1


@njit(parallel=True, cache=True)
def need_weights(birth_month, practice, imd_code, ltc, alive, block_start, month, weight_t,
                 dep_weight, out):
    """Per-thread fixed-point sums (units of 1e-6) of capitation need weights by practice."""
    n_blocks = block_start.shape[0] - 1
    for b in prange(n_blocks):
        tid = numba.get_thread_id()
        for i in range(block_start[b], block_start[b + 1]):
            if alive[i] == 0:
                continue
            age = (month - birth_month[i]) // 12
            if age > AGE_MAX:
                age = AGE_MAX
            wgt = weight_t[age, ltc[i]] * dep_weight[imd_code[i]]
            out[tid, practice[i]] += np.int64(wgt * 1e6 + 0.5)
