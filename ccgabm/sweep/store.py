"""The on-disk sweep store: layout, lock, failure records, and loading results.

Layout of ``out_dir``::

    manifest.json                 spec copy, axes, points, seeds, package version
    points.parquet                point_id, axis values, config_digest
    runs/batch-NNNNNN.parquet     one row per run (ids, parameters, summary, seed info), with
                                  the identity of every run in the file's metadata
    fates/batch-NNNNNN.parquet    group_fates of the same runs (when kept)
    failures/point-XXXXX_rep-YYY.json   error and traceback of a failed run
    analysis/                     written by ``ccgabm analyze``

Finished runs are written in batches (``ccgabm.sweep.batches``): a batch counts only when
its files are intact and carry this sweep's identities; a kill loses at most the runs not yet
written, which are redone. Stores of the earlier one-file-per-run layout
(``runs/point-XXXXX_rep-YYY.parquet``, ``ccgabm.sweep.legacy``) are read and resumed too; their
new runs go to batches.

Every file is written to a temporary name (``.tmp-*``) and moved into place with
``os.replace`` (``ccgabm.sweep.atomic``), so a killed sweep never leaves a half-written result;
leftover temporaries and ``.trash-*`` folders (an emptying that was cut short) are removed
when a sweep starts.

The manifest records the plan's ``spec_digest`` (``ccgabm.sweep.plan``); a sweep of another
digest is refused unless the store is emptied first (``empty_store``, ``--overwrite``).
``load_results`` refuses a store holding a damaged or foreign result file (``StoreError``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
import traceback as tb
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from ccgabm.outputs import remove_path, usual_mode
from ccgabm.params import CcgabmError
from ccgabm.sweep.atomic import (
    META_KEY,
    TMP_PREFIX,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_parquet,
    first_line,
    json_default,
    package_version,
    parse_run_name,
    run_identity,
    run_name,
)
from ccgabm.sweep.batches import check_batches, stored_keys
from ccgabm.sweep.legacy import check_runs, run_files
from ccgabm.sweep.seeds import run_seeds

__all__ = [
    "META_KEY",
    "STORE_ENTRIES",
    "StoreError",
    "package_version",
    "run_name",
    "parse_run_name",
    "run_identity",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_parquet",
    "json_default",
    "clean_temporaries",
    "empty_store",
    "is_temporary",
    "locked",
    "write_failure",
    "read_manifest",
    "expected_identities",
    "load_results",
    "load_failures",
    "format_exception",
    "repair_hint",
]

_TRASH_PREFIX = ".trash-"
#: names a sweep store may hold at its top level (plus temporaries)
STORE_ENTRIES = frozenset({"manifest.json", "points.parquet", "runs", "fates", "failures", "analysis"})
LOCK_NAME = ".lock"  # held (flock) by the sweep writing the store; never moved or deleted
_SUBFOLDERS = ("runs", "fates", "failures", "analysis")


class StoreError(CcgabmError, ValueError):
    """A sweep store cannot be used as asked; the message names the folder or file and a fix."""


def is_temporary(name: str) -> bool:
    """True for staging names: ``.tmp-*`` files or folders and ``.trash-*`` folders."""
    return name.startswith((TMP_PREFIX, _TRASH_PREFIX))


def clean_temporaries(out_dir: Path) -> int:
    """Delete staging files and folders left by a killed sweep or analysis; return how many."""
    out = Path(out_dir)
    n = 0
    for folder in (out, *(out / sub for sub in _SUBFOLDERS)):
        if folder.is_dir():
            for p in folder.iterdir():
                if is_temporary(p.name):
                    remove_path(p)
                    n += 1
    return n


def empty_store(out_dir: Path) -> None:
    """Empty a sweep store, refusing (``StoreError``) if it holds anything a store does not.

    Everything is first moved into one ``.trash-*`` folder inside the store, the manifest last,
    and that folder is then deleted: a kill part-way leaves either the old store (its manifest
    still there, some runs gone, all redone on resume) or an empty one, never a store that
    claims runs it lost; the trash folder is removed at the next start.
    """
    out = Path(out_dir)
    entries = sorted(out.iterdir(), key=lambda p: (p.name == "manifest.json", p.name))
    foreign = [p.name for p in entries
               if p.name not in STORE_ENTRIES | {LOCK_NAME} and not is_temporary(p.name)]
    if foreign:
        raise StoreError(
            f"refusing to empty {out}: it holds {foreign[0]!r}, which is not part of a sweep "
            "store; choose a new --out folder"
        )
    trash = Path(tempfile.mkdtemp(prefix=_TRASH_PREFIX, dir=out))
    for p in entries:
        if p.name != LOCK_NAME and not is_temporary(p.name):
            os.replace(p, trash / p.name)
    shutil.rmtree(trash)


@contextlib.contextmanager
def locked(out_dir: Path) -> Iterator[None]:
    """Hold the store's lock (``.lock``, an exclusive ``flock``) while a sweep writes it.

    Raises ``StoreError`` at once when another process holds it. The lock goes with the
    process: a killed sweep leaves no stale lock behind.
    """
    path = Path(out_dir) / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, usual_mode(0o666))
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreError(
                f"{out_dir} is being written by another ccgabm sweep (it holds {path}); wait for "
                "it to finish, or choose another --out folder"
            ) from None
        yield
    finally:
        os.close(fd)


def write_failure(out_dir: Path, record: dict[str, Any]) -> Path:
    """Record a failed run as ``failures/<run>.json`` (with its traceback text)."""
    path = out_dir / "failures" / (run_name(record["point_id"], record["replication"]) + ".json")
    atomic_write_json(path, record)
    return path


def format_exception(exc: BaseException) -> str:
    """Full traceback text of an exception."""
    return "".join(tb.format_exception(type(exc), exc, exc.__traceback__))


def read_manifest(out_dir: str | Path) -> dict[str, Any]:
    """The sweep manifest; FileNotFoundError if ``out_dir`` holds no sweep, StoreError if unreadable."""
    path = Path(out_dir) / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"{str(out_dir)!r} holds no sweep (no manifest.json)")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise StoreError(f"{path} is unreadable ({first_line(exc)})") from None
    if not isinstance(manifest, dict) or not {"points", "replications", "seed"} <= set(manifest):
        raise StoreError(f"{path} is not a sweep manifest")
    points = manifest["points"]
    ok = (
        isinstance(points, list)
        and all(isinstance(p, dict) and isinstance(p.get("point_id"), int)
                and isinstance(p.get("config_digest"), str) for p in points)
        and isinstance(manifest["replications"], int) and manifest["replications"] >= 0
        and isinstance(manifest["seed"], int) and not isinstance(manifest["seed"], bool)
        and isinstance(manifest.get("package_version", ""), str)
        and isinstance(manifest.get("keep", []), list)
    )
    if not ok:
        raise StoreError(f"{path} is not a sweep manifest (a field has the wrong type)")
    return manifest


def repair_hint(out_dir: str | Path, manifest: dict[str, Any] | None = None) -> str:
    """The command that repairs a store: rerunning its spec redoes bad or missing runs."""
    spec = (manifest or {}).get("spec_path") or "SPEC"
    return f"run `ccgabm sweep {spec} --out {out_dir}` to redo the affected runs"


def expected_identities(manifest: dict[str, Any]) -> dict[tuple[int, int], dict[str, Any]]:
    """Identity of every run the manifest plans, keyed by ``(point_id, replication)``."""
    points = manifest["points"]
    reps = int(manifest["replications"])
    seeds = run_seeds(
        int(manifest["seed"]), len(points), reps, bool(manifest.get("common_random_numbers", False))
    )
    outputs = manifest.get("keep", [])
    version = manifest.get("package_version", "")
    out = {}
    for p in points:
        pid = int(p["point_id"])
        for rep in range(reps):
            s = seeds[pid][rep]
            out[(pid, rep)] = run_identity(
                pid, rep, p["config_digest"], version, s.seed, s.entropy, s.spawn_key_text, outputs
            )
    return out


def load_results(out_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(runs, fates)`` of the store: one row per finished run, one per group.

    Runs not yet finished are absent. Every result file is checked (``check_batches``, and
    ``check_runs`` for one-run files): a store holding an unreadable, truncated or mismatched
    file, or a run that is not part of its plan, raises ``StoreError`` naming the file;
    rerunning the sweep repairs it.
    """
    out = Path(out_dir)
    manifest = read_manifest(out)
    hint = repair_hint(out, manifest)
    expected = expected_identities(manifest)
    single = run_files(out)
    for key, path in sorted(single.items()):
        if key not in expected:
            raise StoreError(f"{path} is not a run of this sweep; {hint}")
    run_tables, fate_tables = [], []
    for check in check_runs(out, {key: expected[key] for key in sorted(single)}, load=True).values():
        if check.bad:
            raise StoreError(f"{check.path} {check.reason}; {hint}")
        if check.done:
            run_tables.append(check.run)
            if check.fates is not None and check.fates.num_columns:
                fate_tables.append(check.fates)
    for batch in check_batches(out, expected, load=True, claimed=set(single)):
        if batch.problem:
            raise StoreError(f"{batch.path} {batch.problem}; {hint}")
        run_tables.append(batch.runs)
        if batch.fates is not None and batch.fates.num_columns:
            fate_tables.append(batch.fates)
    runs, fates = _concat(run_tables), _concat(fate_tables)
    if len(runs):
        runs = _first_seen_order(runs.sort_values(["point_id", "replication"], ignore_index=True))
    if len(fates):
        fates = fates.sort_values(["point_id", "replication", "group_id"], ignore_index=True)
    return runs, fates


