"""Sweep engine: identical results across jobs/backends, resume after a kill, failures recorded.

The model is replaced by a cheap fake honouring the run contract (``run_fn(config, seed)`` ->
object with ``.summary`` and ``.group_fates``); it lives at module top level so loky and dask
workers can unpickle it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ccgabm.sweep import (
    StoreError,
    build_plan,
    cli_sweep,
    load_failures,
    load_results,
    parse_spec,
    read_manifest,
    run_sweep,
)
from ccgabm.sweep.engine import FATE_COLUMNS

KNOWN = {
    "finance.budget_pressure": 0.0,
    "region.deprivation_gap": 0.0,
    "behaviour.initial_trust": 0.5,
    "run.years": 5,
}


class FakeConfigError(ValueError):
    """Stands in for ccgabm.config.ConfigError."""


@dataclass(frozen=True)
class FakeRunSection:
    years: int = 5


@dataclass(frozen=True)
class FakeConfig:
    """Minimal Config: dotted overrides, validation, digest, ``run.years``."""

    values: dict[str, Any] = field(default_factory=lambda: dict(KNOWN))

    @property
    def run(self) -> FakeRunSection:
        return FakeRunSection(int(self.values["run.years"]))

    def with_overrides(self, overrides: dict[str, Any]) -> FakeConfig:
        new = dict(self.values)
        for key, value in overrides.items():
            if key not in KNOWN:
                raise FakeConfigError(f"{key!r} is not a known parameter")
            if type(value) is not type(KNOWN[key]) and not (
                isinstance(KNOWN[key], float) and type(value) is int
            ):
                raise FakeConfigError(f"{key} must be {type(KNOWN[key]).__name__}, got {value!r}")
            if key == "behaviour.initial_trust" and not 0 <= value <= 1:
                raise FakeConfigError(f"{key} must be in [0, 1], got {value!r}")
            new[key] = value
        return FakeConfig(new)

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.values, sort_keys=True).encode()).hexdigest()[:16]


def fake_load_config(path: Path) -> FakeConfig:
    if not Path(path).is_file():
        raise FakeConfigError(f"config file {str(path)!r} does not exist")
    return FakeConfig()


@dataclass
class FakeResult:
    summary: dict[str, Any]
    group_fates: pd.DataFrame


def fake_run(config: FakeConfig, seed: int) -> FakeResult:
    """Cheap stochastic 'model' writing the full fates contract: the fracture hazard rises with
    pressure and gap and falls with trust; defections and returns at fixed rates; groups end by
    voluntary merger, forced merger or dissolution (rarely)."""
    v = config.values
    rng = np.random.default_rng(seed)
    horizon = config.run.years * 12
    hazard = 0.01 + v["finance.budget_pressure"] + v["region.deprivation_gap"] / 1000
    hazard *= 1.5 - v["behaviour.initial_trust"]
    n = 4
    t_fracture = rng.exponential(1 / hazard, n)
    t_defect = rng.exponential(60.0, n)
    t_return = rng.exponential(200.0, n)
    t_end = rng.exponential(400.0, n)
    ending = rng.choice(["voluntary_merger", "forced_merger", "dissolved"], n)
    ended = t_end < horizon
    end = np.where(ended, np.ceil(t_end), horizon).astype(int)
    fate = np.where(ended, ending, "")

    def first(t: np.ndarray) -> np.ndarray:  # the month it first happened, if the group was still there
        return np.where(t < np.minimum(t_end, horizon), np.ceil(t), np.nan)

    return fake_result(rng, end, fate, first(t_fracture), first(t_defect), first(t_return))


def fake_result(rng: np.random.Generator, end: np.ndarray, fate: np.ndarray,
                fracture_month: np.ndarray, defection_month: np.ndarray,
                return_month: np.ndarray) -> FakeResult:
    """A fake run's result: the group fates table of the engine's contract and a summary."""
    n = len(end)
    fates = pd.DataFrame(
        {
            "group_id": [f"g{i}" for i in range(n)],
            "start_month": np.zeros(n, dtype=int),
            "end_month": end,
            "fate": fate,
            "fracture_month": fracture_month,
            "defection_month": defection_month,
            "return_month": return_month,
            "fractured": ~np.isnan(fracture_month),
            "dissolved": fate == "dissolved",
            "merged": np.isin(fate, ["voluntary_merger", "forced_merger"]),
        }
    )
    summary = {
        "emergency_admissions_per_1000": float(98 + rng.normal()),
        "n_groups_end": int(n - (fate != "").sum()),
        "note": "fake",
    }
    return FakeResult(summary, fates)


def failing_run(config: FakeConfig, seed: int) -> FakeResult:
    """Fails at one point (pressure 0.04, trust 0.8)."""
    v = config.values
    if v["finance.budget_pressure"] == 0.04 and v["behaviour.initial_trust"] == 0.8:
        raise RuntimeError("boom at the high-pressure, high-trust corner")
    return fake_run(config, seed)


def env_probe(config: FakeConfig, seed: int) -> FakeResult:
    """Reports where it ran and the numba thread cap it saw."""
    result = fake_run(config, seed)
    result.summary.update(pid=os.getpid(), numba=os.environ.get("NUMBA_NUM_THREADS", ""))
    return result


class InterruptAfter:
    """Runs ``k`` runs then raises KeyboardInterrupt (as Ctrl-C would)."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.calls = 0

    def __call__(self, config: FakeConfig, seed: int) -> FakeResult:
        if self.calls >= self.k:
            raise KeyboardInterrupt
        self.calls += 1
        return fake_run(config, seed)


