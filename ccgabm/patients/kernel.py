"""Compiled monthly kernel over patients stored contiguously by practice block.

One pass over the occupied slots of every block applies, in order: death, new long-term
condition, elective treatment from the waiting list, emergency admission, need and referral,
and an emergency admission for need a group's lever held back (a referral its lever
prevented, an admission its procedure restriction prevented); free slots take new
registrations. Each decision draws from a counter-based hash of
(seed, month, decision, slot), so results do not depend on the number of threads.
Counts are accumulated per thread in integers and summed afterwards (exact, order-free).

The kernels take their arguments grouped in named tuples (``Patients``, ``Blocks``,
``Levers``, ``RateTables``, ``Constants``, ``Month``, ``Outputs``): numba types each by its
class and field types, so a missing, misnamed or mistyped field fails at compilation.

Where the time goes. Most patients' month changes nothing: no death, no new condition, no
emergency admission, no need, and no wait to advance. Blocks are therefore taken a tile of
``TILE`` slots at a time, in three passes over the tile:

1. ``_draw``: the death, onset, emergency and need uniforms of every slot (splitmix64 on
   64-bit lanes; the compiler vectorises it);
2. ``_screen``: each slot's rows of the rate tables (vectorised), then its four comparisons
   (table look-ups, one slot at a time but free of branches), then the list of the slots
   where something may happen (dead or free slots, waiting patients, and draws below their
   probability: about 6% of the slots in England);
3. the full rules above, for the listed slots only, in slot order, reusing the tile's draws.

Screening only decides which slots need the full rules; every decision is still taken by
them, with the same draws and the same floating-point expressions, so the results are
those of applying the rules to every slot. Person-months come from per-block tallies of the
living (``Blocks.living``), kept up to date by deaths and registrations, so a quiet patient
costs no write at all. Blocks that mix practices (after a closure) skip the screen.

Measured on England at scale 0.2 (15M slots, one thread, CPU time per slot and month), with
the rate tables indexed by row and column and signed indices in the full rules: the draws
~1.1 ns, the table rows ~0.6 ns, the comparisons and list ~2 ns, the full rules on the
listed slots ~1 ns; about 4.7 ns in all (about 10 ns when every slot took the full rules).
Flat tables and counters read at unsigned offsets (``RateTables.by_ltc``, ``_add``) and
int16 table rows in a tile's scratch took about 10% off a month of large blocks. Small
blocks add a cost of their own (loop set-up and exits, a tile's bookkeeping), kept down by
running the vectorised passes to a whole number of vector widths (``PAD``) and by inlining
``_draw`` and ``_screen``: England at scale 0.01 (6,658 blocks of about 90 slots) takes
about 6.3 ns a slot, the baseline region (39 blocks of about 7,800) 4.9 ns (measured on a
2-core machine, one thread, CPU time).
Each slot's month reads 6 bytes (birth month 2, IMD code, conditions, wait, alive: 1 each)
and writes nothing unless listed; practice and referral year are read only for listed
slots. A tile's scratch (41 bytes a slot) stays in cache between the passes.

Other notes: slots above a block's high-water mark are never visited except to place
registrations; a patient's wait is written only when it changes; the list size at the end of
the month is derived (person-months - deaths + registrations) rather than counted. Small
populations run the serial compilation of the kernel (no thread team to wake), middling ones
whichever of the two was faster when last measured (``population.KernelChoice``).

numba's on-disk cache is invalidated by edits to this file only, not to the modules it
takes constants from (``draws.Decision``).
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

import numba
import numpy as np
from numba import njit, prange

from ccgabm.patients.draws import Decision

__all__ = [
    "AGE_MAX", "COUNTER_NAMES", "IMD_CODE_SCALE", "MAX_LTC", "MAX_WAIT", "N_COUNTERS",
    "Blocks", "Constants", "Counter", "Levers", "Month", "Outputs", "Patients",
    "balanced_chunks", "count_alive", "expected_referrals", "need_weights",
    "step_patients", "step_patients_serial", "tally_blocks",
]


class Counter(IntEnum):
    """Per-practice counters written by the kernel: the columns of ``MonthResult.counts``.

    Values follow the order of declaration (0, 1, ...); each member carries the name of its
    column in the output tables (``Counter.X.column``, all of them in ``COUNTER_NAMES``).
    """

    column: str

    def __new__(cls, column: str) -> Counter:
        value = len(cls.__members__)
        member = int.__new__(cls, value)
        member._value_ = value
        member.column = column
        return member

    PERSON_MONTHS = "person_months"
    DEATHS = "deaths"
    REGISTRATIONS = "registrations"
    REFERRALS = "referrals"
    NEWLY_REFERRED = "newly_referred"
    OUTPATIENT = "outpatient"
    DAY_CASE = "day_case"
    INPATIENT = "elective_inpatient"
    EMERGENCY = "emergency"
    WAITING = "waiting"
    LTC_ONSETS = "ltc_onsets"
    LIST_END = "list_end"
    UNFILLED = "registrations_unfilled"
    WAIT_MONTHS_TREATED = "wait_months_treated"
    DEFERRED_EMERGENCY = "deferred_emergency"


N_COUNTERS = len(Counter)
COUNTER_NAMES = tuple(c.column for c in Counter)

MAX_WAIT = 255
MAX_LTC = 7
AGE_MAX = 110
IMD_CODE_SCALE = 2.0  # patient IMD stored as uint8 code = round(2 * score)

# Columns of a thread's scratch row holding its quintile tallies (person-months,
# emergencies); 64 int64 per row keeps the rows of different threads apart.
_QUINT = 40
SCRATCH_WIDTH = 64


class Patients(NamedTuple):
    """One array per patient attribute, indexed by slot."""

    birth_month: np.ndarray  # int16: month of birth (0 = start of the run)
    practice: np.ndarray  # int16: registered practice
    imd_code: np.ndarray  # uint8: round(IMD_CODE_SCALE x IMD score of the patient's area)
    ltc: np.ndarray  # uint8: number of long-term conditions
    wait: np.ndarray  # uint8: months on the waiting list (0: not waiting)
    alive: np.ndarray  # uint8: 1 for a registered patient, 0 for a free slot
    ref_year: np.ndarray  # int8: financial year of the last referral (-1: none)


class Blocks(NamedTuple):
    """The slots of each block of the population (one block per practice at the start)."""

    start: np.ndarray  # int64 [block + 1]: first slot of each block, then the slot count
    hi: np.ndarray  # int64 [block]: one past the last slot that may hold a patient
    owner: np.ndarray  # int16 [block]: practice registering into the block (-1: none)
    practice: np.ndarray  # int16 [block]: practice of every patient of the block (-1: mixed)
    living: np.ndarray  # int64 [block, 6]: living patients, then those of each quintile


class Levers(NamedTuple):
    """This month's practice levers and hospital treatment cut-offs, as the kernel reads them."""

    refer: np.ndarray  # float64 [practice]: probability that a need is referred
    refer_free: np.ndarray  # float64 [practice]: the same without the group's referral lever
    emergency: np.ndarray  # float64 [practice]: relative risk of emergency admission
    conversion: np.ndarray  # float64 [practice]: probability an outpatient is admitted
    conversion_free: np.ndarray  # float64 [practice]: the same without procedure restrictions
    hospital: np.ndarray  # int64 [practice]: hospital serving the practice
    hospital_cut: np.ndarray  # int64 [hospital]: waits above the cut are treated
    hospital_frac: np.ndarray  # float64 [hospital]: share treated of those at the cut