def _first_seen_order(runs: pd.DataFrame) -> pd.DataFrame:
    """Columns in the order they first hold a value, reading runs by point and replication.

    Runs write their summaries in batches of whatever finished together; this order depends
    on the runs alone, not on how they were batched (ties keep their order).
    """
    present = runs.notna().to_numpy()
    first = present.argmax(axis=0)
    first[~present.any(axis=0)] = len(runs)
    order = sorted(range(runs.shape[1]), key=lambda j: first[j])
    return runs.iloc[:, order]


def _concat(tables: list[pa.Table | None]) -> pd.DataFrame:
    tables = [t for t in tables if t is not None]
    if not tables:
        return pd.DataFrame()
    try:
        return pa.concat_tables(tables, promote_options="permissive").to_pandas()
    except (pa.ArrowException, ValueError):  # types arrow cannot unify: let pandas do it
        return pd.concat([t.to_pandas() for t in tables], ignore_index=True)


def load_failures(out_dir: str | Path) -> list[dict[str, Any]]:
    """Failure records currently in ``out_dir/failures``; StoreError names an unreadable one.

    A record of a run that is stored is stale (the run was redone and finished; a kill came
    before its old record was removed) and is left out.
    """
    folder = Path(out_dir) / "failures"
    records = []
    paths = sorted(folder.glob("point-*_rep-*.json"))
    stored = (stored_keys(Path(out_dir)) | set(run_files(Path(out_dir)))) if paths else set()
    for p in paths:
        if parse_run_name(p.stem) in stored:
            continue
        try:
            record = json.loads(p.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise StoreError(f"{p} is unreadable ({first_line(exc)}); {repair_hint(out_dir)}") from None
        records.append(record)
    return records