class Recording:
    """Records the seed of every run it executes (files, so it works across processes)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __call__(self, config: FakeConfig, seed: int) -> FakeResult:
        (self.folder / f"{seed}-{os.getpid()}-{time.perf_counter_ns()}").touch()
        return fake_run(config, seed)

    def seeds(self) -> list[int]:
        return [int(p.name.split("-")[0]) for p in self.folder.iterdir()]


SPEC = {
    "sweep": {"base": "baseline.toml", "seed": 12345, "replications": 3},
    "axes": {
        "finance.budget_pressure": [0.0, 0.04],
        "region.deprivation_gap": {"low": 0.0, "high": 30.0, "num": 2},
        "behaviour.initial_trust": [0.4, 0.8],
    },
}


@pytest.fixture
def spec(tmp_path: Path):
    (tmp_path / "baseline.toml").write_text("")
    return parse_spec(SPEC, base_dir=tmp_path)


def _results(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    runs, fates = load_results(out)
    return runs.drop(columns="wall_seconds"), fates


def _sweep(spec, out: Path, **kw) -> Any:
    kw.setdefault("run_fn", fake_run)
    return run_sweep(spec, out, progress=False, load_config=fake_load_config, **kw)


def test_layout_and_contents(spec, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = _sweep(spec, out)
    assert report.ok and report.n_runs == 24 and report.n_completed == 24
    manifest = read_manifest(out)
    assert manifest["n_points"] == 8 and manifest["replications"] == 3
    assert [a["name"] for a in manifest["axes"]] == list(SPEC["axes"])
    assert [p.name for p in (out / "runs").iterdir()] == ["batch-000001.parquet"]  # one batch
    assert [p.name for p in (out / "fates").iterdir()] == ["batch-000001.parquet"]
    assert (out / "points.parquet").is_file()
    runs, fates = _results(out)
    assert len(runs) == 24 and len(fates) == 24 * 4
    for col in [
        "finance.budget_pressure",
        "seed",
        "seed_entropy",
        "seed_spawn_key",
        "config_digest",
        "package_version",
        "emergency_admissions_per_1000",
        "note",
    ]:
        assert col in runs.columns
    assert runs["seed"].is_unique
    first = runs.iloc[0]
    assert first["seed_entropy"] == "12345" and json.loads(first["seed_spawn_key"]) == [0, 0]
    assert list(fates.columns) == ["point_id", "replication", *FATE_COLUMNS]
    assert set(fates["fate"]) <= {"", "voluntary_merger", "forced_merger", "dissolved"}
    assert fates["return_month"].dtype == float and fates["merged"].dtype == bool


def test_same_results_whatever_jobs_and_backend(spec, tmp_path: Path) -> None:
    _sweep(spec, tmp_path / "j1", jobs=1)
    _sweep(spec, tmp_path / "j2", jobs=2)
    _sweep(spec, tmp_path / "dask", jobs=2, backend="dask")
    ref_runs, ref_fates = _results(tmp_path / "j1")
    for other in ("j2", "dask"):
        runs, fates = _results(tmp_path / other)
        pd.testing.assert_frame_equal(ref_runs, runs)
        pd.testing.assert_frame_equal(ref_fates, fates)


@pytest.mark.parametrize("jobs", [1, 2])  # 1 worker: direct client path; 2: joblib-on-dask
def test_dask_workers_cap_numba_threads(tmp_path: Path, jobs: int) -> None:
    (tmp_path / "baseline.toml").write_text("")
    small = {"sweep": {"base": "baseline.toml", "seed": 1}, "axes": {"run.years": [1, 2]}}
    out = tmp_path / "out"
    spec = parse_spec(small, base_dir=tmp_path)
    report = _sweep(spec, out, backend="dask", jobs=jobs, run_fn=env_probe)
    assert report.ok
    runs, _ = load_results(out)
    assert (runs["numba"] == "1").all() and (runs["pid"] != os.getpid()).all()
    assert runs["run.years"].tolist() == [1, 2]
    assert read_manifest(out)["points"][1]["horizon_months"] == 24


def test_rerun_skips_everything(spec, tmp_path: Path) -> None:
    out = tmp_path / "out"
    _sweep(spec, out)
    rec = Recording(tmp_path / "calls")
    rec.folder.mkdir()
    report = _sweep(spec, out, run_fn=rec)
    assert report.n_skipped == 24 and report.n_completed == 0 and rec.seeds() == []


def test_resume_after_keyboard_interrupt(spec, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        _sweep(spec, out, run_fn=InterruptAfter(5))
    assert len(load_results(out)[0]) == 5  # the runs that finished were written on the way out
    rec = Recording(tmp_path / "calls")
    rec.folder.mkdir()
    report = _sweep(spec, out, run_fn=rec)
    assert report.n_skipped == 5 and report.n_completed == 19
    assert len(rec.seeds()) == 19 and len(set(rec.seeds())) == 19
    _sweep(spec, tmp_path / "clean")
    pd.testing.assert_frame_equal(_results(out)[0], _results(tmp_path / "clean")[0])


_CHILD = textwrap.dedent(
    """
    import sys, time
    sys.path[:0] = [{tests!r}, {root!r}]
    import test_sweep_engine as t
    from ccgabm.sweep import batches, parse_spec, run_sweep
    batches.FLUSH_RUNS = 2

    def slow(config, seed):
        time.sleep(0.15)
        return t.fake_run(config, seed)

    spec = parse_spec(t.SPEC, base_dir={base!r})
    run_sweep(spec, {out!r}, jobs=1, run_fn=slow, progress=False, load_config=t.fake_load_config)
    """
)


def test_resume_after_kill(spec, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code = _CHILD.format(
        tests=str(Path(__file__).parent),
        root=str(Path(__file__).parent.parent),
        base=str(tmp_path),
        out=str(out),
    )
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while len(list((out / "runs").glob("batch-*.parquet"))) < 2:
            assert proc.poll() is None, "child sweep exited early"
            assert time.monotonic() < deadline, "child sweep made no progress"
            time.sleep(0.05)
        time.sleep(0.2)  # the kill comes with a run in the buffer, or a batch half-written
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    stored = load_results(out)[0]  # the killed store reads cleanly
    done_before = set(zip(stored["point_id"], stored["replication"], strict=True))
    assert 4 <= len(done_before) < 24
    rec = Recording(tmp_path / "calls")
    rec.folder.mkdir()
    report = _sweep(spec, out, run_fn=rec, jobs=2)
    assert report.ok and report.n_skipped == len(done_before)
    plan = build_plan(spec, fake_load_config)
    missing = {
        s.seed
        for pid, reps in enumerate(plan.seeds)
        for rep, s in enumerate(reps)
        if (pid, rep) not in done_before
    }
    assert sorted(rec.seeds()) == sorted(missing)  # exactly the missing runs, each once
    runs, _ = _results(out)
    assert len(runs) == 24 and not runs.duplicated(["point_id", "replication"]).any()
    assert not list(out.rglob(".tmp-*"))


def test_failure_recorded_and_others_complete(spec, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    report = _sweep(spec, out, run_fn=failing_run)
    # points 5 and 7 are (pressure 0.04, trust 0.8) at gap 0 and 30
    assert not report.ok and report.n_failed == 6 and report.n_completed == 18
    failures = load_failures(out)
    assert {(f["point_id"], f["replication"]) for f in failures} == {(p, r) for p in (5, 7) for r in range(3)}
    assert "RuntimeError: boom" in failures[0]["traceback"]
    assert "FAILED point 5 rep 0" in report.format()
    assert len(load_results(out)[0]) == 18
    # a later successful retry runs only the failed runs and clears their records
    report = _sweep(spec, out)
    assert report.ok and report.n_completed == 6 and load_failures(out) == []


def test_changed_spec_refused_changed_version_redone(spec, tmp_path: Path, monkeypatch, capsys) -> None:
    out = tmp_path / "out"
    _sweep(spec, out)
    changed = json.loads(json.dumps(SPEC))
    changed["axes"]["behaviour.initial_trust"] = [0.4, 0.9]
    spec2 = parse_spec(changed, base_dir=tmp_path)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    with pytest.raises(StoreError, match=r"holds a different sweep .*differs in: axes.*--overwrite"):
        _sweep(spec2, out)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before  # nothing written
    report = _sweep(spec2, out, overwrite=True)
    assert report.n_skipped == 0 and report.n_completed == 24
    runs, _ = _results(out)
    assert sorted(runs["behaviour.initial_trust"].unique()) == [0.4, 0.9]
    capsys.readouterr()
    monkeypatch.setattr("ccgabm.sweep.engine.package_version", lambda: "9.9.9")
    assert _sweep(spec2, out).n_completed == 24  # same spec, new version: every run redone
    assert "discarded 1 result file(s)" in capsys.readouterr().err  # the batch of all 24


def echoing_run(config: FakeConfig, seed: int) -> FakeResult:
    """Like the real model: echoes seed and config digest in its summary."""
    result = fake_run(config, seed)
    result.summary.update(seed=seed, config_digest=config.digest())
    return result


def nested_run(config: FakeConfig, seed: int) -> FakeResult:
    result = fake_run(config, seed)
    result.summary.update(group_balances={"g0": 1.5, "g1": -2.0})
    return result


def list_run(config: FakeConfig, seed: int) -> FakeResult:
    result = fake_run(config, seed)
    result.summary.update(balances=[1.0, 2.0])
    return result


def test_summary_dicts_flattened_other_values_rejected(spec, tmp_path: Path) -> None:
    assert _sweep(spec, tmp_path / "nested", run_fn=nested_run).ok
    runs, _ = _results(tmp_path / "nested")
    assert runs["group_balances.g1"].eq(-2.0).all()
    report = _sweep(spec, tmp_path / "list", run_fn=list_run)
    assert report.n_failed == 24 and "summary['balances']" in report.failures[0]["error"]


def lying_run(config: FakeConfig, seed: int) -> FakeResult:
    result = fake_run(config, seed)
    result.summary.update(seed=seed + 1)
    return result


def test_summary_echoing_seed_and_digest(spec, tmp_path: Path) -> None:
    assert _sweep(spec, tmp_path / "echo", run_fn=echoing_run).ok
    _sweep(spec, tmp_path / "plain")
    pd.testing.assert_frame_equal(_results(tmp_path / "echo")[0], _results(tmp_path / "plain")[0])
    report = _sweep(spec, tmp_path / "lie", run_fn=lying_run)
    assert report.n_failed == 24 and "seed=" in report.failures[0]["error"]


@pytest.mark.parametrize("column", ["merged", "fate", "return_month"])
def test_malformed_result_is_a_failure(spec, tmp_path: Path, column: str) -> None:
    def bad(config: FakeConfig, seed: int) -> FakeResult:
        result = fake_run(config, seed)
        return FakeResult(result.summary, result.group_fates.drop(columns=column))

    report = _sweep(spec, tmp_path / "out", run_fn=bad)
    assert report.n_failed == 24 and f"lacks columns ['{column}']" in report.failures[0]["error"]


def test_cli_sweep_bad_spec(tmp_path: Path, capsys) -> None:
    spec_file = tmp_path / "bad.toml"
    spec_file.write_text('[sweep]\nbase = "b.toml"\nseed = 1\nsampling = "sobol"\nsamples = 6\n')
    args = type("Args", (), {"spec": spec_file, "out": tmp_path / "out", "no_progress": True})()
    assert cli_sweep(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "power of two" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_cli_sweep_exit_codes(spec, tmp_path: Path, monkeypatch, capsys) -> None:
    spec_file = tmp_path / "s.toml"
    spec_file.write_text(
        '[sweep]\nbase = "baseline.toml"\nseed = 1\n[axes]\n'
        '"finance.budget_pressure" = [0.0, 0.04]\n"behaviour.initial_trust" = [0.8]\n'
    )
    monkeypatch.setattr("ccgabm.sweep.plan._default_loader", fake_load_config)
    monkeypatch.setattr("ccgabm.sweep.engine._default_run_fn", lambda: failing_run)
    args = argparse.Namespace(
        spec=spec_file, out=tmp_path / "o", jobs=1, backend="loky", scheduler=None, no_progress=True
    )
    assert cli_sweep(args) == 1
    assert "FAILED point 1 rep 0: RuntimeError: boom" in capsys.readouterr().err
    monkeypatch.setattr("ccgabm.sweep.engine._default_run_fn", lambda: fake_run)
    assert cli_sweep(args) == 0
    assert "1 already done, 1 completed, 0 failed" in capsys.readouterr().out


def pid_run(config: FakeConfig, seed: int) -> FakeResult:
    """Reports the worker process it ran in."""
    result = fake_run(config, seed)
    result.summary.update(pid=os.getpid())
    return result


def test_workers_persist_across_sweeps(spec, tmp_path: Path) -> None:
    """A second sweep of the same size runs in the workers the first one started."""
    _sweep(spec, tmp_path / "a", jobs=2, run_fn=pid_run)
    _sweep(spec, tmp_path / "b", jobs=2, run_fn=pid_run)
    first, second = (set(load_results(tmp_path / n)[0]["pid"]) for n in ("a", "b"))
    assert os.getpid() not in first and second <= first


def test_results_do_not_depend_on_chunking(spec, tmp_path: Path, monkeypatch) -> None:
    _sweep(spec, tmp_path / "one", jobs=2)  # chunks of one run at first, then larger
    monkeypatch.setattr("ccgabm.sweep.workers.CHUNK_SECONDS", 1e-9)  # one run per chunk
    _sweep(spec, tmp_path / "single", jobs=2)
    for a, b in zip(_results(tmp_path / "one"), _results(tmp_path / "single"), strict=True):
        pd.testing.assert_frame_equal(a, b)


def test_chunk_sizes() -> None:
    from ccgabm.sweep.workers import CHUNK_SECONDS, _chunk_size

    assert _chunk_size(0, 0.0, 1000, 2) == 1  # nothing timed yet
    assert _chunk_size(10, 10 * CHUNK_SECONDS / 50, 1000, 2) == 50  # fast runs: ~CHUNK_SECONDS each
    assert _chunk_size(10, 10 * CHUNK_SECONDS / 50, 40, 2) == 10  # the end: a share of what is left
    assert _chunk_size(10, 100.0, 1000, 2) == 1  # slow runs: one at a time


def exiting_run(config: FakeConfig, seed: int) -> FakeResult:
    """Ends its worker process (as a crash would)."""
    os._exit(3)


def test_a_dead_worker_stops_the_sweep_and_the_next_one_starts_afresh(spec, tmp_path: Path) -> None:
    from joblib.externals.loky.process_executor import TerminatedWorkerError

    with pytest.raises(TerminatedWorkerError):
        _sweep(spec, tmp_path / "dead", jobs=2, run_fn=exiting_run)
    report = _sweep(spec, tmp_path / "dead", jobs=2)
    assert report.ok and report.n_completed == 24


def test_warm_up_is_once_per_process_and_never_fails(monkeypatch) -> None:
    from ccgabm.sweep import workers

    frozen, thresholds = [], []  # a worker freezes its heap once warm; this process's is kept
    monkeypatch.setattr(workers.gc, "freeze", lambda: frozen.append(True))
    monkeypatch.setattr(workers.gc, "set_threshold", lambda *t: thresholds.append(t))
    monkeypatch.setattr(workers, "_frozen", False)
    workers.warm_up("no.such.module")  # an unimportable module: the first run will say so
    assert "no.such.module" in workers._warmed
    workers.warm_up("no.such.module")
    assert frozen == [True] and workers.heap_frozen()
    assert len(thresholds) == 1 and thresholds[0][0] >= workers.YOUNG_OBJECTS


class _Cyclic:
    """A model's agents and the model refer to each other: only the cycle collector frees them."""

    def __init__(self) -> None:
        self.me = self


