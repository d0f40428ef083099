"""Compiled monthly kernel over patients stored contiguously by practice block.

One pass over the occupied slots of every block applies, in order: death, new long-term
condition, elective treatment from the waiting list, emergency admission, need and referral;
free slots take new registrations. Each decision draws from a counter-based hash of
(seed, month, decision, slot), so results do not depend on the number of threads.
Counts are accumulated per thread in integers and summed afterwards (exact, order-free).

Performance notes (issue 7): counters of the practice being processed are kept in a
per-thread scratch row (padded so threads never share a cache line) and added to the
per-practice table once per block; slots above a block's high-water mark are never visited
except to place registrations; a patient's wait is written only when it changes; the list
size at the end of the month is derived (person-months - deaths + registrations) rather than
counted. Small populations run the serial twin of the kernel (no thread team to wake).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

from ccgabm.rng import N_DECISIONS, Decision

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


@njit(inline="always", cache=True)
def _mix64(z):
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@njit(cache=True)
def _month_keys(seed, month):
    keys = np.zeros(N_DECISIONS, dtype=np.uint64)
    for d in range(N_DECISIONS):
        z = _mix64(seed * np.uint64(0x9E3779B97F4A7C15) + np.uint64(0x632BE59BD9B4E019))
        z = _mix64(z ^ (np.uint64(month + 1) * np.uint64(0xD1B54A32D192ED03)))
        keys[d] = _mix64(z ^ (np.uint64(d + 1) * np.uint64(0x8CB92BA72F3D8DD7)))
    return keys


def month_keys(seed: int, month: int) -> np.ndarray:
    """``ccgabm.rng.month_keys`` (the same keys) without the Python big-integer arithmetic."""
    return _month_keys(np.uint64(seed), np.int64(month))


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


@njit(cache=True)
def _step_blocks(
    birth_month, practice, imd_code, ltc, wait, alive, ref_year,
    block_start, block_hi, block_reg, block_owner, first, last, tid,
    practice_imd, practice_refer, practice_emerg,
    practice_conversion, practice_hospital, hosp_cut, hosp_frac,
    death_t, onset_t, need_t, emerg_t, dep_emerg, lam_t, quint_of_code,
    keys, month, fy, inpatient_share, waiting_rr, birth_share, imd_sd,
    counts, hist, quint, scratch,
):
    """Advance the patients of blocks ``first`` .. ``last - 1`` (run by thread ``tid``)."""
    k_death = keys[D_DEATH]
    k_ltc = keys[D_LTC]
    k_need = keys[D_NEED]
    k_refer = keys[D_REFER]
    k_treat = keys[D_TREAT]
    k_emerg = keys[D_EMERG]
    k_convert = keys[D_CONVERT]
    k_inpat = keys[D_INPAT]
    k_reg = keys[D_REG]
    # per-thread accumulators in rows of ``scratch`` padded apart (no false sharing)
    acc = scratch[tid, 16:16 + N_COUNTERS]
    acc[:] = 0
    lq = scratch[tid, 40:50].reshape((5, 2))
    lq[:] = 0
    for b in range(first, last):
        expected = block_reg[b]
        n_reg = int(expected)
        if _uniform(k_reg, b) < expected - n_reg:
            n_reg += 1
        owner = block_owner[b]
        if owner < 0:
            n_reg = 0
        cur = -1
        hi = block_hi[b]
        start = block_start[b]
        for i in range(start, hi):
            if alive[i] == 0:
                if n_reg > 0:
                    n_reg -= 1
                    _register(i, owner, birth_month, practice, imd_code, ltc, wait, alive,
                              ref_year, practice_imd, lam_t, keys, month, birth_share, imd_sd)
                    counts[tid, owner, REGISTRATIONS] += 1
                continue
            p = practice[i]
            if p != cur:
                if cur >= 0:
                    for k in range(N_COUNTERS):
                        counts[tid, cur, k] += acc[k]
                        acc[k] = 0
                cur = p
                h = practice_hospital[p]
                cut = hosp_cut[h]
                frac = hosp_frac[h]
                p_refer = practice_refer[p]
                p_emerg = practice_emerg[p]
                p_conv = practice_conversion[p]
            age = (month - birth_month[i]) // 12
            if age > AGE_MAX:
                age = AGE_MAX
            nl = ltc[i]
            code = imd_code[i]
            q = quint_of_code[code]
            acc[PERSON_MONTHS] += 1
            lq[q, 0] += 1
            if _uniform(k_death, i) < death_t[age, nl]:
                alive[i] = 0
                wait[i] = 0
                acc[DEATHS] += 1
                continue
            if nl < MAX_LTC and _uniform(k_ltc, i) < onset_t[age, code]:
                nl += 1
                ltc[i] = nl
                acc[LTC_ONSETS] += 1
            w = wait[i]
            treated = False
            if w > 0:
                if w > cut or (w == cut and _uniform(k_treat, i) < frac):
                    treated = True
                    acc[OUTPATIENT] += 1
                    acc[WAIT_MONTHS_TREATED] += w
                    if _uniform(k_convert, i) < p_conv:
                        if _uniform(k_inpat, i) < inpatient_share:
                            acc[INPATIENT] += 1
                        else:
                            acc[DAY_CASE] += 1
                    w = 0
                elif w < MAX_WAIT:
                    w += 1
            pe = emerg_t[age, nl] * dep_emerg[code] * p_emerg
            if w > 0:
                pe *= waiting_rr
            if _uniform(k_emerg, i) < pe:
                acc[EMERGENCY] += 1
                lq[q, 1] += 1
            # need arises (the patient's draw), then the practice decides (its own draw)
            if (
                w == 0
                and not treated
                and _uniform(k_need, i) < need_t[age, nl]
                and _uniform(k_refer, i) < p_refer
            ):
                w = 1
                acc[REFERRALS] += 1
                if ref_year[i] != fy:
                    ref_year[i] = fy
                    acc[NEWLY_REFERRED] += 1
            if w > 0:
                wait[i] = w
                acc[WAITING] += 1
                hist[tid, practice_hospital[p], w] += 1
            elif treated:
                wait[i] = 0
        if cur >= 0:
            for k in range(N_COUNTERS):
                counts[tid, cur, k] += acc[k]
                acc[k] = 0
        if n_reg > 0:
            end = block_start[b + 1]
            i = hi
            while n_reg > 0 and i < end:
                n_reg -= 1
                _register(i, owner, birth_month, practice, imd_code, ltc, wait, alive,
                          ref_year, practice_imd, lam_t, keys, month, birth_share, imd_sd)
                counts[tid, owner, REGISTRATIONS] += 1
                i += 1
            block_hi[b] = i
            if n_reg > 0:
                counts[tid, owner, UNFILLED] += n_reg
    for q in range(5):
        quint[tid, q, 0] += lq[q, 0]
        quint[tid, q, 1] += lq[q, 1]


@njit(parallel=True, cache=True)
def step_patients(
    birth_month, practice, imd_code, ltc, wait, alive, ref_year,
    block_start, block_hi, block_reg, block_owner, chunk_start,
    practice_imd, practice_refer, practice_emerg,
    practice_conversion, practice_hospital, hosp_cut, hosp_frac,
    death_t, onset_t, need_t, emerg_t, dep_emerg, lam_t, quint_of_code,
    keys, month, fy, inpatient_share, waiting_rr, birth_share, imd_sd,
    counts, hist, quint, scratch,
):
    """Advance every patient by one month; write per-thread counts, histograms, quintiles.

    Blocks are processed in chunks (contiguous runs of blocks balanced by occupied slots);
    which thread runs a chunk changes nothing but where its integer counts are added, and
    every draw is keyed by (seed, month, decision, slot), so results do not depend on the
    number of threads. Only slots below a block's high-water mark ``block_hi`` can hold a
    patient; slots above it are visited only to place registrations that found no earlier
    free slot. ``step_patients_serial`` is the same on the calling thread (small populations,
    where starting the thread team costs more than it saves).
    """
    n_chunks = chunk_start.shape[0] - 1
    for c in prange(n_chunks):
        _step_blocks(
            birth_month, practice, imd_code, ltc, wait, alive, ref_year,
            block_start, block_hi, block_reg, block_owner,
            chunk_start[c], chunk_start[c + 1], numba.get_thread_id(),
            practice_imd, practice_refer, practice_emerg,
            practice_conversion, practice_hospital, hosp_cut, hosp_frac,
            death_t, onset_t, need_t, emerg_t, dep_emerg, lam_t, quint_of_code,
            keys, month, fy, inpatient_share, waiting_rr, birth_share, imd_sd,
            counts, hist, quint, scratch,
        )


@njit(cache=True)
def step_patients_serial(
    birth_month, practice, imd_code, ltc, wait, alive, ref_year,
    block_start, block_hi, block_reg, block_owner, chunk_start,
    practice_imd, practice_refer, practice_emerg,
    practice_conversion, practice_hospital, hosp_cut, hosp_frac,
    death_t, onset_t, need_t, emerg_t, dep_emerg, lam_t, quint_of_code,
    keys, month, fy, inpatient_share, waiting_rr, birth_share, imd_sd,
    counts, hist, quint, scratch,
):
    """``step_patients`` on the calling thread (the same results; no thread team to start)."""
    n_chunks = chunk_start.shape[0] - 1
    for c in range(n_chunks):
        _step_blocks(
            birth_month, practice, imd_code, ltc, wait, alive, ref_year,
            block_start, block_hi, block_reg, block_owner,
            chunk_start[c], chunk_start[c + 1], 0,
            practice_imd, practice_refer, practice_emerg,
            practice_conversion, practice_hospital, hosp_cut, hosp_frac,
            death_t, onset_t, need_t, emerg_t, dep_emerg, lam_t, quint_of_code,
            keys, month, fy, inpatient_share, waiting_rr, birth_share, imd_sd,
            counts, hist, quint, scratch,
        )


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
def need_weights(birth_month, practice, imd_code, ltc, alive, block_start, block_hi, chunk_start,
                 month, weight_t, dep_weight, out):
    """Per-thread fixed-point sums (units of 1e-6) of capitation need weights by practice."""
    n_chunks = chunk_start.shape[0] - 1
    for c in prange(n_chunks):
        tid = numba.get_thread_id()
        for b in range(chunk_start[c], chunk_start[c + 1]):
            for i in range(block_start[b], block_hi[b]):
                if alive[i] == 0:
                    continue
                age = (month - birth_month[i]) // 12
                if age > AGE_MAX:
                    age = AGE_MAX
                wgt = weight_t[age, ltc[i]] * dep_weight[imd_code[i]]
                out[tid, practice[i]] += np.int64(wgt * 1e6 + 0.5)


@njit(parallel=True, cache=True)
def count_alive(practice, alive, block_start, block_hi, chunk_start, out):
    """Per-thread counts of living registered patients by practice."""
    n_chunks = chunk_start.shape[0] - 1
    for c in prange(n_chunks):
        tid = numba.get_thread_id()
        for b in range(chunk_start[c], chunk_start[c + 1]):
            for i in range(block_start[b], block_hi[b]):
                if alive[i] != 0:
                    out[tid, practice[i]] += 1


@njit(parallel=True, cache=True)
def searchsorted_right(cdf, u, out):
    """``out[j] = np.searchsorted(cdf, u[j], side="right")`` for uniforms ``u`` in [0, 1).

    A table of the answer at 4,096 evenly spaced points gives a start from which a short
    forward scan finds the exact index (no unpredictable binary-search branches).
    """
    n = cdf.shape[0]
    n_buckets = 4096
    start = np.empty(n_buckets, dtype=np.int64)
    lo = 0
    for k in range(n_buckets):
        x = k / n_buckets
        while lo < n and cdf[lo] <= x:
            lo += 1
        start[k] = lo
    for j in prange(u.shape[0]):
        x = u[j]
        k = int(x * n_buckets)
        if k >= n_buckets:
            k = n_buckets - 1
        idx = start[k]
        while idx < n and cdf[idx] <= x:
            idx += 1
        out[j] = idx


def balanced_chunks(block_start: np.ndarray, block_hi: np.ndarray, n_chunks: int) -> np.ndarray:
    """Boundaries (block indices) of ``n_chunks`` runs of blocks with similar occupied slots."""
    n_blocks = len(block_hi)
    used = np.cumsum(block_hi - block_start[:-1])
    total = used[-1] if n_blocks else 0
    if n_chunks <= 1 or total == 0:
        return np.array([0, n_blocks], dtype=np.int64)
    targets = total * np.arange(1, n_chunks) / n_chunks
    inner = np.searchsorted(used, targets, side="left") + 1
    return np.concatenate(([0], np.minimum(inner, n_blocks), [n_blocks])).astype(np.int64)