class Constants(NamedTuple):
    """Run-long inputs other than the rate tables."""

    practice_imd: np.ndarray  # float64 [practice]: mean IMD score of the practice's patients
    quintile_of_code: np.ndarray  # uint8 [imd code]: deprivation quintile (0..4)
    inpatient_share: float  # share of elective admissions that are inpatient (not day case)
    waiting_rr: float  # relative risk of emergency admission while waiting
    birth_share: float  # share of new registrations that are newborns
    imd_sd: float  # SD of a patient's IMD score around the practice's
    deferred_emergency: float  # probability that need held back by a group lever returns
    newcomer_age_min: int  # youngest age of adults registering (years)
    newcomer_age_span: int  # number of single years of age adults register at


class Month(NamedTuple):
    """This month's clock, draw keys and registrations."""

    index: int  # months since the start
    year: np.int8  # financial year (index // 12)
    keys: np.ndarray  # uint64 [decision]: ``draws.month_keys(seed, index)``
    registrations: np.ndarray  # float64 [block]: expected new registrations


class Outputs(NamedTuple):
    """Per-thread results (summed over threads by the caller) and scratch rows."""

    counts: np.ndarray  # int64 [thread, practice, Counter]
    hist: np.ndarray  # int64 [thread, hospital, months waited]: the waiting lists
    quint: np.ndarray  # int64 [thread, quintile, (person-months, emergencies)]
    scratch: np.ndarray  # int64 [thread, SCRATCH_WIDTH]


