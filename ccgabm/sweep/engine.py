"""Run a sweep: plan, write the manifest, skip finished runs, execute the rest in parallel.

Runs execute through ``joblib.Parallel(return_as="generator_unordered")`` on loky (one
machine) or dask (a ``LocalCluster`` or an existing scheduler). Workers only compute; the
parent process writes every file as results arrive, so a remote cluster needs no shared disk
and an interrupted sweep keeps everything that finished.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ccgabm.sweep.plan import ConfigLoader, Plan, build_plan, point_overrides
from ccgabm.sweep.spec import SweepSpec, load_spec
from ccgabm.sweep.store import (
    atomic_write_json,
    atomic_write_parquet,
    clean_temporaries,
    format_exception,
    package_version,
    read_identity,
    run_name,
    write_failure,
)

__all__ = ["SweepReport", "run_sweep", "execute_run", "FATE_COLUMNS", "META_COLUMNS", "BACKENDS"]

BACKENDS = ("loky", "dask")
FATE_COLUMNS = (
    "group_id",
    "start_month",
    "end_month",
    "fractured",
    "fracture_month",
    "dissolved",
    "merged",
)
RunFn = Callable[[Any, int], Any]
_THREAD_ENV = {
    "NUMBA_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
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
        ]
        for f in self.failures:
            lines.append(
                f"  FAILED point {f['point_id']} rep {f['replication']}: "
                f"{f['error_type']}: {f['error']}  (see failures/"
                f"{run_name(f['point_id'], f['replication'])}.json)"
            )
        return "\n".join(lines)


def execute_run(
    point_id: int, replication: int, run_fn: RunFn, config: Any, seed: int, limit_threads: bool
) -> dict[str, Any]:
    """Worker side: run the model once; never raises on an ``Exception`` (returns it)."""
    if limit_threads:
        _limit_threads()
    start = time.perf_counter()
    out: dict[str, Any] = {"point_id": point_id, "replication": replication}
    try:
        result = run_fn(config, seed)
        out["summary"] = dict(result.summary)
        out["fates"] = getattr(result, "group_fates", None)
        out["ok"] = True
    except Exception as exc:
        out.update(ok=False, error_type=type(exc).__name__, error=str(exc))
        out["traceback"] = format_exception(exc)
    out["wall_seconds"] = time.perf_counter() - start
    return out


def _limit_threads() -> None:
    for key, value in _THREAD_ENV.items():
        os.environ.setdefault(key, value)
    numba = sys.modules.get("numba")
    if numba is not None:
        with contextlib.suppress(Exception):
            numba.set_num_threads(1)


def _set_worker_env() -> None:
    """Run on each dask worker: cap numba/BLAS threads before the model imports them."""
    os.environ.update(_THREAD_ENV)


def _default_run_fn() -> RunFn:
    from ccgabm.simulate import run_simulation

    return run_simulation


def _write_manifest(out: Path, plan: Plan, version: str) -> None:
    spec = plan.spec
    axes = []
    for a in spec.axes:
        axes.append(
            {"name": a.name, "values": list(a.values)}
            if a.values is not None
            else {"name": a.name, "low": a.low, "high": a.high}
        )
    now = datetime.now(UTC).isoformat(timespec="seconds")
    manifest = {
        "format": 1,
        "spec_path": str(spec.source) if spec.source else None,
        "spec": spec.raw,
        "base": str(spec.base),
        "description": spec.description,
        "sampling": spec.sampling,
        "samples": spec.samples,
        "num_levels": spec.num_levels,
        "seed": spec.seed,
        "replications": spec.replications,
        "common_random_numbers": spec.common_random_numbers,
        "axes": axes,
        "fixed": spec.fixed,
        "keep": list(spec.keep),
        "n_points": len(plan.points),
        "n_runs": plan.n_runs,
        "package_version": version,
        "written": now,
        "points": plan.points.to_dict(orient="records"),
    }
    atomic_write_json(out / "manifest.json", manifest)
    atomic_write_parquet(out / "points.parquet", plan.points)


def _identity(plan: Plan, pid: int, rep: int, version: str) -> dict[str, Any]:
    seed = plan.seeds[pid][rep]
    return {
        "point_id": pid,
        "replication": rep,
        "config_digest": plan.digest(pid),
        "package_version": version,
        "seed": seed.seed,
        "seed_entropy": str(seed.entropy),
        "seed_spawn_key": seed.spawn_key_text,
        "outputs": sorted(plan.spec.keep),
    }


def _is_done(out: Path, ident: dict[str, Any]) -> bool:
    name = run_name(ident["point_id"], ident["replication"]) + ".parquet"
    stored = read_identity(out / "runs" / name)
    if stored is None:
        return False
    same = all(stored.get(k) == v for k, v in ident.items() if k != "outputs")
    has_outputs = set(ident["outputs"]) <= set(stored.get("outputs", []))
    fates_ok = "group_fates" not in ident["outputs"] or (out / "fates" / name).is_file()
    return same and has_outputs and fates_ok


def _scalar(key: str, value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if not isinstance(value, bool | int | float | str):
        raise TypeError(
            f"summary[{key!r}] must be a number, bool or string (or a dict of them), "
            f"got {type(value).__name__}"
        )
    return value


def _flat_summary(summary: dict[str, Any]) -> dict[str, Any]:
    """Scalars as they are; a dict of scalars becomes ``outer.inner`` columns."""
    out = {}
    for key, value in summary.items():
        if isinstance(value, dict):
            out.update({f"{key}.{k}": _scalar(f"{key}.{k}", v) for k, v in value.items()})
        else:
            out[key] = _scalar(key, value)
    return out


def _store_success(
    out: Path, plan: Plan, outcome: dict[str, Any], ident: dict[str, Any], params: dict[str, Any]
) -> None:
    pid, rep = outcome["point_id"], outcome["replication"]
    name = run_name(pid, rep) + ".parquet"
    summary = _flat_summary(outcome["summary"])
    known = {**params, **{k: ident[k] for k in ("seed", "config_digest") if k in ident}}
    clash = sorted(k for k in summary if k in META_COLUMNS or k in params)
    bad = [k for k in clash if k not in known or summary[k] != known[k]]
    if bad:
        shown = ", ".join(f"{k}={summary[k]!r} (sweep: {known.get(k, 'reserved')!r})" for k in bad)
        raise ValueError(f"summary keys clash with sweep columns: {shown}")
    for k in clash:  # same value as the sweep's own column: keep one copy
        del summary[k]
    if "group_fates" in plan.spec.keep:
        fates = outcome["fates"]
        if not isinstance(fates, pd.DataFrame):
            raise TypeError("run result has no group_fates DataFrame")
        missing = [c for c in FATE_COLUMNS if c not in fates.columns]
        if missing:
            raise ValueError(f"group_fates lacks columns {missing}")
        fates = fates.reset_index(drop=True).copy()
        fates["group_id"] = fates["group_id"].astype(str)
        fates.insert(0, "replication", rep)
        fates.insert(0, "point_id", pid)
        atomic_write_parquet(out / "fates" / name, fates)
    row = {"point_id": pid, "replication": rep, **params, **summary}
    row.update(
        seed=ident["seed"],
        seed_entropy=ident["seed_entropy"],
        seed_spawn_key=ident["seed_spawn_key"],
        config_digest=ident["config_digest"],
        package_version=ident["package_version"],
        wall_seconds=float(outcome["wall_seconds"]),
    )
    atomic_write_parquet(out / "runs" / name, pd.DataFrame([row]), meta=ident)
    (out / "failures" / (run_name(pid, rep) + ".json")).unlink(missing_ok=True)


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
) -> SweepReport:
    """Run (or resume) a sweep into ``out_dir``; failures are recorded, not raised.

    ``run_fn(config, seed)`` defaults to ``ccgabm.simulate.run_simulation``;
    ``load_config(path)`` defaults to ``ccgabm.config.load_config``. Raises ``SpecError``
    (before writing anything) when the spec is malformed or a point is rejected by the config.
    KeyboardInterrupt propagates; every run finished before it stays on disk.
    """
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    started = time.perf_counter()
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if not isinstance(jobs, int) or jobs == 0 or jobs < -1:
        raise ValueError(f"jobs must be a positive int or -1 (all cores), got {jobs!r}")
    if scheduler and backend != "dask":
        raise ValueError("scheduler is only used with backend='dask'")
    if not isinstance(spec, SweepSpec):
        spec = load_spec(spec)
    plan = build_plan(spec, load_config)  # raises SpecError before anything is written
    fn = run_fn or _default_run_fn()
    version = package_version()

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    clean_temporaries(out)
    _write_manifest(out, plan, version)

    params = point_overrides(plan.points, spec.axis_names)
    idents = {
        (pid, rep): _identity(plan, pid, rep, version)
        for pid in range(len(plan.configs))
        for rep in range(spec.replications)
    }
    todo = [key for key, ident in idents.items() if not _is_done(out, ident)]
    report = SweepReport(out_dir=out, n_runs=plan.n_runs, n_skipped=plan.n_runs - len(todo))
    if not todo:
        report.elapsed_s = time.perf_counter() - started
        return report

    limit = backend == "dask"
    task_args = [(pid, rep, fn, plan.configs[pid], plan.seeds[pid][rep].seed, limit) for pid, rep in todo]
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
            outcomes = _dask_outcomes(client, task_args, stack)
        else:
            parallel = Parallel(n_jobs=jobs, backend="loky", return_as="generator_unordered")
            outcomes = parallel(delayed(execute_run)(*a) for a in task_args)
        stack.callback(bar.close)
        for outcome in outcomes:
            key = (outcome["point_id"], outcome["replication"])
            ident, p = idents[key], params[key[0]]
            if outcome["ok"]:
                try:
                    _store_success(out, plan, outcome, ident, p)
                    report.n_completed += 1
                except (TypeError, ValueError) as exc:
                    outcome.update(ok=False, error_type=type(exc).__name__, error=str(exc))
                    outcome["traceback"] = format_exception(exc)
            if not outcome["ok"]:
                record = _failure_record(outcome, ident, p)
                write_failure(out, record)
                report.failures.append(record)
            bar.set_postfix(failed=report.n_failed, refresh=False)
            bar.update(1)
    report.failures.sort(key=lambda f: (f["point_id"], f["replication"]))
    report.elapsed_s = time.perf_counter() - started
    return report
