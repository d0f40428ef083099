"""Sweep workers: a persistent pool of warmed processes that runs chunks of runs.

On one machine (the loky backend, more than one job) runs execute in loky's reusable pool of
worker processes, one pool per parent process (``start_pool``). Each worker, as it starts,
imports the run function's module once and, when that is the model, loads its compiled
kernels from numba's on-disk cache (``warm_up``) before its first run. The pool stays up for
``IDLE_SECONDS`` after its last task, so a later sweep of the same size and run function (a
calibration that calls ``run_sweep`` in a loop) finds its workers started and warm.

A worker also keeps its heap tidy: once warm it puts everything imported out of the cycle
collector's sight (``freeze_heap``), and after each run it collects the run's model
(``tidy_heap``), so that the memory of its largest arrays is free (the trust matrix's is
reused) before the next run.

Runs are sent in chunks (``execute_chunk``): a chunk's size aims at ``CHUNK_SECONDS`` of work
judged from the runs finished so far, starting at one run, and never exceeds a share of the
runs left, so that the workers finish together. A run's seed and result are its own:
chunking changes the overhead, nothing else.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import sys
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any

__all__ = [
    "CHUNK_SECONDS",
    "IDLE_SECONDS",
    "THREAD_VARS",
    "execute_chunk",
    "execute_run",
    "n_workers",
    "cap_threads",
    "pool_outcomes",
    "start_pool",
    "warm_up",
]

RunFn = Callable[[Any, int], Any]
#: seconds of work per chunk sent to a worker (assumed: a task costs ~1 ms, so <1% overhead)
CHUNK_SECONDS = 1.0
#: seconds an idle pool is kept for the next sweep (assumed: a calibration's next batch of
#: runs comes within minutes; loky's own default is 300)
IDLE_SECONDS = 600
#: chunks kept queued per worker beyond the one it runs (assumed: covers the round trip)
_QUEUED_PER_WORKER = 1
#: thread-pool sizes capped in every worker (those joblib caps for its loky backend)
THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMBA_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
)
_MODEL_MODULE = "ccgabm.patients.population"
_warmed: set[str] = set()  # modules warmed in this process
_frozen = False  # whether freeze_heap has run in this process


# Warnings re-issued after a run, each once per process (the usual once-per-place rule, which
# catching warnings around every run would otherwise reset).
_SHOWN: set[tuple] = set()


def execute_run(
    point_id: int, replication: int, run_fn: RunFn, config: Any, seed: int, limit_threads: bool
) -> dict[str, Any]:
    """Worker side: run the model once; never raises on an ``Exception`` (returns it).

    Warnings about the inputs (``InputWarning``, e.g. blank values filled in the practice
    table) are returned in ``warnings`` for the parent to show once, not printed by every worker
    for every run; other warnings are issued again after the run, so that this process's
    filters and once-per-place rule apply to them as usual."""
    from ccgabm.params import InputWarning

    if limit_threads:
        cap_threads()
    start = time.perf_counter()
    out: dict[str, Any] = {"point_id": point_id, "replication": replication}
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", InputWarning)
            result = run_fn(config, seed)
        out["warnings"] = sorted({str(w.message) for w in caught if issubclass(w.category, InputWarning)})
        for w in caught:
            place = (str(w.message), w.category, w.filename, w.lineno)
            if not issubclass(w.category, InputWarning) and place not in _SHOWN:
                _SHOWN.add(place)
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        out["summary"] = dict(result.summary)
        out["fates"] = getattr(result, "group_fates", None)
        out["ok"] = True
    except Exception as exc:
        from ccgabm.sweep.store import format_exception

        out.update(ok=False, error_type=type(exc).__name__, error=str(exc))
        out["traceback"] = format_exception(exc)
    out["wall_seconds"] = time.perf_counter() - start
    return out


def execute_chunk(run_fn: RunFn, runs: list[tuple[int, int, Any, int]]) -> list[dict[str, Any]]:
    """Worker side: ``execute_run`` for each ``(point_id, replication, config, seed)`` in turn,
    the heap tidied after each (``tidy_heap``)."""
    outcomes = []
    for pid, rep, config, seed in runs:
        outcomes.append(execute_run(pid, rep, run_fn, config, seed, False))
        tidy_heap()
    return outcomes


def tidy_heap() -> None:
    """Collect finished runs' garbage: a model's agents and the model refer to each other, so
    only the cycle collector frees them, and with them memory the next run reuses (a trust
    matrix's). Collecting a finished England run with every practice took 0.07 s, 0.012 s in a
    frozen heap (``freeze_heap``; measured on a 2-core machine)."""
    gc.collect()


# New objects between the cycle collector's passes over the youngest objects, in a process
# that runs models (Python's default is 700): a warm England run with every practice spent 0.02 s
# in the collector's passes with the default and a frozen heap, 0.01 s with 10,000 (measured on
# a 2-core machine)
YOUNG_OBJECTS = 10_000


def freeze_heap() -> None:
    """Keep everything in the heap now (the imported modules) out of the cycle collector's
    passes for good (``gc.freeze``), and let ``YOUNG_OBJECTS`` new objects come between its
    passes: a warm England run with every practice spent 0.08 s in those passes, 0.01 s so
    (measured on a 2-core machine). A process that runs models one after another (a worker,
    the ``ccgabm`` command) does this once warm; ``heap_frozen`` then says so."""
    global _frozen
    gc.freeze()
    gc.set_threshold(max(YOUNG_OBJECTS, gc.get_threshold()[0]), *gc.get_threshold()[1:])
    _frozen = True


def heap_frozen() -> bool:
    """Whether ``freeze_heap`` has run in this process."""
    return _frozen


def cap_threads() -> None:
    """Cap numba and BLAS at one thread in this process (dask workers)."""
    for key in THREAD_VARS:
        os.environ.setdefault(key, "1")
    numba = sys.modules.get("numba")
    if numba is not None:
        with contextlib.suppress(Exception):
            numba.set_num_threads(1)


def warm_up(module: str) -> None:
    """Import ``module`` (the run function's) once per process and, when it brings in the model,
    load the model's compiled kernels (a two-practice population calls each kernel once); then
    collect and freeze the heap (``tidy_heap``, ``freeze_heap``)."""
    if module in _warmed:
        return
    _warmed.add(module)
    if module:
        with contextlib.suppress(ImportError):
            importlib.import_module(module)
    if _MODEL_MODULE in sys.modules and _MODEL_MODULE not in _warmed:
        _warmed.add(_MODEL_MODULE)
        with contextlib.suppress(Exception):  # only a head start: the first run would do it
            import numpy as np

            from ccgabm.config import Config
            from ccgabm.patients.population import Population
            from ccgabm.rng import Streams

            Population(Config(), np.array([1, 1]), np.array([10.0, 20.0]), Streams(0))
    tidy_heap()
    freeze_heap()


def _worker_env(workers: int) -> dict[str, str]:
    """Thread caps for each worker: the cores shared out among workers, as joblib does."""
    from joblib.externals.loky import cpu_count

    threads = str(max(cpu_count() // workers, 1))
    env = {var: os.environ.get(var, threads) for var in THREAD_VARS}
    if "ENABLE_IPC" not in os.environ:
        env["ENABLE_IPC"] = "1"  # TBB schedulers of all workers share the cores
    return env


def n_workers(jobs: int) -> int:
    """Worker processes for ``jobs`` (-1: one per core)."""
    from joblib.externals.loky import cpu_count

    return jobs if jobs > 0 else cpu_count()


def start_pool(jobs: int, run_fn: RunFn) -> Any:
    """The pool of ``jobs`` workers (-1: one per core) for ``run_fn``, each warmed as it starts.

    Reuses the pool of an earlier sweep when it has the same size and settings (the same
    module of run function); loky replaces it otherwise.
    """
    from joblib.externals.loky import get_reusable_executor

    n = n_workers(jobs)
    return get_reusable_executor(
        max_workers=n, timeout=IDLE_SECONDS, env=_worker_env(n), initializer=warm_up,
        initargs=(_module_of(run_fn),),
    )


def _module_of(run_fn: RunFn) -> str:
    module = getattr(run_fn, "__module__", None) or ""
    return "" if module == "__main__" else module


def _chunk_size(done: int, wall: float, left: int, workers: int) -> int:
    """Runs in the next chunk: ``CHUNK_SECONDS`` of work at the mean run time so far."""
    if done == 0:
        return 1
    per_run = max(wall / done, 1e-6)
    share = max(1, left // (2 * workers))  # the last chunks stay small: workers end together
    return max(1, min(int(CHUNK_SECONDS / per_run), share))


def pool_outcomes(
    executor: Any, workers: int, run_fn: RunFn, runs: list[tuple[int, int, Any, int]],
    tick: float | None = None,
) -> Iterator[dict[str, Any] | None]:
    """Outcomes of ``runs`` (``(point_id, replication, config, seed)``) in completion order,
    from the pool ``executor`` of ``workers`` processes; with ``tick``, also None whenever
    ``tick`` seconds pass without one (so the caller can write what has finished on time).

    An error in the parent or a worker (or closing the generator early) cancels what has not
    started and stops the pool's workers, as an interrupted ``joblib.Parallel`` does.
    """
    queue = deque(runs)
    pending: set[Future] = set()
    done, wall = 0, 0.0
    finished = False

    def fill() -> None:
        while queue and len(pending) < workers * (1 + _QUEUED_PER_WORKER):
            size = _chunk_size(done, wall, len(queue), workers)
            chunk = [queue.popleft() for _ in range(min(size, len(queue)))]
            pending.add(executor.submit(execute_chunk, run_fn, chunk))

    try:
        fill()
        while pending:
            ready, _ = wait(pending, timeout=tick, return_when=FIRST_COMPLETED)
            if not ready:
                yield None
            for future in ready:
                pending.discard(future)
                outcomes = future.result()
                done += len(outcomes)
                wall += sum(o["wall_seconds"] for o in outcomes)
                fill()
                yield from outcomes
        finished = True
    finally:
        if not finished:
            for future in pending:
                future.cancel()
            executor.shutdown(wait=False, kill_workers=True)