_GOLD = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_INV53 = 1.0 / 9007199254740992.0


@njit(inline="always", cache=True)
def _uniform(key, idx):
    """Uniform in [0, 1) of slot ``idx`` on the stream of ``key`` (splitmix64 finaliser)."""
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


def _month_kernel(parallel: bool):
    """The monthly kernel, compiled threaded (``parallel``) or for the calling thread.

    One source for both paths: ``prange`` shares the chunks among the thread team when
    compiled with ``parallel=True`` and is a plain ``range`` otherwise. numba's on-disk cache
    keys a compilation by signature, bytecode and closure variables but not by compile
    flags, so two compilations of one function object would load each other's machine
    code; ``parallel`` is a closure variable of the compiled function, which keeps them apart.
    """

    def step_patients(patients, blocks, chunks, levers, tables, constants, month, out):
        """Advance every patient by one month; write per-thread counts, histograms, quintiles.

        Blocks are processed in chunks (``chunks``: boundaries of contiguous runs of blocks
        balanced by occupied slots); which thread runs a chunk changes nothing but where its
        integer counts are added, and every draw is keyed by (seed, month, decision, slot),
        so results do not depend on the number of threads. Only slots below a block's
        high-water mark ``blocks.hi`` can hold a patient; slots above it are visited only to
        place registrations that found no earlier free slot.
        """
        # The loop body only calls a compiled function: numba drops writes made through a
        # named tuple's arrays directly inside a ``prange`` body.
        for c in prange(chunks.shape[0] - 1):
            tid = numba.get_thread_id() if parallel else 0
            _step_blocks(patients, blocks, chunks[c], chunks[c + 1], tid, levers, tables,
                         constants, month, out)

    return njit(parallel=parallel, cache=True)(step_patients)


# Slots screened at a time: a tile's scratch (41 bytes a slot) stays in the L1 or L2 cache
# between the passes over it. Measured: 1,024 slots a tile stepped England at scale 0.2 about
# 8% faster than 256 (fewer partial tiles and calls per block).
TILE = 1024

# The vectorised passes over a tile (``_draw`` and the row pass of ``_screen``) run to a
# multiple of ``PAD`` slots past its end (within the tile and the arrays): a loop the
# compiler vectorises 8 or 16 slots at a time then ends without a scalar remainder, which
# in blocks of about 90 slots (England at scale 0.01) took up to 15 of them one at a time.
# The extra slots' draws and rows are never read; the row pass may read the first slots of
# the next block while another thread updates them, values it then discards. Measured on a
# 2-core machine (one thread,
# 6,658 blocks of 45 to 136 slots): 16 and 32 about 5% faster a month than no padding, 64
# about 3%.
PAD = 16


class Tile(NamedTuple):
    """Per-thread scratch of a tile: its slots' draws (``_draw``) and screening (``_screen``).

    Row offsets are at most 3 x (AGE_MAX x (MAX_LTC + 1) + MAX_LTC) (``by_ltc``) and
    (AGE_MAX + 1) x 256 + 1 (``by_code``, the flag row): int16 holds both (measured on a
    2-core machine: about 1% faster a month than int32); ``_ROW_BOUNDS`` checks it.
    """

    draws: np.ndarray  # float64 [4, TILE]: death, onset, emergency and need uniforms
    by_ltc: np.ndarray  # int16 [TILE]: offset of a row of ``RateTables.by_ltc`` (age, conditions)
    by_code: np.ndarray  # int16 [TILE]: row of ``RateTables.onset_flat`` (past the end: flag)
    flags: np.ndarray  # uint8 [TILE]: 1 where the full rules must step the slot
    flagged: np.ndarray  # int32 [TILE]: offsets of the slots the full rules must step


