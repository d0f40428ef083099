"""Trust between practices: a dense matrix, updated once a year.

``trust[p, q]`` is how much practice p trusts practice q (0..1). It starts at
``initial_trust`` within a group and ``trust_outside`` across groups (plus noise). Each year
end, in this order:

1. members of a group that broke even trust each other more (``success_gain``);
2. in a deficit year, members whose patients got less spend per need than others trust those
   others less (``fairness_weight``);
3. trust drifts a share ``trust_decay`` of the way towards the level the *current* relation
   sustains: ``initial_trust`` between members of the same group (time together builds trust,
   so newcomers come to trust their new group) and ``trust_outside`` between practices in
   different groups (old ties fade once practices are apart).

Practices outvoted in a decommissioning decision trust the winners less (``vote_loss_penalty``;
applied by the decommissioning behaviour). Trust inside a group below trust in outsiders
(``initial_trust < trust_outside``) makes practices prefer their neighbours from the start; it
is refused unless ``allow_trust_inversion = true`` asks for it.
"""

from __future__ import annotations

import functools
import hashlib
import sys
import time
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numba import njit, prange

from ccgabm import coalition_kernels as kernels
from ccgabm import world_cache
from ccgabm.behaviours.base import Behaviour
from ccgabm.coalitions import flatten
from ccgabm.params import ASSUMED, ConfigError, param
from ccgabm.schedule import Phase, When


@dataclass(frozen=True)
class TrustParams:
    initial_trust: float = param(
        0.6, lo=0.0, hi=1.0, source=ASSUMED + ": trust between practices that worked together",
    )
    trust_outside: float = param(
        0.3, lo=0.0, hi=1.0, source=ASSUMED + ": trust in practices of neighbouring groups",
    )
    trust_noise_sd: float = param(0.05, lo=0.0, hi=0.5, source=ASSUMED)
    success_gain: float = param(
        0.03, lo=0.0, hi=0.5, source=ASSUMED + ": trust gained in a year the group breaks even",
    )
    fairness_weight: float = param(
        0.1, lo=0.0, hi=5.0, source=ASSUMED + ": trust lost per unit of unfairness of spend vs need",
    )
    vote_loss_penalty: float = param(
        0.08, lo=0.0, hi=1.0, source=ASSUMED + ": trust lost in the winners by a practice outvoted",
    )
    trust_decay: float = param(
        0.1, lo=0.0, hi=1.0,
        source=ASSUMED + ": yearly drift of trust towards the level its current relation sustains",
    )
    allow_trust_inversion: bool = param(
        False, source="modelling safeguard",
        doc="allow initial_trust below trust_outside (practices trusting neighbouring groups "
        "more than their own from the start)",
    )


# matrices this large are built in a background thread and kept in the start-up cache (assumed)
BACKGROUND_ENTRIES = 1_000_000


def _large(n: int) -> bool:
    """Whether the matrix of ``n`` practices is large (``BACKGROUND_ENTRIES``): built in the
    background, kept in the start-up cache, its memory reused (``_matrix_memory``)."""
    return n * n >= BACKGROUND_ENTRIES


# The memory of the last such matrix whose network has been collected, for the next one in this
# process (a sweep worker builds one model after another); at most one is kept. Filling memory
# already mapped avoids the page faults of a fresh array: an England matrix read from the
# start-up cache into fresh memory took 0.04-0.4 s (0.4 s when the kernel had to compact memory
# for huge pages), into this memory 0.02 s (measured on a 2-core machine).
_spare: list[np.ndarray] = []


def _matrix_memory(n: int) -> np.ndarray:
    """An (n, n) float32 array to fill: the spare one when it has that shape and nothing else
    holds it (no array viewing it either; a weak reference to it, which does not count, then
    sees the new matrix), else a new one."""
    probe = object()  # held only here, as ``spare`` is when nothing else holds it
    while True:
        try:
            spare = _spare.pop()
        except IndexError:
            return np.empty((n, n), dtype=np.float32)
        # the same count as the probe's: CPython counts names and call arguments alike for
        # both (3.12 counts the argument, 3.14 borrows it), and any other holder adds one
        if (spare.shape == (n, n) and spare.dtype == np.float32
                and sys.getrefcount(spare) == sys.getrefcount(probe)):
            return spare
        del spare