_LEFT: list = []  # weak references to each cyclic_run's garbage


def cyclic_run(config: FakeConfig, seed: int) -> FakeResult:
    """``fake_run`` leaving cyclic garbage behind, as a model run does."""
    import weakref

    _LEFT.append(weakref.ref(_Cyclic()))
    return fake_run(config, seed)


@pytest.mark.parametrize("where", ["worker", "frozen process"])
def test_each_runs_garbage_is_collected_before_the_next(where, monkeypatch) -> None:
    """A worker, and a process whose heap is frozen (the ``ccgabm`` command's) running a
    sweep itself, collect each run's garbage: the next run finds the last run's memory free
    (a trust matrix's is reused)."""
    from ccgabm.sweep import engine, workers

    _LEFT.clear()
    seen = []

    def run_fn(config: FakeConfig, seed: int) -> FakeResult:
        seen.append([ref() is None for ref in _LEFT])
        return cyclic_run(config, seed)

    runs = [(0, r, FakeConfig(), r) for r in range(3)]
    if where == "worker":
        outcomes = workers.execute_chunk(run_fn, runs)
    else:
        monkeypatch.setattr(workers, "_frozen", True)  # as the ccgabm command leaves it
        outcomes = list(engine._in_process(run_fn, runs))
    assert all(o["ok"] for o in outcomes)
    assert seen == [[], [True], [True, True]] and _LEFT[-1]() is None