_ROW_BOUNDS = (3 * (AGE_MAX * (MAX_LTC + 1) + MAX_LTC), (AGE_MAX + 1) * 256 + 1)
if max(_ROW_BOUNDS) > np.iinfo(np.int16).max:  # the tile's int16 row offsets would wrap
    raise ImportError(f"row offsets up to {max(_ROW_BOUNDS)} do not fit the tile's int16 rows")


@njit(inline="always", cache=True)
def _bits(key, idx):
    """The 53 high bits of ``_uniform(key, idx)``'s hash, for loops the compiler vectorises."""
    z = key + idx * _GOLD
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    z = z ^ (z >> _S31)
    return z >> _S11


@njit(inline="always", cache=True)
def _draw(lo, hi, keys, draws):
    """The death, onset, emergency and need uniforms of slots ``lo`` .. ``hi - 1``.

    ``draws[d, j]`` is ``_uniform`` of slot ``lo + j`` on the d-th of those streams; one
    loop of integer arithmetic, which the compiler vectorises. Inlined into its caller (see
    ``_screen``).
    """
    u_death, u_ltc, u_emerg, u_need = draws[0], draws[1], draws[2], draws[3]
    k_death = keys[Decision.DEATH]
    k_ltc = keys[Decision.LTC_ONSET]
    k_need = keys[Decision.NEED]
    k_emerg = keys[Decision.EMERGENCY]
    base = np.uint64(lo)
    for j in range(np.uint64(hi - lo)):
        idx = base + j
        u_death[j] = float(_bits(k_death, idx)) * _INV53
        u_ltc[j] = float(_bits(k_ltc, idx)) * _INV53
        u_emerg[j] = float(_bits(k_emerg, idx)) * _INV53
        u_need[j] = float(_bits(k_need, idx)) * _INV53


@njit(inline="always", cache=True)
def _screen(lo, hi, rows_hi, p_emerg, mon, birth_month, imd_code, ltc, wait, alive, by_ltc_t,
            onset_t, dep_emerg, u_death, u_ltc, u_emerg, u_need, by_ltc, by_code, flags, flagged):
    """List the slots ``lo`` .. ``hi - 1`` whose month may change something (after ``_draw``).

    A slot is left out only for a living patient who is not waiting and whose draws give no
    death, no new condition, no emergency admission and no need: such a month adds one
    person-month and nothing else, exactly as the full rules would find. The draws and
    probabilities are those of the full rules (same streams, same floating-point products),
    so a listed slot is simply stepped by them. A pass free of branches and table look-ups,
    which the compiler vectorises, finds each slot's table rows (of slots ``lo`` ..
    ``rows_hi - 1``: ``rows_hi`` at or past ``hi``, see ``PAD``); a second compares; a third
    lists. Returns the number of slots listed in ``flagged``.

    Takes the arrays themselves (patients' attributes, then ``RateTables.by_ltc``,
    ``onset_flat`` and ``dep_emergency``, then the tile's draws and scratch, ``Tile``), not
    the named tuples or rows holding them. Inlined into its caller, as ``_draw`` is: a tile
    is often a whole block of about 90 slots (England at scale 0.01), and stepping those
    blocks took about 5% less time a month inlined than with a call of each per tile
    (measured on a 2-core machine, one thread; no difference in blocks of 15,000 slots).
    """
    n = np.uint64(hi - lo)
    base = np.uint64(lo)
    # the two last rows of the onset table: no onset due (0), and flag whatever the draw (2)
    none_due = np.int32(onset_t.shape[0] - 2)
    flag = np.int32(onset_t.shape[0] - 1)
    for j in range(np.uint64(rows_hi - lo)):
        i = base + j
        months = min(max(mon - np.int32(birth_month[i]), 0), 12 * AGE_MAX + 11)
        # exact: months + 0.5 lies at least 1/24 of a year from a whole number of years
        age = np.int32((np.float32(months) + np.float32(0.5)) * np.float32(1.0 / 12.0))
        nl = np.int32(ltc[i])
        code = np.int32(imd_code[i])
        by_ltc[j] = 3 * (age * (MAX_LTC + 1) + nl)
        row = age * 256 + code if nl < MAX_LTC else none_due
        by_code[j] = row if (alive[i] != 0) & (wait[i] == 0) else flag
    for j in range(n):
        r = np.uint64(by_ltc[j])
        pe = by_ltc_t[r + np.uint64(1)] * dep_emerg[np.uint64(imd_code[base + j])] * p_emerg
        calm = ((u_death[j] >= by_ltc_t[r])
                & (u_ltc[j] >= onset_t[np.uint64(by_code[j])]) & (u_emerg[j] >= pe)
                & (u_need[j] >= by_ltc_t[r + np.uint64(2)]))
        flags[j] = not calm
    # listed apart from the comparisons: a list's growing end would chain them together
    m = 0
    for j in range(n):
        flagged[m] = j
        m += flags[j]
    return m


