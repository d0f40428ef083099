"""The on-disk sweep store: atomic files, run identities for resume, and loading results.

Layout of ``out_dir``::

    manifest.json                 spec copy, axes, points, seeds, package version
    points.parquet                point_id, axis values, config_digest
    runs/point-XXXXX_rep-YYY.parquet    one row: ids, parameters, summary, seed info
    fates/point-XXXXX_rep-YYY.parquet   group_fates of that run (when kept)
    failures/point-XXXXX_rep-YYY.json   error and traceback of a failed run
    analysis/                     written by ``ccgabm analyze``

Every file is written to a temporary name (``.tmp-*``) and moved into place with
``os.replace``, so a killed sweep never leaves a half-written result; leftover temporaries and
``.trash-*`` folders (an emptying that was cut short) are removed when a sweep starts.

The manifest records the plan's ``spec_digest`` (``ccgabm.sweep.plan``); a sweep of another
digest is refused unless the store is emptied first (``empty_store``, ``--overwrite``).

A run is done only when all of its files are present, readable and carry its identity (point
id, replication, seed, config digest, package version, outputs; ``run_identity``). Its fates
file is written first, with the identity in its parquet metadata; the run file is written last
and holds the identity plus the SHA-256 of the fates file's bytes, so a truncated, corrupted
or foreign fates file is told apart from the run's own (``check_run``). Resume redoes a run
that fails the check; ``load_results`` refuses a store holding one (``StoreError``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
import traceback as tb
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ccgabm.outputs import remove_path, usual_mode
from ccgabm.params import CcgabmError
from ccgabm.sweep.seeds import run_seeds

__all__ = [
    "META_KEY",
    "STORE_ENTRIES",
    "RunCheck",
    "StoreError",
    "package_version",
    "run_name",
    "parse_run_name",
    "run_identity",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_parquet",
    "read_identity",
    "check_run",
    "check_runs",
    "clean_temporaries",
    "empty_store",
    "is_temporary",
    "write_failure",
    "read_manifest",
    "expected_identities",
    "load_results",
    "load_failures",
    "format_exception",
    "repair_hint",
]

META_KEY = b"ccgabm_run"
_TMP_PREFIX = ".tmp-"
_TRASH_PREFIX = ".trash-"
#: names a sweep store may hold at its top level (plus temporaries)
STORE_ENTRIES = frozenset({"manifest.json", "points.parquet", "runs", "fates", "failures", "analysis"})
LOCK_NAME = ".lock"  # held (flock) by the sweep writing the store; never moved or deleted
_SUBFOLDERS = ("runs", "fates", "failures", "analysis")
_RUN_NAME = re.compile(r"point-(\d+)_rep-(\d+)")
_ROW_CHECKED = ("point_id", "replication", "seed", "config_digest", "package_version")


class StoreError(CcgabmError, ValueError):
    """A sweep store cannot be used as asked; the message names the folder or file and a fix."""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def package_version() -> str:
    """Installed ``ccgabm`` version (part of every run's identity)."""
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("ccgabm")
    except PackageNotFoundError:
        pass
    try:
        import ccgabm

        return str(getattr(ccgabm, "__version__", "0+unknown"))
    except ImportError:  # pragma: no cover
        return "0+unknown"


def run_name(point_id: int, replication: int) -> str:
    """File stem of one run, e.g. ``point-00003_rep-017``."""
    return f"point-{point_id:05d}_rep-{replication:03d}"


def parse_run_name(stem: str) -> tuple[int, int] | None:
    """``(point_id, replication)`` of a run file stem, or None if it is not one."""
    m = _RUN_NAME.fullmatch(stem)
    return (int(m.group(1)), int(m.group(2))) if m else None


def run_identity(
    point_id: int,
    replication: int,
    config_digest: str,
    version: str,
    seed: int,
    seed_entropy: Any,
    seed_spawn_key: str,
    outputs: Iterable[str],
) -> dict[str, Any]:
    """The identity a run's files must carry for the run to count as done."""
    return {
        "point_id": int(point_id),
        "replication": int(replication),
        "config_digest": str(config_digest),
        "package_version": str(version),
        "seed": int(seed),
        "seed_entropy": str(seed_entropy),
        "seed_spawn_key": str(seed_spawn_key),
        "outputs": sorted(outputs),
    }


def _fsync_replace(tmp: str, path: Path) -> None:
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _tmp_path(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX + path.name + ".", dir=path.parent)
    os.fchmod(fd, usual_mode(0o666))  # as a plain open() would make it
    os.close(fd)
    return tmp


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (tmp file + fsync + ``os.replace``)."""
    tmp = _tmp_path(path)
    try:
        Path(tmp).write_bytes(data)
        _fsync_replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (sorted keys, indented)."""
    text = json.dumps(data, indent=2, sort_keys=True, default=json_default)
    atomic_write_bytes(path, (text + "\n").encode())


def json_default(obj: Any) -> Any:
    """JSON for numpy scalars and paths (``json.dumps(default=...)``)."""
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


def atomic_write_parquet(path: Path, df: pd.DataFrame, meta: dict[str, Any] | None = None) -> str:
    """Write a DataFrame as parquet atomically, with optional JSON metadata under META_KEY.

    Returns the SHA-256 (hex) of the bytes written.
    """
    table = pa.Table.from_pandas(df, preserve_index=False)
    if meta is not None:
        merged = dict(table.schema.metadata or {})
        merged[META_KEY] = json.dumps(meta, sort_keys=True, default=json_default).encode()
        table = table.replace_schema_metadata(merged)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    data = sink.getvalue().to_pybytes()
    atomic_write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def _schema_identity(schema: pa.Schema) -> dict[str, Any] | None:
    try:
        found = json.loads((schema.metadata or {})[META_KEY])
    except (KeyError, ValueError):
        return None
    return found if isinstance(found, dict) else None


def read_identity(path: Path) -> dict[str, Any] | None:
    """The identity stored in a run file's metadata, or None if missing/unreadable."""
    try:
        return _schema_identity(pq.read_schema(path))
    except (OSError, ValueError, pa.ArrowException):
        return None


@dataclass
class RunCheck:
    """Outcome of ``check_run``: ``status`` is ``done``, ``missing`` or ``bad``.

    A bad run names the offending ``path`` and the ``reason``; a done run checked with
    ``load=True`` carries its tables.
    """

    status: str
    path: Path | None = None
    reason: str = ""
    run: pa.Table | None = None
    fates: pa.Table | None = None

    @property
    def done(self) -> bool:
        return self.status == "done"

    @property
    def bad(self) -> bool:
        return self.status == "bad"


def _identity_mismatch(stored: dict[str, Any], ident: dict[str, Any]) -> str | None:
    for key, want in ident.items():
        if key == "outputs":
            if not set(want) <= set(stored.get("outputs", [])):
                return f"outputs {stored.get('outputs')!r} lack {sorted(set(want))!r}"
        elif stored.get(key) != want:
            return f"{key} is {stored.get(key)!r}, this sweep expects {want!r}"
    return None


def check_run(out_dir: Path, ident: dict[str, Any], load: bool = False) -> RunCheck:
    """Is the run ``ident`` done in ``out_dir``: all files present, readable, its own?

    ``missing``: no run file (never finished; an orphan fates file is normal after a kill).
    ``bad``: a file is unreadable, truncated, lacks or contradicts the identity, or the fates
    file is missing or not the one the run file was written with.
    """
    out = Path(out_dir)
    name = run_name(ident["point_id"], ident["replication"]) + ".parquet"
    run_path = out / "runs" / name

    def bad(path: Path, reason: str) -> RunCheck:
        return RunCheck("bad", path=path, reason=reason)

    if not run_path.exists():
        return RunCheck("missing")
    try:
        run = _read_parquet(run_path.read_bytes())
    except (OSError, ValueError, pa.ArrowException) as exc:
        return bad(run_path, f"unreadable ({_first_line(exc)})")
    stored = _schema_identity(run.schema)
    if stored is None:
        return bad(run_path, "carries no run identity")
    mismatch = _identity_mismatch(stored, ident)
    if mismatch:
        return bad(run_path, f"belongs to another run ({mismatch})")
    if run.num_rows != 1:
        return bad(run_path, f"holds {run.num_rows} rows, not 1")
    for col in _ROW_CHECKED:
        if col in run.column_names and run.column(col)[0].as_py() != ident[col]:
            return bad(run_path, f"its {col} column contradicts its identity")
    fates = None
    if "group_fates" in ident["outputs"]:
        fates_path = out / "fates" / name
        if not fates_path.is_file():
            return bad(fates_path, "is missing")
        try:
            data = fates_path.read_bytes()
        except OSError as exc:
            return bad(fates_path, f"unreadable ({_first_line(exc)})")
        want = stored.get("fates_sha256")
        if want is not None and hashlib.sha256(data).hexdigest() != want:
            return bad(fates_path, "is not the file its run wrote (truncated, corrupted or from another run)")
        if want is None or load:  # stores written before fates files were hashed: parse them
            try:
                fates = _read_parquet(data)
            except (OSError, ValueError, pa.ArrowException) as exc:
                return bad(fates_path, f"unreadable ({_first_line(exc)})")
            if want is None:
                reason = _legacy_fates_mismatch(fates, ident)
                if reason:
                    return bad(fates_path, reason)
    return RunCheck("done", run=run if load else None, fates=fates if load else None)


def _read_parquet(data: bytes) -> pa.Table:
    return pq.ParquetFile(pa.BufferReader(data)).read()


def check_runs(
    out_dir: Path, idents: dict[tuple[int, int], dict[str, Any]], load: bool = False
) -> dict[tuple[int, int], RunCheck]:
    """``check_run`` for many runs (a few threads: the work is file reads and parquet decoding)."""
    keys = list(idents)
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 1) + 2)) as pool:
        checks = pool.map(lambda key: check_run(out_dir, idents[key], load), keys, chunksize=64)
        return dict(zip(keys, checks, strict=True))


