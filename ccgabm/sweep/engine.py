"""Run a sweep: plan, write the manifest, skip finished runs, execute the rest in parallel.

Runs execute in a persistent pool of warmed worker processes fed chunks of runs
(``ccgabm.sweep.workers``, on one machine) or through ``joblib.Parallel`` on dask (a
``LocalCluster`` or an existing scheduler); ``jobs=1`` runs in this process. Workers only compute; the
parent process gathers results as they arrive and writes them in batches
(``ccgabm.sweep.batches``), so a remote cluster needs no shared disk. An interrupted sweep
(Ctrl-C) writes every run that finished; a killed one loses the runs not yet written, which
the next start redoes.

Before anything is written: the run count is bounded (``MAX_RUNS`` unless ``force``), every
point is validated, and the store is checked: a store holding another sweep (another spec
digest) is refused unless ``overwrite`` empties it. Then staging leftovers are removed, and
every stored result is checked (``ccgabm.sweep.admission``); unreadable or mismatched files
are discarded, reported on one warning line, and their runs redone.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ccgabm.params import InputWarning
from ccgabm.sweep.admission import (
    check_finished_runs,
    check_store,
    manifest_for,
    run_identity_of,
    write_manifest,
)
from ccgabm.sweep.batches import FLUSH_TICK_SECONDS, BatchBuffer, FinishedRun
from ccgabm.sweep.plan import ConfigLoader, Plan, build_plan, point_overrides
from ccgabm.sweep.spec import (
    MAX_RUNS,
    SpecError,
    SweepSpec,
    check_plan_memory,
    check_spec_size,
    load_spec,
)
from ccgabm.sweep.store import (
    StoreError,
    clean_temporaries,
    empty_store,
    format_exception,
    locked,
    package_version,
    run_name,
    write_failure,
)
from ccgabm.sweep.workers import (
    THREAD_VARS,
    RunFn,
    execute_run,
    heap_frozen,
    n_workers,
    pool_outcomes,
    start_pool,
    tidy_heap,
)

__all__ = ["SweepReport", "run_sweep", "execute_run", "FATE_COLUMNS", "META_COLUMNS", "BACKENDS"]

BACKENDS = ("loky", "dask")
FATE_COLUMNS = (
    "group_id",
    "start_month",
    "end_month",
    "fate",
    "fracture_month",
    "defection_month",
    "return_month",
    "fractured",
    "dissolved",
    "merged",
)
_THREAD_ENV = dict.fromkeys(THREAD_VARS, "1")
META_COLUMNS = (  # bookkeeping columns of every stored run row
    "point_id",
    "replication",
    "seed",
    "seed_entropy",
    "seed_spawn_key",
    "config_digest",
    "package_version",
    "wall_seconds",
)


@dataclass
class SweepReport:
    """What a call to ``run_sweep`` did."""

    out_dir: Path
    n_runs: int
    n_skipped: int = 0
    n_completed: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    elapsed_s: float = 0.0
    n_discarded: int = 0  # result files that failed the check at start (their runs redone)

    @property
    def n_failed(self) -> int:
        """Runs that raised (or returned a malformed result) in this call."""
        return len(self.failures)

    @property
    def ok(self) -> bool:
        """True when no run failed."""
        return not self.failures

    def format(self) -> str:
        """Human-readable summary, listing failures."""
        lines = [
            f"sweep {self.out_dir}: {self.n_runs} runs planned, {self.n_skipped} already done, "
            f"{self.n_completed} completed, {self.n_failed} failed in {self.elapsed_s:.1f} s"
            + (f" (runs of {self.n_discarded} bad result file(s) redone)" if self.n_discarded else "")
        ]
        for f in self.failures:
            lines.append(
                f"  FAILED point {f['point_id']} rep {f['replication']}: "
                f"{f['error_type']}: {f['error']}  (see failures/"
                f"{run_name(f['point_id'], f['replication'])}.json)"
            )
        return "\n".join(lines)


def _set_worker_env() -> None:
    """Run on each dask worker: cap numba/BLAS threads before the model imports them."""
    os.environ.update(_THREAD_ENV)


def _default_run_fn() -> RunFn:
    from ccgabm.simulate import run_simulation

    return run_simulation


def _scalar(key: str, value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if value is None:  # a figure the run could not define: stored as null
        return float("nan")
    if not isinstance(value, bool | int | float | str):
        raise TypeError(
            f"summary[{key!r}] must be a number, bool, string or None (or a dict of them), "
            f"got {type(value).__name__}"
        )
    return value


def _flat_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """Scalars as they are; a dict of scalars becomes ``outer.inner`` columns.

    The summary first passes ``ccgabm.metrics.check_figures``: a NaN or infinite figure
    becomes null (its reason in a ``figure_notes.<name>`` column), so no row holds an inf.
    """
    from ccgabm.metrics import check_figures

    out = {}
    for key, value in check_figures(summary).items():
        if isinstance(value, dict):
            out.update({f"{key}.{k}": _scalar(f"{key}.{k}", v) for k, v in value.items()})
        else:
            out[key] = _scalar(key, value)
    return out


def _finished_run(
    plan: Plan, outcome: dict[str, Any], ident: dict[str, Any], params: dict[str, Any]
) -> FinishedRun:
    """A successful outcome as the row and fates table it will be stored as.

    Raises ``TypeError`` or ``ValueError`` when the result breaks the run contract (the run
    is then recorded as failed).
    """
    pid, rep = outcome["point_id"], outcome["replication"]
    summary = _flat_summary(outcome["summary"])
    known = {**params, **{k: ident[k] for k in ("seed", "config_digest") if k in ident}}
    clash = sorted(k for k in summary if k in META_COLUMNS or k in params)
    bad = [k for k in clash if k not in known or summary[k] != known[k]]
    if bad:
        shown = ", ".join(f"{k}={summary[k]!r} (sweep: {known.get(k, 'reserved')!r})" for k in bad)
        raise ValueError(f"summary keys clash with sweep columns: {shown}")
    for k in clash:  # same value as the sweep's own column: keep one copy
        del summary[k]
    fates = None
    if "group_fates" in plan.spec.keep:
        fates = outcome["fates"]
        if not isinstance(fates, pd.DataFrame):
            raise TypeError("run result has no group_fates DataFrame")
        missing = [c for c in FATE_COLUMNS if c not in fates.columns]
        if missing:
            raise ValueError(f"group_fates lacks columns {missing}")
        taken = [c for c in ("point_id", "replication") if c in fates.columns]
        if taken:
            raise ValueError(f"group_fates holds the sweep's own columns {taken}")
        fates = fates.assign(group_id=fates["group_id"].astype(str))  # point and replication: on writing
    row = {"point_id": pid, "replication": rep, **params, **summary}
    row.update(
        seed=ident["seed"],
        seed_entropy=ident["seed_entropy"],
        seed_spawn_key=ident["seed_spawn_key"],
        config_digest=ident["config_digest"],
        package_version=ident["package_version"],
        wall_seconds=float(outcome["wall_seconds"]),
    )
    infinite = [k for k, v in row.items() if isinstance(v, float) and math.isinf(v)]
    if infinite:  # parameters and bookkeeping columns: never written as inf
        raise ValueError(f"run row holds an infinite value in {infinite}")
    return FinishedRun(ident, row, fates)


def _failed(outcome: dict[str, Any], exc: Exception) -> None:
    outcome.update(ok=False, error_type=type(exc).__name__, error=str(exc))
    outcome["traceback"] = format_exception(exc)


def _failure_record(outcome: dict[str, Any], ident: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    return {
        "point_id": outcome["point_id"],
        "replication": outcome["replication"],
        "parameters": params,
        "seed": ident["seed"],
        "seed_spawn_key": ident["seed_spawn_key"],
        "config_digest": ident["config_digest"],
        "package_version": ident["package_version"],
        "error_type": outcome["error_type"],
        "error": outcome["error"],
        "traceback": outcome["traceback"],
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _check_scheduler(scheduler: str, timeout_s: float = 10.0) -> None:
    """``StoreError`` unless a dask scheduler answers at ``scheduler`` within ``timeout_s``."""
    from distributed import Client

    try:
        with Client(scheduler, timeout=timeout_s):
            pass
    except (OSError, TimeoutError, ValueError) as exc:
        raise StoreError(
            f"--scheduler {scheduler!r}: no dask scheduler answered within {timeout_s:g} s "
            f"({' '.join(str(exc).split())[:120]})"
        ) from None


def _in_process(fn: RunFn, runs: list[tuple[int, int, Any, int]]) -> Iterator[dict[str, Any]]:
    """``execute_run`` of each run in this process. Where the heap is frozen (``heap_frozen``:
    the ``ccgabm`` command's), each run's garbage is collected after it, as a worker's is
    (``tidy_heap``): cheap then; elsewhere the collector's own passes free it."""
    for pid, rep, config, seed in runs:
        outcome = execute_run(pid, rep, fn, config, seed, False)
        if heap_frozen():
            tidy_heap()
        yield outcome


@contextlib.contextmanager
def _dask_client(scheduler: str | None, jobs: int) -> Iterator[Any]:
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler) as client:
            client.run(_set_worker_env)
            yield client
        return
    n = jobs if jobs > 0 else (os.cpu_count() or 1)
    with (
        LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            env=dict(_THREAD_ENV),
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _dask_outcomes(
    client: Any, task_args: list[tuple[Any, ...]], stack: contextlib.ExitStack
) -> Iterator[dict[str, Any]]:
    """Results from dask workers, in completion order.

    joblib runs everything in the calling process when the backend reports one core, so a
    one-thread cluster is driven through the client directly; otherwise through joblib.
    """
    from joblib import Parallel, delayed, parallel_config

    if sum(client.ncores().values()) > 1:
        stack.enter_context(parallel_config(backend="dask"))
        parallel = Parallel(n_jobs=-1, return_as="generator_unordered")
        return parallel(delayed(execute_run)(*a) for a in task_args)
    from distributed import as_completed

    futures = [client.submit(execute_run, *a, pure=False) for a in task_args]
    return (f.result() for f in as_completed(futures))


def run_sweep(
    spec: SweepSpec | str | Path,
    out_dir: str | Path,
    jobs: int = 1,
    backend: str = "loky",
    scheduler: str | None = None,
    run_fn: RunFn | None = None,
    progress: bool = True,
    load_config: ConfigLoader | None = None,
    overwrite: bool = False,
    force: bool = False,
) -> SweepReport:
    """Run (or resume) a sweep into ``out_dir``; failures are recorded, not raised.

    ``run_fn(config, seed)`` defaults to ``ccgabm.simulate.run_simulation``;
    ``load_config(path)`` defaults to ``ccgabm.config.load_config``. Raises, before writing
    anything: ``SpecError`` when the spec is malformed, plans more than ``MAX_RUNS`` runs
    (unless ``force``) or a point is rejected by the config; ``StoreError`` when ``out_dir``
    holds another sweep (unless ``overwrite``, which empties it first) or files that are not
    a sweep's. KeyboardInterrupt propagates; every run finished before it stays on disk.
    """
    started = time.perf_counter()
    if backend not in BACKENDS:
        raise SpecError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs == 0 or jobs < -1:
        raise SpecError(f"jobs must be a positive integer or -1 (all cores), got {jobs!r}")
    if scheduler and backend != "dask":
        raise SpecError("scheduler is only used with backend='dask'")
    if not isinstance(out_dir, str | os.PathLike) or str(out_dir).strip() == "":
        raise StoreError(f"out_dir must be a folder path, got {out_dir!r}")
    max_runs = None if force else MAX_RUNS
    if not isinstance(spec, SweepSpec):
        spec = load_spec(spec, max_runs=max_runs)  # SpecError for anything but a spec file
    check_spec_size(spec, max_runs)  # before any seed, point or config is built
    check_plan_memory(spec)  # even with force
    plan = build_plan(spec, load_config, max_runs=max_runs)  # SpecError before anything is written
    fn = run_fn or _default_run_fn()
    version = package_version()

    out = Path(out_dir)
    manifest = manifest_for(plan, version)
    if backend == "dask" and scheduler:
        _check_scheduler(scheduler)  # before anything is written
    check_store(out, manifest, overwrite)  # StoreError before anything is written
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"--out {str(out)[:80]} cannot be created: {exc.strerror or exc}") from None
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(locked(out))
        except StoreError:
            if created:
                shutil.rmtree(out, ignore_errors=True)
            raise
        if check_store(out, manifest, overwrite):  # again, now that no other sweep writes here
            empty_store(out)
        return _execute_plan(out, plan, manifest, fn, version, jobs, backend, scheduler, progress,
                             started)