def _keep_spare(matrix: np.ndarray) -> None:
    _spare[:] = [matrix]


class TrustNetwork:
    """``trust[p, q]`` is how much practice p trusts practice q (0..1).

    The starting matrix is ``initial_trust`` within a group and ``trust_outside`` across
    groups, plus normal noise (``trust_noise_sd``), clipped to 0..1; trust in oneself is 1.
    With ``background=True`` a large matrix is built in a background thread while the model
    goes on (its own random stream, so the values do not depend on timing): ``trust`` waits
    for it on first use. With ``keep_as`` (a key naming everything the matrix depends on:
    seed, groups, parameters, this code), a large matrix is also taken from the start-up cache
    (``ccgabm.world_cache``) when kept there, and kept there when its key is asked for a second
    time; the ``rng`` is then not drawn from (nothing else draws from it).
    """

    def __init__(self, group_ids: np.ndarray, cfg: TrustParams, rng: np.random.Generator,
                 *, background: bool = False, keep_as: str | None = None) -> None:
        self.cfg = cfg
        self._trust: np.ndarray | None = None
        self._origin = "built"
        self._building: Future | None = None
        self.waited_s = 0.0  # how long the model waited for a background build (wall seconds)
        self._offer: weakref.finalize | None = None  # the starting matrix offered when collected
        n = len(group_ids)
        large = _large(n)
        keep_as = keep_as if large else None
        args = (np.asarray(group_ids, dtype=np.int64), cfg, rng, keep_as)
        if background and large:
            pool = ThreadPoolExecutor(1, thread_name_prefix="trust")
            self._building = pool.submit(_starting, *args)
            pool.shutdown(wait=False)  # the thread ends when the build does
        else:
            self._trust, self._origin = _starting(*args)
            self._recycle(large)

    def _wait(self) -> None:
        if self._building is not None:
            started = time.perf_counter()
            self._trust, self._origin = self._building.result()
            self._building = None
            self.waited_s = time.perf_counter() - started
            self._recycle(True)

    def _recycle(self, large: bool) -> None:
        """A large starting matrix's memory is offered to the next network once this one is
        collected (``_matrix_memory``)."""
        if large:
            self._offer = weakref.finalize(self, _keep_spare, self._trust)
            self._offer.atexit = False

    @property
    def trust(self) -> np.ndarray:
        """The matrix (waiting for the background build, if one is still going)."""
        if self._trust is None:
            self._wait()
        return self._trust

    @trust.setter
    def trust(self, value: np.ndarray) -> None:
        self._wait()
        if self._offer is not None:  # the starting matrix is not offered: it may be freed now
            self._offer.detach()
            self._offer = None
        self._trust = value

    @property
    def origin(self) -> str:
        """Where the starting matrix came from: "built", "built and kept" (in the start-up
        cache, when it can be written) or "cache" (read from it)."""
        self._wait()
        return self._origin

    def mean_trust(self, p: int, others: np.ndarray, weights: np.ndarray | None = None) -> float:
        """Mean trust of ``p`` in ``others`` (p excluded), weighted by ``weights[others]``."""
        others = others[others != p]
        if len(others) == 0:
            return 0.0
        w = None if weights is None else np.maximum(weights[others], 1)
        return float(np.average(self.trust[p, others], weights=w))

    def mean_trusts(self, rows: np.ndarray, others: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """``mean_trust(p, others, weights)`` for each ``p`` of ``rows``."""
        rows, others = np.asarray(rows, dtype=np.int64), np.asarray(others, dtype=np.int64)
        if (self.trust.dtype == np.float32 and kernels.compiled_for(len(self.trust)) and len(rows)
                and len(others)):
            out = kernels.mean_trust_rows(self.trust, rows, others,
                                          np.maximum(weights, 1).astype(float))
            if len(out):
                return out
        return np.array([self.mean_trust(p, others, weights) for p in rows.tolist()])

    def shared_success(self, members: np.ndarray) -> None:
        """A group that broke even: its members trust each other more."""
        self._add(members, members, self.cfg.success_gain)

    def lost_vote(self, losers: np.ndarray, winners: np.ndarray) -> None:
        """Practices outvoted in a decommissioning decision trust the winners less."""
        self._add(losers, winners, -self.cfg.vote_loss_penalty)

    def unfairness(self, members: np.ndarray, spend_per_need: np.ndarray) -> None:
        """Members whose patients get less than their need trust those who get more, less."""
        rel = self._relative(spend_per_need)
        # trust of p in q falls by fairness_weight x how much more q gets than p (large worlds
        # take this step within ``year_end``'s one pass)
        gap = np.clip(rel[None, :] - rel[:, None], 0.0, None)
        idx = np.ix_(members, members)
        self.trust[idx] = np.clip(self.trust[idx] - self.cfg.fairness_weight * gap, 0.0, 1.0)

    @staticmethod
    def _relative(spend_per_need: np.ndarray) -> np.ndarray:
        """Each member's spend per need against the group's mean."""
        return spend_per_need / max(float(np.mean(spend_per_need)), 1e-12)

    def raise_towards_members(self, rows: np.ndarray, cols: np.ndarray, share: float) -> None:
        """``rows`` trust ``cols`` ``share`` of the way more towards the level co-members'
        trust drifts to (``initial_trust``); trust above that level is kept."""
        if len(rows) == 0 or len(cols) == 0 or share <= 0:
            return
        idx = np.ix_(rows, cols)
        current = self.trust[idx]
        inside = np.float32(self.cfg.initial_trust)
        self.trust[idx] = current + np.float32(share) * np.clip(inside - current, 0.0, None)
        self._restore_diagonal(rows, cols)

    def decay(self, groups: list[np.ndarray]) -> None:
        """Trust drifts towards ``initial_trust`` among co-members (``groups``: each group's
        members) and towards ``trust_outside`` between practices in different groups."""
        self.year_end(groups, [False] * len(groups), [None] * len(groups))

    def year_end(self, groups: list[np.ndarray], success: list[bool],
                 spend_per_need: list[np.ndarray | None]) -> None:
        """The year end within each group of ``groups`` (each group's members), in this order:
        ``shared_success`` where ``success[g]``, else ``unfairness`` with ``spend_per_need[g]``
        (each member's, in member order) unless that is None; then ``decay``.

        Compiled, it is one pass over the trust matrix: each row gets its group's update, then
        its drift (the same arithmetic as the steps one by one)."""
        rate = np.float32(self.cfg.trust_decay)
        outside = np.float32(self.cfg.trust_outside)
        inside = np.float32(self.cfg.initial_trust)
        if not kernels.compiled_for(len(self.trust)):
            for members, shared, spend in zip(groups, success, spend_per_need, strict=True):
                if len(members) == 0:
                    continue
                if shared:
                    self.shared_success(members)
                elif spend is not None:
                    self.unfairness(members, spend)
            self.trust *= np.float32(1.0) - rate
            self.trust += rate * outside
            for members in groups:
                if len(members):
                    self.trust[np.ix_(members, members)] += rate * (inside - outside)
            np.fill_diagonal(self.trust, 1.0)
            return
        flat, group_start = flatten(groups)
        sizes = np.diff(group_start)
        group_of = np.full(len(self.trust), -1, dtype=np.int64)
        group_of[flat] = np.repeat(np.arange(len(groups), dtype=np.int64), sizes)
        position = np.zeros(len(self.trust), dtype=np.int64)
        position[flat] = np.arange(len(flat), dtype=np.int64)
        mode = np.zeros(len(groups), dtype=np.int64)
        relative = np.zeros(len(flat))
        for g, (shared, spend) in enumerate(zip(success, spend_per_need, strict=True)):
            if shared:
                mode[g] = 1
            elif spend is not None and sizes[g]:
                mode[g] = 2
                relative[group_start[g]:group_start[g + 1]] = self._relative(spend)
        _year_end(self.trust, group_of, flat, group_start, position, mode, relative,
                  np.float32(self.cfg.success_gain), float(self.cfg.fairness_weight),
                  np.float32(1.0) - rate, rate * outside, rate * (inside - outside))

    def _add(self, rows: np.ndarray, cols: np.ndarray, amount: float) -> None:
        if len(rows) == 0 or len(cols) == 0:
            return
        if kernels.compiled_for(len(self.trust)):
            _add_clipped(self.trust, np.asarray(rows, dtype=np.int64),
                         np.asarray(cols, dtype=np.int64), np.float32(amount))
        else:
            idx = np.ix_(rows, cols)
            self.trust[idx] = np.clip(self.trust[idx] + amount, 0.0, 1.0)
        self._restore_diagonal(rows, cols)

    def _restore_diagonal(self, rows: np.ndarray, cols: np.ndarray) -> None:
        """Trust in oneself stays 1 (the only diagonal entries a block of ``rows`` x ``cols``
        can have changed)."""
        both = np.intersect1d(rows, cols)
        self.trust[both, both] = 1.0


def _starting(group_ids: np.ndarray, cfg: TrustParams, rng: np.random.Generator,
              keep_as: str | None) -> tuple[np.ndarray, str]:
    """The starting matrix and where it came from: read from the start-up cache under
    ``keep_as`` when kept there, else built (and kept, before anything can change it, when
    ``keep_as`` is asked for a second time)."""
    n = len(group_ids)
    memory = _matrix_memory(n) if _large(n) else None
    if keep_as is None:
        return starting_trust(group_ids, cfg, rng, out=memory), "built"
    kept = world_cache.load_array("trust", keep_as, (n, n), np.float32, out=memory)
    if kept is not None:
        return kept, "cache"
    keep = world_cache.second_request("trust", keep_as)
    trust = starting_trust(group_ids, cfg, rng, out=memory)
    if keep:
        world_cache.save_array("trust", keep_as, trust)
    return trust, "built and kept" if keep else "built"


def starting_trust(group_ids: np.ndarray, cfg: TrustParams, rng: np.random.Generator,
                   out: np.ndarray | None = None) -> np.ndarray:
    """The starting matrix: the draws of one ``rng.normal(0, trust_noise_sd, (n, n))`` in
    row-major order, each cast to float32, plus ``initial_trust`` or ``trust_outside``
    (float32), clipped to 0..1; the diagonal 1. ``rng`` ends where that draw would leave it.
    Written into ``out`` (float32, (n, n)) when given."""
    n = len(group_ids)
    trust = np.empty((n, n), dtype=np.float32) if out is None else out
    _fill(trust, rng, float(cfg.trust_noise_sd), np.asarray(group_ids, dtype=np.int64),
          np.float32(cfg.initial_trust), np.float32(cfg.trust_outside))
    np.fill_diagonal(trust, 1.0)
    return trust


@njit(cache=True, nogil=True)
def _fill(trust, rng, noise_sd, group_ids, inside, outside):
    """``trust = clip(float32(rng.normal(0, noise_sd, shape)) + where(same group, inside,
    outside), 0, 1)`` in float32, one entry at a time in row-major order.

    numba draws from the generator's own bit generator with numpy's algorithms, so the values
    and the generator's state afterwards are numpy's (``rng.normal`` is ``0.0 + noise_sd *
    standard_normal``). England's matrix (44M entries) took 0.22 s this way against 0.5 s with
    numpy's array draws (measured on a 2-core machine)."""
    zero, one = np.float32(0.0), np.float32(1.0)
    for i in range(trust.shape[0]):
        g = group_ids[i]
        row = trust[i]
        for k in range(trust.shape[1]):
            v = np.float32(rng.normal(0.0, noise_sd)) + (inside if group_ids[k] == g else outside)
            row[k] = min(max(v, zero), one)


@njit(cache=True)
def _add_clipped(trust, rows, cols, amount):
    """``trust[np.ix_(rows, cols)] = np.clip(trust[np.ix_(rows, cols)] + amount, 0, 1)`` in
    float32, for rows and columns without repeats."""
    for i in rows:
        for k in cols:
            trust[i, k] = min(max(trust[i, k] + amount, np.float32(0.0)), np.float32(1.0))


@njit(parallel=True, cache=True)
def _year_end(trust, group_of, members, group_start, position, mode, relative, gain, weight, keep,
              towards_outside, lift):
    """In place, one pass over the rows: row i of a member of group g (``group_of``: -1 for
    none; its members ``members[group_start[g]:group_start[g+1]]``) first gets its group's
    update in its members' columns: ``mode[g]`` 1, ``_add_clipped`` of ``gain``; 2,
    ``unfairness`` with ``relative`` (aligned with ``members``; the row's own at
    ``position[i]``), in float64 stored as float32; 0, none. Then every entry becomes
    ``trust * keep + towards_outside``, the members' columns plus ``lift`` (float32), and the
    diagonal 1."""
    for i in prange(trust.shape[0]):
        row = trust[i]
        g = group_of[i]
        start = group_start[g] if g >= 0 else 0
        stop = group_start[g + 1] if g >= 0 else 0
        if g >= 0 and mode[g] == 1:
            for t in range(start, stop):
                k = members[t]
                row[k] = min(max(row[k] + gain, np.float32(0.0)), np.float32(1.0))
        elif g >= 0 and mode[g] == 2:
            own = relative[position[i]]
            for t in range(start, stop):
                k = members[t]
                v = np.float64(row[k]) - weight * max(relative[t] - own, 0.0)
                row[k] = np.float32(min(max(v, 0.0), 1.0))
        for k in range(row.shape[0]):
            row[k] = row[k] * keep + towards_outside
        for t in range(start, stop):
            k = members[t]
            row[k] = row[k] + lift
        row[i] = np.float32(1.0)


TRUST_STREAM = "behaviour.trust"  # the random stream of the starting matrix (and nothing else)


@functools.cache
def _code_digest() -> str:
    """SHA-256 of this module's source: a kept matrix is only reused by the code that built it."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


class Trust(Behaviour):
    name = "trust"
    params = {"behaviour": TrustParams}
    phases = (Phase("trust", When.YEAR_END, 140, "update",
                    "trust within each group: shared success, unfairness of spend vs need in "
                    "deficit years, then drift towards the level each relation sustains "
                    "(co-members: initial trust; apart: trust in outsiders)"),)

    @classmethod
    def check_config(cls, cfg) -> None:
        beh = cfg.behaviour
        if beh.initial_trust < beh.trust_outside and not beh.allow_trust_inversion:
            raise ConfigError(
                f"[behaviour] initial_trust = {beh.initial_trust:g} is below trust_outside = "
                f"{beh.trust_outside:g}: practices would trust neighbouring groups more than their "
                "own; set initial_trust >= trust_outside, or allow_trust_inversion = true if "
                "that is intended"
            )

    def setup(self) -> None:
        model = self.model
        codes = {code: i for i, code in enumerate(model.groups)}
        group_ids = np.array([codes[p.group.code] for p in model.practices])
        cfg = model.cfg.behaviour
        key = world_cache.entry_key("trust", {  # used for large matrices only
            "seed": model.seed, "stream": TRUST_STREAM, "code": _code_digest(),
            "groups": hashlib.sha256(group_ids.astype(np.int64).tobytes()).hexdigest(),
            "initial_trust": cfg.initial_trust, "trust_outside": cfg.trust_outside,
            "trust_noise_sd": cfg.trust_noise_sd,
        })
        self.network = TrustNetwork(group_ids, cfg, model.streams.get(TRUST_STREAM),
                                    background=True, keep_as=key)

    def update(self) -> None:
        """Year-end trust updates within each group, then drift towards the level each
        relation sustains."""
        arrays = self.model.practice_arrays
        members, success, spend = [], [], []
        for group in self.model.active_groups:
            idx = group.member_indices()
            members.append(idx)
            success.append(group.last_in_year_result >= 0)
            spend.append(None if len(idx) == 0 or success[-1] else
                         arrays.spend_year[idx] / np.maximum(arrays.need_weight[idx], 1e-9))
        self.network.year_end(members, success, spend)