@njit(cache=True)
def _step_blocks(patients, blocks, first, last, tid, levers, tables, constants, month, out):
    """Advance the patients of blocks ``first`` .. ``last - 1`` (run by thread ``tid``).

    Each run of ``TILE`` slots of a block whose patients all belong to one practice is first
    screened (``_screen``): the quiet majority need nothing more, as the block's person-months
    come from its tallies of the living (``blocks.living``, kept by the deaths and
    registrations); the listed slots then go through the full rules one by one, in slot
    order. Blocks that mix practices (a closed practice's patients dispersed among several)
    take every slot through the rules, which count their person-months.
    """
    birth_month = patients.birth_month
    practice = patients.practice
    imd_code = patients.imd_code
    ltc = patients.ltc
    wait = patients.wait
    alive = patients.alive
    ref_year = patients.ref_year
    block_start = blocks.start
    block_hi = blocks.hi
    block_owner = blocks.owner
    block_practice = blocks.practice
    block_reg = month.registrations
    practice_refer = levers.refer
    practice_refer_free = levers.refer_free
    practice_emerg = levers.emergency
    practice_conversion = levers.conversion
    practice_conversion_free = levers.conversion_free
    deferred = constants.deferred_emergency
    practice_hospital = levers.hospital
    hosp_cut = levers.hospital_cut
    hosp_frac = levers.hospital_frac
    dep_emerg = tables.dep_emergency
    quint_of_code = constants.quintile_of_code
    inpatient_share = constants.inpatient_share
    waiting_rr = constants.waiting_rr
    keys = month.keys
    mon = month.index
    fy = month.year
    counts = out.counts
    hist = out.hist
    # flat views: the counters of a practice and the waiting list of a hospital lie at an
    # unsigned offset (``c0``, ``h0``), found once per run of slots of one practice
    counts_flat = counts.reshape(-1)
    hist_flat = hist.reshape(-1)
    c0 = h0 = np.uint64(0)
    k_refer = keys[Decision.REFER]
    k_treat = keys[Decision.TREAT]
    k_convert = keys[Decision.CONVERT]
    k_inpat = keys[Decision.INPATIENT]
    k_reg = keys[Decision.REGISTER]
    k_deferred = keys[Decision.DEFERRED]
    # per-thread tallies in a row of ``scratch`` padded apart from other threads' rows
    lq = out.scratch[tid, _QUINT:_QUINT + 10].reshape((5, 2))
    lq[:] = 0
    block_living = blocks.living
    n_slots = alive.shape[0]
    tile = Tile(np.empty((4, TILE)), np.empty(TILE, dtype=np.int16),
                np.empty(TILE, dtype=np.int16), np.empty(TILE, dtype=np.uint8),
                np.empty(TILE, dtype=np.int32))
    draws, by_ltc_rows, by_code_rows, flags, flagged = tile
    u_death, u_ltc, u_emerg, u_need = draws[0], draws[1], draws[2], draws[3]
    by_ltc_table = tables.by_ltc
    onset_flat = tables.onset_flat
    h = cut = 0
    frac = p_refer = p_refer_free = p_emerg = p_conv = p_conv_free = 0.0
    for b in range(first, last):
        expected = block_reg[b]
        n_reg = int(expected)
        if _uniform(k_reg, b) < expected - n_reg:
            n_reg += 1
        owner = block_owner[b]
        if owner < 0:
            n_reg = 0
        bp = block_practice[b]
        screened = bp >= 0
        if screened:  # the month's person-months are those living at its start
            counts[tid, bp, Counter.PERSON_MONTHS] += block_living[b, 0]
            for q in range(5):
                lq[q, 0] += block_living[b, 1 + q]
        cur = -1
        hi = block_hi[b]
        start = block_start[b]
        for lo in range(start, hi, TILE):
            top = min(lo + TILE, hi)
            padded = min(lo + (top - lo + PAD - 1) // PAD * PAD, lo + TILE, n_slots)
            _draw(lo, padded, keys, draws)
            if screened:
                n_flagged = _screen(lo, top, padded, practice_emerg[bp], mon, birth_month,
                                    imd_code, ltc, wait, alive, by_ltc_table, onset_flat,
                                    dep_emerg, u_death, u_ltc, u_emerg, u_need, by_ltc_rows,
                                    by_code_rows, flags, flagged)
            else:
                n_flagged = top - lo
                for j in range(n_flagged):
                    flagged[j] = j
            for f in range(n_flagged):
                j = np.uint64(flagged[f])  # unsigned: indices without a check for negatives
                i = np.uint64(lo) + j
                if alive[i] == 0:
                    if n_reg > 0:
                        n_reg -= 1
                        _register(i, owner, patients, tables, constants, month)
                        counts[tid, owner, Counter.REGISTRATIONS] += 1
                        block_living[b, 0] += 1
                        block_living[b, 1 + quint_of_code[imd_code[i]]] += 1
                    continue
                p = practice[i]
                if p != cur:
                    cur = p
                    h = practice_hospital[p]
                    c0 = np.uint64((tid * counts.shape[1] + p) * N_COUNTERS)
                    h0 = np.uint64((tid * hist.shape[1] + h) * (MAX_WAIT + 1))
                    cut = hosp_cut[h]
                    frac = hosp_frac[h]
                    p_refer = practice_refer[p]
                    p_refer_free = practice_refer_free[p]
                    p_emerg = practice_emerg[p]
                    p_conv = practice_conversion[p]
                    p_conv_free = practice_conversion_free[p]
                age = (mon - birth_month[i]) // 12
                if age > AGE_MAX:
                    age = AGE_MAX
                nl = ltc[i]
                code = imd_code[i]
                q = quint_of_code[code]
                r = np.uint64(3 * (age * (MAX_LTC + 1) + nl))  # offset of the row in ``by_ltc_table``
                if not screened:  # else counted for the whole block
                    _add(counts_flat, c0, Counter.PERSON_MONTHS, 1)
                    lq[q, 0] += 1
                if u_death[j] < by_ltc_table[r]:
                    alive[i] = 0
                    wait[i] = 0
                    block_living[b, 0] -= 1
                    block_living[b, 1 + q] -= 1
                    _add(counts_flat, c0, Counter.DEATHS, 1)
                    continue
                if nl < MAX_LTC and u_ltc[j] < onset_flat[np.uint64(age * 256 + code)]:
                    nl += 1
                    ltc[i] = nl
                    r += np.uint64(3)
                    _add(counts_flat, c0, Counter.LTC_ONSETS, 1)
                w = wait[i]
                treated = False
                held_back = False  # need a group lever held back this month (deferred need)
                if w > 0:
                    if w > cut or (w == cut and _uniform(k_treat, i) < frac):
                        treated = True
                        _add(counts_flat, c0, Counter.OUTPATIENT, 1)
                        _add(counts_flat, c0, Counter.WAIT_MONTHS_TREATED, w)
                        u = _uniform(k_convert, i)
                        if u < p_conv:
                            if _uniform(k_inpat, i) < inpatient_share:
                                _add(counts_flat, c0, Counter.INPATIENT, 1)
                            else:
                                _add(counts_flat, c0, Counter.DAY_CASE, 1)
                        elif u < p_conv_free:
                            held_back = True
                        w = 0
                    elif w < MAX_WAIT:
                        w += 1
                pe = by_ltc_table[r + np.uint64(1)] * dep_emerg[code] * p_emerg
                if w > 0:
                    pe *= waiting_rr
                if u_emerg[j] < pe:
                    _add(counts_flat, c0, Counter.EMERGENCY, 1)
                    lq[q, 1] += 1
                # need arises (the patient's draw), then the practice decides (its own draw)
                if w == 0 and not treated and u_need[j] < by_ltc_table[r + np.uint64(2)]:
                    u = _uniform(k_refer, i)
                    if u < p_refer:
                        w = 1
                        _add(counts_flat, c0, Counter.REFERRALS, 1)
                        if ref_year[i] != fy:
                            ref_year[i] = fy
                            _add(counts_flat, c0, Counter.NEWLY_REFERRED, 1)
                    elif u < p_refer_free:
                        held_back = True
                # need held back by a group's lever returns as an emergency admission
                if held_back and _uniform(k_deferred, i) < deferred:
                    _add(counts_flat, c0, Counter.EMERGENCY, 1)
                    _add(counts_flat, c0, Counter.DEFERRED_EMERGENCY, 1)
                    lq[q, 1] += 1
                if w > 0:
                    wait[i] = w
                    _add(counts_flat, c0, Counter.WAITING, 1)
                    hist_flat[h0 + np.uint64(w)] += 1
                elif treated:
                    wait[i] = 0
        if n_reg > 0:
            end = block_start[b + 1]
            i = hi
            while n_reg > 0 and i < end:
                n_reg -= 1
                _register(i, owner, patients, tables, constants, month)
                counts[tid, owner, Counter.REGISTRATIONS] += 1
                block_living[b, 0] += 1
                block_living[b, 1 + quint_of_code[imd_code[i]]] += 1
                i += 1
            block_hi[b] = i
            if n_reg > 0:
                counts[tid, owner, Counter.UNFILLED] += n_reg
    quint = out.quint
    for q in range(5):
        quint[tid, q, 0] += lq[q, 0]
        quint[tid, q, 1] += lq[q, 1]


@njit(inline="always", cache=True)
def _add(flat, offset, counter, value):
    """Adds ``value`` to counter ``counter`` of the practice whose counters start at ``offset``
    of ``flat`` (``Outputs.counts`` flattened)."""
    flat[offset + np.uint64(counter)] += value


@njit(cache=True)
def _register(i, owner, patients, tables, constants, month):
    """Fill free slot ``i`` with a newborn or an in-moving adult registering at ``owner``."""
    keys = month.keys
    newborn = _uniform(keys[Decision.REG_KIND], i) < constants.birth_share
    age = 0 if newborn else constants.newcomer_age_min + int(
        _uniform(keys[Decision.REG_AGE], i) * constants.newcomer_age_span)
    u1 = max(_uniform(keys[Decision.REG_IMD_A], i), 1e-12)
    u2 = _uniform(keys[Decision.REG_IMD_B], i)
    z = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    score = constants.practice_imd[owner] + constants.imd_sd * z
    code = int(round(score * IMD_CODE_SCALE))
    code = min(max(code, 1), 255)
    patients.birth_month[i] = month.index - 12 * age
    patients.practice[i] = owner
    patients.imd_code[i] = code
    patients.ltc[i] = 0 if age == 0 else _poisson_from_uniform(
        tables.lam[age, code], _uniform(keys[Decision.REG_LTC], i), MAX_LTC)
    patients.wait[i] = 0
    patients.alive[i] = 1
    patients.ref_year[i] = -1


step_patients = _month_kernel(parallel=True)
step_patients_serial = _month_kernel(parallel=False)


@njit(inline="always", cache=True)
def _need_weight(i, month_index, patients, tables):
    """Capitation need weight of the patient in slot ``i``, fixed-point (units of 1e-6)."""
    age = (month_index - patients.birth_month[i]) // 12
    if age > AGE_MAX:
        age = AGE_MAX
    nl = patients.ltc[i]
    wgt = (tables.capitation[age, nl]
           + tables.capitation_emergency[age, nl] * tables.dep_capitation[patients.imd_code[i]])
    return np.int64(wgt * 1e6 + 0.5)


@njit(cache=True)
def _ltc_rows(lo, hi, patients, month_index, rows):
    """``rows[j]``: age x (MAX_LTC + 1) + conditions of slot ``lo + j`` (vectorised).

    The age is that of ``_screen``: whole years at ``month_index``, at most ``AGE_MAX``.
    """
    birth_month, ltc = patients.birth_month, patients.ltc
    base = np.uint64(lo)
    for j in range(np.uint64(hi - lo)):
        i = base + j
        months = min(max(month_index - np.int32(birth_month[i]), 0), 12 * AGE_MAX + 11)
        age = np.int32((np.float32(months) + np.float32(0.5)) * np.float32(1.0 / 12.0))
        rows[j] = age * (MAX_LTC + 1) + np.int32(ltc[i])


@njit(parallel=True, cache=True)
def need_weights(patients, blocks, chunks, month_index, tables, out):
    """Per-thread fixed-point sums (units of 1e-6) of capitation need weights by practice.

    A block of one practice is summed in a register, a tile at a time (its table rows found
    by a vectorised pass first), and added once; a block that mixes practices adds each
    patient to its practice's sum.
    """
    practice, alive, imd_code = patients.practice, patients.alive, patients.imd_code
    block_start, block_hi, block_practice = blocks.start, blocks.hi, blocks.practice
    n_rows = tables.capitation.size
    elective_t = tables.capitation.reshape(n_rows)
    emergency_t = tables.capitation_emergency.reshape(n_rows)
    dep_weight = tables.dep_capitation
    for c in prange(chunks.shape[0] - 1):
        tid = numba.get_thread_id()
        rows = np.empty(TILE, dtype=np.int32)
        for b in range(chunks[c], chunks[c + 1]):
            bp = block_practice[b]
            if bp < 0:
                for i in range(block_start[b], block_hi[b]):
                    if alive[i] != 0:
                        out[tid, practice[i]] += _need_weight(i, month_index, patients, tables)
                continue
            total = 0
            for lo in range(block_start[b], block_hi[b], TILE):
                top = min(lo + TILE, block_hi[b])
                _ltc_rows(lo, top, patients, month_index, rows)
                for j in range(top - lo):
                    i = lo + j
                    r = np.uint64(rows[j])
                    wgt = elective_t[r] + emergency_t[r] * dep_weight[np.uint64(imd_code[i])]
                    if alive[i] != 0:
                        total += np.int64(wgt * 1e6 + 0.5)
            out[tid, bp] += total


@njit(cache=True)
def expected_referrals(patients, blocks, month_index, need_t, refer, out):
    """Adds need x referral probability of every living patient to ``out[practice]``.

    One thread, in slot order: each practice's sum takes its terms in the order of
    ``np.bincount(practice, weights=...)`` over the living slots, so it is the same number.
    """
    birth_month, practice, ltc, alive = (patients.birth_month, patients.practice, patients.ltc,
                                         patients.alive)
    for b in range(blocks.hi.shape[0]):
        for i in range(blocks.start[b], blocks.hi[b]):
            if alive[i] == 0:
                continue
            age = (month_index - np.int64(birth_month[i])) // 12
            if age > AGE_MAX:
                age = AGE_MAX
            p = practice[i]
            out[p] += need_t[age, ltc[i]] * refer[p]


@njit(cache=True)
def tally_blocks(patients, blocks, quintile_of_code):
    """Fill ``blocks.living``: each block's living patients, in all and by quintile."""
    alive, imd_code = patients.alive, patients.imd_code
    living = blocks.living
    living[:] = 0
    for b in range(living.shape[0]):
        for i in range(blocks.start[b], blocks.hi[b]):
            if alive[i] != 0:
                living[b, 0] += 1
                living[b, 1 + quintile_of_code[imd_code[i]]] += 1


@njit(parallel=True, cache=True)
def count_alive(patients, blocks, chunks, out):
    """Per-thread counts of living registered patients by practice (blocks of one practice
    counted in a register, as in ``need_weights``)."""
    practice, alive = patients.practice, patients.alive
    block_start, block_hi, block_practice = blocks.start, blocks.hi, blocks.practice
    for c in prange(chunks.shape[0] - 1):
        tid = numba.get_thread_id()
        for b in range(chunks[c], chunks[c + 1]):
            bp = block_practice[b]
            if bp >= 0:
                total = 0
                for i in range(block_start[b], block_hi[b]):
                    total += alive[i] != 0
                out[tid, bp] += total
            else:
                for i in range(block_start[b], block_hi[b]):
                    if alive[i] != 0:
                        out[tid, practice[i]] += 1


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