def _execute_plan(out: Path, plan: Plan, manifest: dict[str, Any], fn: RunFn, version: str,
                  jobs: int, backend: str, scheduler: str | None, progress: bool,
                  started: float) -> SweepReport:
    """Run every unfinished run of ``plan`` into the (locked) store ``out``."""
    spec = plan.spec
    clean_temporaries(out)
    write_manifest(out, plan, manifest)

    params = point_overrides(plan.points, spec.axis_names)
    idents = {
        (pid, rep): run_identity_of(plan, pid, rep, version)
        for pid in range(len(plan.configs))
        for rep in range(spec.replications)
    }
    done, n_bad, first_bad = check_finished_runs(out, idents)
    if n_bad:
        print(
            f"warning: discarded {n_bad} result file(s) in {out} that were unreadable or did not "
            f"match this sweep (first: {first_bad}); their runs will be redone",
            file=sys.stderr,
        )
    todo = [key for key in idents if key not in done]
    report = SweepReport(
        out_dir=out, n_runs=plan.n_runs, n_skipped=plan.n_runs - len(todo), n_discarded=n_bad
    )
    if not todo:
        report.elapsed_s = time.perf_counter() - started
        return report

    from tqdm.auto import tqdm

    if backend == "loky" and jobs != 1:
        pool = start_pool(jobs, fn)  # the workers of an earlier sweep, if it had the same
    runs = [(pid, rep, plan.configs[pid], plan.seeds[pid][rep].seed) for pid, rep in todo]
    bar = tqdm(
        total=len(todo),
        desc=f"sweep ({report.n_skipped} done before)",
        unit="run",
        disable=not progress,
        file=sys.stderr,
    )
    with contextlib.ExitStack() as stack:
        outcomes: Iterator[dict[str, Any]]
        if backend == "dask":
            client = stack.enter_context(_dask_client(scheduler, jobs))
            task_args = [(pid, rep, fn, config, seed, True) for pid, rep, config, seed in runs]
            outcomes = _dask_outcomes(client, task_args, stack)
        elif jobs == 1:  # in this process, as joblib runs one job
            outcomes = _in_process(fn, runs)
        else:
            outcomes = pool_outcomes(pool, n_workers(jobs), fn, runs, tick=FLUSH_TICK_SECONDS)
            stack.callback(outcomes.close)  # an error here stops the workers
        stack.callback(bar.close)
        buffer = BatchBuffer(out, "group_fates" in spec.keep)

        def record_failure(outcome: dict[str, Any]) -> None:
            key = (outcome["point_id"], outcome["replication"])
            record = _failure_record(outcome, idents[key], params[key[0]])
            write_failure(out, record)
            report.failures.append(record)

        def flush() -> None:
            written, unwritable = buffer.flush()
            for key in written:  # an old record of a run now stored is stale
                (out / "failures" / (run_name(*key) + ".json")).unlink(missing_ok=True)
            report.n_completed += len(written)
            for run, exc in unwritable:
                outcome = {"point_id": run.key[0], "replication": run.key[1]}
                _failed(outcome, exc)
                record_failure(outcome)

        shown: set[str] = set()
        try:
            for outcome in outcomes:
                if outcome is None:  # no run ended for a while: write what has finished if due
                    if buffer.due():
                        flush()
                    continue
                key = (outcome["point_id"], outcome["replication"])
                for message in outcome.get("warnings", ()):  # once per sweep, not once per run
                    if message not in shown:
                        shown.add(message)
                        warnings.warn(message, InputWarning, stacklevel=2)
                if outcome["ok"]:
                    try:
                        buffer.add(_finished_run(plan, outcome, idents[key], params[key[0]]))
                    except (TypeError, ValueError) as exc:
                        _failed(outcome, exc)
                if not outcome["ok"]:
                    record_failure(outcome)
                if buffer.due():
                    flush()
                bar.set_postfix(failed=report.n_failed, refresh=False)
                bar.update(1)
        except BaseException:
            with contextlib.suppress(Exception):  # keep what finished; the first error is raised
                flush()
            raise
        flush()
    report.failures.sort(key=lambda f: (f["point_id"], f["replication"]))
    report.elapsed_s = time.perf_counter() - started
    return report