def warning_run(config: FakeConfig, seed: int) -> FakeResult:
    """``fake_run`` that warns about its inputs, as the practice table's loader does."""
    import warnings

    from ccgabm.params import InputWarning

    warnings.warn("[world] table_path = 'x.csv': 3 blank values filled", InputWarning, stacklevel=1)
    return fake_run(config, seed)


@pytest.mark.parametrize("jobs", [1, 2])
def test_an_input_warning_is_shown_once_per_sweep(spec, tmp_path: Path, jobs: int) -> None:
    from ccgabm.params import InputWarning

    with pytest.warns(InputWarning) as caught:
        report = _sweep(spec, tmp_path / "out", run_fn=warning_run, jobs=jobs)
    assert report.ok and report.n_completed == 24
    assert [str(w.message) for w in caught if w.category is InputWarning] == [
        "[world] table_path = 'x.csv': 3 blank values filled"]


def _gate(parent: int) -> Path:
    import tempfile

    return Path(tempfile.gettempdir()) / f"ccgabm-sweep-gate-{parent}"


def gated_run(config: FakeConfig, seed: int) -> FakeResult:
    """``fake_run``; the runs at trust 0.8 wait (up to 30 s) for the test to open the gate."""
    if config.values["behaviour.initial_trust"] == 0.8:
        deadline = time.monotonic() + 30
        while not _gate(os.getppid()).exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    return fake_run(config, seed)


