"""Sweep store integrity: one spec per store, runs done only when every file is intact and
their own, staging leftovers cleaned, and sweep sizes bounded before anything is allocated.

Uses the fake model and config of ``test_sweep_engine`` (tiny specs, a few seconds in all).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from test_sweep_engine import Recording, fake_load_config, fake_run

from ccgabm.analysis import AnalysisError, analyze, cli_analyze
from ccgabm.sweep import (
    MAX_RUNS,
    SpecError,
    StoreError,
    add_sweep_arguments,
    build_plan,
    cli_sweep,
    estimate_runs,
    load_results,
    load_spec,
    parse_spec,
    read_manifest,
    run_sweep,
)
from ccgabm.sweep.design import design_points
from ccgabm.sweep.store import META_KEY


def _spec_text(years: int, replications: int = 2, extra: str = "") -> str:
    return (
        f'[sweep]\nbase = "baseline.toml"\nseed = 11\nreplications = {replications}\n{extra}'
        '[axes]\n"finance.budget_pressure" = [0.0, 0.04]\n'
        f'[fixed]\n"run.years" = {years}\n'
    )


@pytest.fixture
def specs(tmp_path: Path) -> tuple[Path, Path]:
    """Two spec files differing only in ``[fixed] "run.years"`` (1 and 2)."""
    (tmp_path / "baseline.toml").write_text("")
    s1, s2 = tmp_path / "s1.toml", tmp_path / "s2.toml"
    s1.write_text(_spec_text(1))
    s2.write_text(_spec_text(2))
    return s1, s2


def _sweep(spec: Any, out: Path, **kw: Any) -> Any:
    kw.setdefault("run_fn", fake_run)
    return run_sweep(spec, out, progress=False, load_config=fake_load_config, **kw)


def _args(spec: Path, out: Path, **kw: Any) -> argparse.Namespace:
    parser = add_sweep_arguments(argparse.ArgumentParser())
    flags = [f"--{k.replace('_', '-')}" for k, v in kw.items() if v is True]
    return parser.parse_args([str(spec), "--out", str(out), "--no-progress", *flags])


@pytest.fixture
def cli_fakes(monkeypatch) -> None:
    monkeypatch.setattr("ccgabm.sweep.plan._default_loader", fake_load_config)
    monkeypatch.setattr("ccgabm.sweep.engine._default_run_fn", lambda: fake_run)


def _snapshot(out: Path) -> dict[Path, tuple[int, int]]:
    return {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(out.rglob("*"))}


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err and "ArrowInvalid" not in err
    return lines[0]


# --- one spec per store ---------------------------------------------------------------------


def test_different_spec_into_same_store_refused(specs, tmp_path: Path, cli_fakes, capsys) -> None:
    s1, s2 = specs
    out = tmp_path / "results" / "s"
    assert cli_sweep(_args(s1, out)) == 0
    capsys.readouterr()
    before = _snapshot(out)
    assert cli_sweep(_args(s2, out)) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "holds a different sweep" in line and "differs in: fixed" in line and "--overwrite" in line
    assert _snapshot(out) == before  # nothing written
    assert read_manifest(out)["fixed"] == {"run.years": 1}
    # the same spec resumes as before
    assert cli_sweep(_args(s1, out)) == 0
    assert "4 already done, 0 completed" in capsys.readouterr().out


def test_same_runs_from_another_spec_file_resume(specs, tmp_path: Path) -> None:
    s1, _ = specs
    out = tmp_path / "out"
    _sweep(s1, out)
    moved = tmp_path / "elsewhere.toml"
    moved.write_text('# comment\n' + _spec_text(1, extra='description = "same runs"\n'))
    report = _sweep(moved, out)  # same runs: description, comments and file name do not matter
    assert report.n_skipped == 4 and report.n_completed == 0


def test_overwrite_empties_the_store_first(specs, tmp_path: Path, cli_fakes, capsys) -> None:
    s1, s2 = specs
    out = tmp_path / "s"
    assert cli_sweep(_args(s1, out)) == 0
    analyze(out, years=(1,))
    (out / "failures").mkdir(exist_ok=True)
    (out / "failures" / "point-00007_rep-000.json").write_text("{}")
    assert cli_sweep(_args(s2, out, overwrite=True)) == 0
    assert "0 already done, 4 completed" in capsys.readouterr().out
    assert read_manifest(out)["fixed"] == {"run.years": 2}
    runs, fates = load_results(out)
    assert len(runs) == 4 and fates["end_month"].max() <= 24 and (fates["end_month"] > 12).any()
    assert sorted(p.name for p in out.iterdir()) == [".lock", "fates", "manifest.json", "points.parquet",
                                                     "runs"]


def test_overwrite_never_deletes_what_is_not_a_store(specs, tmp_path: Path, cli_fakes, capsys) -> None:
    s1, s2 = specs
    out = tmp_path / "s"
    _sweep(s1, out)
    (out / "notes.txt").write_text("mine")
    before = _snapshot(out)
    assert cli_sweep(_args(s2, out, overwrite=True)) == 2
    assert "refusing to empty" in _one_error_line(capsys.readouterr().err)
    assert _snapshot(out) == before
    other = tmp_path / "other"
    other.mkdir()
    (other / "data.csv").write_text("1,2\n")
    for overwrite in (False, True):
        assert cli_sweep(_args(s1, other, overwrite=overwrite)) == 2
        _one_error_line(capsys.readouterr().err)
    assert [p.name for p in other.iterdir()] == ["data.csv"]
    (tmp_path / "afile").write_text("")
    with pytest.raises(StoreError, match="is a file"):
        _sweep(s1, tmp_path / "afile")


# --- a batch counts only when its files are intact and its own -------------------------------


@pytest.fixture
def one_run_batches(monkeypatch) -> None:
    """Every finished run is written as a batch of its own (batch-000001 is point 0 rep 0,
    batch-000002 point 0 rep 1, batch-000003 point 1 rep 0, batch-000004 point 1 rep 1)."""
    monkeypatch.setattr("ccgabm.sweep.batches.FLUSH_RUNS", 1)


def test_truncated_fates_detected_by_analyze_and_redone_on_resume(
    specs, tmp_path: Path, capsys, one_run_batches
) -> None:
    s1, _ = specs
    out = tmp_path / "results" / "s"
    _sweep(s1, out)
    _truncate(out / "fates" / "batch-000003.parquet")
    with pytest.raises(AnalysisError, match=r"fates/batch-000003\.parquet .*ccgabm sweep .*--out"):
        analyze(out, years=(1,))
    assert cli_analyze(argparse.Namespace(out_dir=out, years=[1], heatmap_axes=None)) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "batch-000003.parquet" in line and f"ccgabm sweep {s1} --out {out}" in line

    rec = Recording(tmp_path / "calls")
    rec.folder.mkdir()
    report = _sweep(s1, out, run_fn=rec)
    err = capsys.readouterr().err
    assert "warning: discarded 1 result file(s)" in err and len(err.strip().splitlines()) == 1
    plan = build_plan(load_spec(s1), fake_load_config)
    assert rec.seeds() == [plan.seeds[1][0].seed]  # exactly the damaged batch's run, once
    assert report.n_skipped == 3 and report.n_completed == 1 and report.n_discarded == 1
    runs, _ = load_results(out)
    assert len(runs) == 4
    analyze(out, years=(1,))


def test_truncated_or_foreign_run_file_redone(specs, tmp_path: Path, capsys, one_run_batches) -> None:
    s1, _ = specs
    out = tmp_path / "s"
    _sweep(s1, out)
    _truncate(out / "runs" / "batch-000002.parquet")
    with pytest.raises(StoreError, match=r"runs/batch-000002\.parquet unreadable"):
        load_results(out)
    stray = out / "runs" / "batch-000009.parquet"  # a copy repeating the runs of batch 1
    stray.write_bytes((out / "runs" / "batch-000001.parquet").read_bytes())
    (out / "fates" / stray.name).write_bytes((out / "fates" / "batch-000001.parquet").read_bytes())
    report = _sweep(s1, out)
    assert report.n_completed == 1 and report.n_discarded == 2 and not stray.exists()
    assert "discarded 2 result file(s)" in capsys.readouterr().err
    assert len(load_results(out)[0]) == 4


def test_a_batch_of_another_sweep_is_refused(specs, tmp_path: Path) -> None:
    s1, s2 = specs
    a, b = tmp_path / "a", tmp_path / "b"
    _sweep(s1, a)
    _sweep(s2, b)
    for sub in ("runs", "fates"):
        (a / sub / "batch-000002.parquet").write_bytes((b / sub / "batch-000001.parquet").read_bytes())
    with pytest.raises(StoreError, match=r"runs/batch-000002\.parquet .*config_digest"):
        load_results(a)
    report = _sweep(s1, a)
    assert report.n_skipped == 4 and report.n_discarded == 1
    assert len(load_results(a)[0]) == 4


def test_fates_of_another_spec_are_not_taken_for_this_runs(specs, tmp_path: Path) -> None:
    """A sweep of another spec killed between writing a fates file and its runs file."""
    s1, s2 = specs
    a, b = tmp_path / "a", tmp_path / "b"
    _sweep(s1, a)
    _sweep(s2, b)
    name = "batch-000001.parquet"
    (a / "fates" / name).write_bytes((b / "fates" / name).read_bytes())
    with pytest.raises(StoreError, match=r"fates/batch-000001\.parquet is not the file its batch wrote"):
        load_results(a)
    report = _sweep(s1, a)
    assert report.n_completed == 4 and report.n_discarded == 1
    runs, fates = load_results(a)
    assert fates["end_month"].max() <= 12  # every fate from the 1-year spec again


def test_missing_fates_file_redone(specs, tmp_path: Path, one_run_batches) -> None:
    s1, _ = specs
    out = tmp_path / "s"
    _sweep(s1, out)
    (out / "fates" / "batch-000004.parquet").unlink()
    with pytest.raises(StoreError, match="is missing"):
        load_results(out)
    assert _sweep(s1, out).n_completed == 1


def test_killed_sweep_leaves_an_analysable_store(specs, tmp_path: Path, one_run_batches) -> None:
    """An orphan fates file (kill between a batch's two writes) is no error; its runs are just
    missing, and the orphan is removed when the sweep resumes."""
    s1, _ = specs
    out = tmp_path / "s"
    _sweep(s1, out)
    (out / "runs" / "batch-000004.parquet").unlink()
    runs, fates = load_results(out)
    assert len(runs) == 3 and set(fates["replication"][fates["point_id"] == 1]) == {0}
    rec = Recording(tmp_path / "calls")
    rec.folder.mkdir()
    report = _sweep(s1, out, run_fn=rec)
    assert report.n_completed == 1 and report.n_discarded == 0 and len(rec.seeds()) == 1
    assert sorted(p.name for p in (out / "fates").iterdir()) == [
        f"batch-00000{n}.parquet" for n in (1, 2, 3, 4)  # the orphan removed, then batch 4 again
    ]


def test_results_do_not_depend_on_batching(specs, tmp_path: Path, monkeypatch) -> None:
    s1, _ = specs
    _sweep(s1, tmp_path / "whole")
    monkeypatch.setattr("ccgabm.sweep.batches.FLUSH_RUNS", 1)
    _sweep(s1, tmp_path / "single", jobs=2)
    assert len(list((tmp_path / "single" / "runs").iterdir())) == 4
    for a, b in zip(load_results(tmp_path / "whole"), load_results(tmp_path / "single"), strict=True):
        pd.testing.assert_frame_equal(a.drop(columns="wall_seconds", errors="ignore"),
                                      b.drop(columns="wall_seconds", errors="ignore"))


def text_or_number_run(config: Any, seed: int) -> Any:
    """A summary figure that is text in some runs and a number in others."""
    result = fake_run(config, seed)
    result.summary["label"] = "high" if config.values["finance.budget_pressure"] else 1.5
    return result


def test_runs_that_cannot_share_a_table_go_to_separate_batches(specs, tmp_path: Path) -> None:
    s1, _ = specs
    out = tmp_path / "s"
    report = _sweep(s1, out, run_fn=text_or_number_run)
    assert report.ok and report.n_completed == 4
    assert len(list((out / "runs").iterdir())) == 2  # one buffer, split in two batches
    runs, _ = load_results(out)
    assert runs["label"].tolist() == [1.5, 1.5, "high", "high"]


def _as_one_file_per_run(out: Path) -> None:
    """Rewrite a store in the layout of one run file and one fates file per run (earlier
    ccgabm versions), with the identity in each file's metadata."""
    for batch in sorted((out / "runs").glob("batch-*.parquet")):
        rows = pq.read_table(batch)
        meta = json.loads(rows.schema.metadata[META_KEY])
        fates = pq.read_table(out / "fates" / batch.name)
        for i, ident in enumerate(meta["runs"]):
            name = f"point-{ident['point_id']:05d}_rep-{ident['replication']:03d}.parquet"
            mine = fates.filter(pc.and_(pc.equal(fates["point_id"], ident["point_id"]),
                                        pc.equal(fates["replication"], ident["replication"])))
            fates_ident = {k: v for k, v in ident.items() if k != "outputs"}
            pq.write_table(mine.replace_schema_metadata({META_KEY: json.dumps(fates_ident)}),
                           out / "fates" / name)
            ident = {**ident, "fates_sha256": hashlib.sha256((out / "fates" / name).read_bytes()).hexdigest()}
            row = rows.slice(i, 1)
            pq.write_table(row.replace_schema_metadata({**row.schema.metadata, META_KEY: json.dumps(ident)}),
                           out / "runs" / name)
        batch.unlink()
        (out / "fates" / batch.name).unlink()


def test_store_of_one_file_per_run_is_read_and_resumed(specs, tmp_path: Path, capsys) -> None:
    s1, _ = specs
    out, ref = tmp_path / "s", tmp_path / "ref"
    _sweep(s1, ref)
    _sweep(s1, out)
    _as_one_file_per_run(out)
    for a, b in zip(load_results(out), load_results(ref), strict=True):
        pd.testing.assert_frame_equal(a.drop(columns="wall_seconds", errors="ignore"),
                                      b.drop(columns="wall_seconds", errors="ignore"))
    assert _sweep(s1, out).n_skipped == 4
    (out / "runs" / "point-00001_rep-000.parquet").unlink()  # redone into a batch
    _truncate(out / "fates" / "point-00000_rep-001.parquet")
    with pytest.raises(StoreError, match=r"fates/point-00000_rep-001\.parquet is not the file its run"):
        load_results(out)
    report = _sweep(s1, out)
    assert (report.n_skipped, report.n_completed, report.n_discarded) == (2, 2, 1)
    assert "discarded 1 result file(s)" in capsys.readouterr().err
    assert sorted(p.name for p in (out / "runs").iterdir()) == [
        "batch-000001.parquet", "point-00000_rep-000.parquet", "point-00001_rep-001.parquet"
    ]
    for a, b in zip(load_results(out), load_results(ref), strict=True):
        pd.testing.assert_frame_equal(a.drop(columns="wall_seconds", errors="ignore"),
                                      b.drop(columns="wall_seconds", errors="ignore"))


def test_store_of_the_previous_format_resumes(specs, tmp_path: Path) -> None:
    """Stores written before manifests held a digest and fates were hashed stay usable."""
    s1, _ = specs
    out = tmp_path / "s"
    _sweep(s1, out)
    _as_one_file_per_run(out)
    manifest = read_manifest(out)
    del manifest["spec_digest"]
    manifest["format"] = 1
    (out / "manifest.json").write_text(json.dumps(manifest))
    for path in (out / "runs").glob("*.parquet"):
        table = pq.read_table(path)
        ident = json.loads(table.schema.metadata[META_KEY])
        del ident["fates_sha256"]
        meta = {**table.schema.metadata, META_KEY: json.dumps(ident).encode()}
        pq.write_table(table.replace_schema_metadata(meta), path)
    for path in (out / "fates").glob("*.parquet"):
        table = pq.read_table(path)
        meta = {k: v for k, v in table.schema.metadata.items() if k != META_KEY}
        pq.write_table(table.replace_schema_metadata(meta), path)
    assert len(load_results(out)[0]) == 4
    assert _sweep(s1, out).n_skipped == 4
    _truncate(out / "fates" / "point-00000_rep-000.parquet")
    with pytest.raises(StoreError, match="unreadable"):
        load_results(out)
    assert _sweep(s1, out).n_completed == 1


def test_unreadable_manifest_or_failure_record(
    specs, tmp_path: Path, cli_fakes, capsys, one_run_batches
) -> None:
    s1, _ = specs
    out = tmp_path / "s"
    _sweep(s1, out)
    (out / "failures").mkdir(exist_ok=True)
    (out / "failures" / "point-00000_rep-001.json").write_text("{not json")
    analyze(out, years=(1,))  # the record of a run that has finished is stale: left out
    (out / "runs" / "batch-000001.parquet").unlink()  # point 0 rep 0 has not finished
    (out / "failures" / "point-00000_rep-000.json").write_text("{not json")
    with pytest.raises(AnalysisError, match=r"failures/point-00000_rep-000\.json is unreadable"):
        analyze(out, years=(1,))
    _sweep(s1, out)  # a resume removes the unreadable record
    analyze(out, years=(1,))
    (out / "manifest.json").write_text('{"points": [')
    with pytest.raises(AnalysisError, match="manifest.json is unreadable"):
        analyze(out, years=(1,))
    assert cli_sweep(_args(s1, out)) == 2
    assert "manifest.json is unreadable" in _one_error_line(capsys.readouterr().err)
    assert cli_sweep(_args(s1, out, overwrite=True)) == 0


# --- staging leftovers ----------------------------------------------------------------------


def test_staging_leftovers_cleaned_on_start(specs, tmp_path: Path) -> None:
    s1, _ = specs
    out = tmp_path / "s"
    _sweep(s1, out)
    analyze(out, years=(1,))
    leftovers = [
        out / ".tmp-manifest.json.x1",
        out / "runs" / ".tmp-batch-000001.parquet.x2",
        out / "fates" / ".tmp-batch-000002.parquet.x3",
        out / "failures" / ".tmp-point-00000_rep-000.json.x4",
        out / "analysis" / ".tmp-report.md.x5",
        out / "analysis" / ".tmp-staging" / "cumulative_incidence.png",
        out / ".trash-emptying" / "runs" / "batch-000001.parquet",
    ]
    for path in leftovers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"partial")
    assert _sweep(s1, out).n_skipped == 4  # leftovers are not runs, and are removed
    assert not list(out.rglob(".tmp-*")) and not list(out.rglob(".trash-*"))
    (out / "analysis" / ".tmp-staging").mkdir()
    result = analyze(out, years=(1,))
    assert not list(out.rglob(".tmp-*"))
    assert all(p.parent == out / "analysis" and p.is_file() for p in result.files)