def _legacy_fates_mismatch(fates: pa.Table, ident: dict[str, Any]) -> str | None:
    stored = _schema_identity(fates.schema)
    if stored is not None:
        mismatch = _identity_mismatch(stored, {k: v for k, v in ident.items() if k != "outputs"})
        return f"belongs to another run ({mismatch})" if mismatch else None
    for col in ("point_id", "replication"):
        if col not in fates.column_names:
            return f"lacks the {col} column"
        if set(fates.column(col).to_pylist()) - {ident[col]}:
            return f"holds rows of another run ({col} column)"
    return None


def is_temporary(name: str) -> bool:
    """True for staging names: ``.tmp-*`` files or folders and ``.trash-*`` folders."""
    return name.startswith((_TMP_PREFIX, _TRASH_PREFIX))


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
        raise StoreError(f"{path} is unreadable ({_first_line(exc)})") from None
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

    Runs not yet finished are absent. Every file present is checked (``check_run``): a store
    holding an unreadable, truncated or mismatched run or fates file, or a run file that is not
    part of its plan, raises ``StoreError`` naming the file; rerunning the sweep repairs it.
    """
    out = Path(out_dir)
    manifest = read_manifest(out)
    hint = repair_hint(out, manifest)
    expected = expected_identities(manifest)
    for path in sorted((out / "runs").glob("point-*_rep-*.parquet")):
        key = parse_run_name(path.name.removesuffix(".parquet"))
        if key is None or key not in expected:
            raise StoreError(f"{path} is not a run of this sweep; {hint}")
    run_tables, fate_tables = [], []
    checks = check_runs(out, {key: expected[key] for key in sorted(expected)}, load=True)
    for check in checks.values():
        if check.bad:
            raise StoreError(f"{check.path} {check.reason}; {hint}")
        if check.done:
            run_tables.append(check.run)
            if check.fates is not None and check.fates.num_columns:
                fate_tables.append(check.fates)
    runs, fates = _concat(run_tables), _concat(fate_tables)
    if len(runs):
        runs = runs.sort_values(["point_id", "replication"], ignore_index=True)
    if len(fates):
        fates = fates.sort_values(["point_id", "replication", "group_id"], ignore_index=True)
    return runs, fates


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

    A record whose run has a run file is stale (the run was redone and finished; a kill came
    before its old record was removed) and is left out.
    """
    folder = Path(out_dir) / "failures"
    records = []
    for p in sorted(folder.glob("point-*_rep-*.json")):
        if (Path(out_dir) / "runs" / f"{p.stem}.parquet").exists():
            continue
        try:
            record = json.loads(p.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise StoreError(f"{p} is unreadable ({_first_line(exc)}); {repair_hint(out_dir)}") from None
        records.append(record)
    return records