def test_finished_runs_are_written_while_a_long_run_goes_on(tmp_path: Path, monkeypatch) -> None:
    """With workers, a finished run is written within FLUSH_SECONDS even when no other run ends
    meanwhile (the parent checks every FLUSH_TICK_SECONDS), so a kill cannot lose it."""
    import threading

    from ccgabm.sweep import batches

    monkeypatch.setattr(batches, "FLUSH_SECONDS", 0.5)
    (tmp_path / "baseline.toml").write_text("")
    small = parse_spec({"sweep": {"base": "baseline.toml", "seed": 1, "replications": 1},
                        "axes": {"behaviour.initial_trust": [0.4, 0.6, 0.8]}}, base_dir=tmp_path)
    out, gate = tmp_path / "out", _gate(os.getpid())
    gate.unlink(missing_ok=True)
    sweep = threading.Thread(target=_sweep, args=(small, out), kwargs={"run_fn": gated_run, "jobs": 2})
    sweep.start()
    try:
        deadline = time.monotonic() + 20
        while not (out / "runs").is_dir() or len(load_results(out)[0]) < 2:
            assert time.monotonic() < deadline, "the two finished runs were not written"
            time.sleep(0.1)
        assert sweep.is_alive()  # the gated run is still going
    finally:
        gate.touch()
        sweep.join(60)
        gate.unlink(missing_ok=True)
    assert len(load_results(out)[0]) == 3