def test_temporaries_alone_do_not_make_a_folder_a_store(specs, tmp_path: Path) -> None:
    s1, s2 = specs
    out = tmp_path / "s"
    out.mkdir()
    (out / ".tmp-manifest.json.killed").write_text("{")
    assert _sweep(s2, out).n_completed == 4
    assert not list(out.rglob(".tmp-*"))


def test_interrupted_overwrite_is_finished_by_the_next_start(specs, tmp_path: Path, monkeypatch) -> None:
    s1, s2 = specs
    out = tmp_path / "s"
    _sweep(s1, out)

    def killed(path: Any, *a: Any, **k: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("ccgabm.sweep.store.shutil.rmtree", killed)
    with pytest.raises(KeyboardInterrupt):
        _sweep(s2, out, overwrite=True)
    monkeypatch.undo()
    assert [p.name for p in out.iterdir() if not p.name.startswith(".trash-")] == [".lock"]
    assert _sweep(s2, out).n_completed == 4  # an empty store: no --overwrite needed
    assert not list(out.glob(".trash-*"))


# --- sizes bounded before allocation --------------------------------------------------------


def _peak_during(fn: Any) -> tuple[float, float, BaseException]:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001 - returned to the test
        caught = exc
    else:
        raise AssertionError("expected an error")
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return time.perf_counter() - started, peak, caught


def test_huge_replications_refused_instantly(tmp_path: Path, cli_fakes, capsys) -> None:
    (tmp_path / "baseline.toml").write_text("")
    spec = tmp_path / "huge.toml"
    spec.write_text(_spec_text(1, replications=100_000_000))
    out = tmp_path / "out"
    seconds, peak, exc = _peak_during(lambda: _sweep(spec, out))
    assert isinstance(exc, SpecError)
    assert seconds < 1.0 and peak < 5e6  # no seeds, points or configs were built
    assert "200,000,000 runs" in str(exc) and f"limit of {MAX_RUNS:,}" in str(exc)
    assert cli_sweep(_args(spec, out)) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "huge.toml" in line and "--force" in line
    assert not out.exists()
    # a spec parsed without the bound is still refused by run_sweep before any allocation
    unbounded = load_spec(spec, max_runs=None)
    assert estimate_runs(unbounded) == 200_000_000
    seconds, peak, exc = _peak_during(lambda: _sweep(unbounded, out))
    assert isinstance(exc, SpecError) and seconds < 1.0 and peak < 5e6 and not out.exists()


@pytest.mark.parametrize(
    ("sampling", "samples", "axes", "runs"),
    [
        ("grid", None, {"a.x": {"low": 0.0, "high": 1.0, "num": 10**8}}, "100,000,000"),
        ("grid", None, {"a.x": {"low": 0, "high": 1, "num": 10**4}, "b.y": [*range(10**4)]}, "100,000,000"),
        ("sobol", 2**30, {"a.x": {"low": 0.0, "high": 1.0}, "b.y": {"low": 0, "high": 1}}, "6,442,450,944"),
        ("morris", 10**9, {"a.x": {"low": 0.0, "high": 1.0}, "b.y": {"low": 0, "high": 1}}, "3,000,000,000"),
        ("lhs", 10**8, {"a.x": {"low": 0.0, "high": 1.0}}, "100,000,000"),
    ],
)
def test_huge_designs_refused_before_sampling(sampling: str, samples: Any, axes: dict, runs: str) -> None:
    sweep: dict[str, Any] = {"base": "b.toml", "seed": 1, "sampling": sampling}
    if samples is not None:
        sweep["samples"] = samples
    data = {"sweep": sweep, "axes": axes}
    seconds, peak, exc = _peak_during(lambda: parse_spec(data))
    assert isinstance(exc, SpecError) and f"plans {runs} runs" in str(exc)
    assert seconds < 1.0 and peak < 5e6  # grid values not expanded
    if sampling != "grid":  # parsed unbounded, the design still refuses before scipy / SALib
        spec = parse_spec(data, max_runs=None)
        seconds, peak, exc = _peak_during(lambda: design_points(spec))
        assert isinstance(exc, SpecError) and seconds < 1.0 and peak < 5e6


def test_force_lifts_the_limit(specs, tmp_path: Path, monkeypatch, cli_fakes, capsys) -> None:
    s1, _ = specs
    monkeypatch.setattr("ccgabm.sweep.engine.MAX_RUNS", 3)
    with pytest.raises(SpecError, match="4 runs .*over the limit of 3 runs"):
        _sweep(load_spec(s1), tmp_path / "a")
    assert not (tmp_path / "a").exists()
    assert _sweep(load_spec(s1), tmp_path / "a", force=True).n_completed == 4
    assert cli_sweep(_args(s1, tmp_path / "b", force=True)) == 0
    assert "4 completed" in capsys.readouterr().out
    assert estimate_runs(load_spec(s1)) == 4 and MAX_RUNS == 1_000_000


def test_a_store_grows_by_replications_but_does_not_shrink(tmp_path: Path) -> None:
    (tmp_path / "baseline.toml").write_text("")
    small, more = tmp_path / "small.toml", tmp_path / "more.toml"
    small.write_text(_spec_text(1, replications=1))
    more.write_text(_spec_text(1, replications=3))
    out = tmp_path / "store"
    first = _sweep(load_spec(small), out)
    assert first.n_completed == 2
    grown = _sweep(load_spec(more), out)
    assert (grown.n_skipped, grown.n_completed) == (2, 4)  # replication 0 kept: same seeds
    runs, _ = load_results(out)
    assert len(runs) == 6
    with pytest.raises(StoreError, match="can grow, not shrink"):
        _sweep(load_spec(small), out)


def test_plans_beyond_memory_are_refused_even_with_force(tmp_path: Path) -> None:
    (tmp_path / "baseline.toml").write_text("")
    spec = tmp_path / "vast.toml"
    spec.write_text(_spec_text(1, replications=10**15))
    out = tmp_path / "out"
    with pytest.raises(SpecError, match="planning them alone needs"):
        _sweep(load_spec(spec, max_runs=None), out, force=True)
    assert not out.exists()


def test_an_unreachable_dask_scheduler_is_refused_before_writing(tmp_path: Path, monkeypatch) -> None:
    from ccgabm.sweep import engine

    started = time.perf_counter()
    with pytest.raises(StoreError, match="no dask scheduler answered"):
        engine._check_scheduler("tcp://127.0.0.1:1", timeout_s=1.0)
    assert time.perf_counter() - started < 20
    (tmp_path / "baseline.toml").write_text("")
    spec = tmp_path / "s.toml"
    spec.write_text(_spec_text(1, replications=1))
    out = tmp_path / "out"
    check = engine._check_scheduler
    monkeypatch.setattr(engine, "_check_scheduler", lambda address: check(address, 1.0))
    with pytest.raises(StoreError, match="tcp://127.0.0.1:1"):
        _sweep(load_spec(spec), out, backend="dask", scheduler="tcp://127.0.0.1:1")
    assert not out.exists()


def test_a_store_in_use_is_refused_and_a_killed_sweep_leaves_no_lock(specs, tmp_path: Path) -> None:
    from ccgabm.sweep.store import locked

    s1, _ = specs
    out = tmp_path / "s"
    _sweep(s1, out)
    with locked(out), pytest.raises(StoreError, match="being written by another ccgabm sweep"):
        _sweep(s1, out)  # another writer holds the store
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    with locked(fresh), pytest.raises(StoreError, match="another ccgabm sweep"):
        _sweep(s1, fresh)
    assert _sweep(s1, out).n_skipped == 4  # the lock went with its holder


def test_a_batch_is_written_when_its_time_is_up(specs, tmp_path: Path, monkeypatch) -> None:
    s1, _ = specs
    monkeypatch.setattr("ccgabm.sweep.batches.FLUSH_SECONDS", 0.0)
    out = tmp_path / "s"
    assert _sweep(s1, out).n_completed == 4
    assert len(list((out / "runs").iterdir())) == 4  # each run written as it arrived
    assert len(load_results(out)[0]) == 4
