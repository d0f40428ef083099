"""The on-disk sweep store: atomic files, run identities for resume, and loading results.

Layout of ``out_dir``::

    manifest.json                 spec copy, axes, points, seeds, package version
    points.parquet                point_id, axis values, config_digest
    runs/point-XXXXX_rep-YYY.parquet    one row: ids, parameters, summary, seed info
    fates/point-XXXXX_rep-YYY.parquet   group_fates of that run (when kept)
    failures/point-XXXXX_rep-YYY.json   error and traceback of a failed run

Every file is written to a temporary name and moved into place with ``os.replace``, so a
killed sweep never leaves a half-written result. A run file is written last and marks the run
as done; it carries the run's identity (config digest, package version, seed, outputs) in its
parquet metadata, and resume skips a run only when that identity matches the plan.
"""

from __future__ import annotations

import json
import os
import tempfile
import traceback as tb
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ccgabm.sweep.seeds import run_seeds

__all__ = [
    "META_KEY",
    "package_version",
    "run_name",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_parquet",
    "read_identity",
    "clean_temporaries",
    "write_failure",
    "read_manifest",
    "load_results",
    "load_failures",
    "format_exception",
]

META_KEY = b"ccgabm_run"
_TMP_PREFIX = ".tmp-"


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


def _fsync_replace(tmp: str, path: Path) -> None:
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _tmp_path(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX + path.name + ".", dir=path.parent)
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
    text = json.dumps(data, indent=2, sort_keys=True, default=_json_default)
    atomic_write_bytes(path, (text + "\n").encode())


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


def atomic_write_parquet(path: Path, df: pd.DataFrame, meta: dict[str, Any] | None = None) -> None:
    """Write a DataFrame as parquet atomically, with optional JSON metadata under META_KEY."""
    table = pa.Table.from_pandas(df, preserve_index=False)
    if meta is not None:
        merged = dict(table.schema.metadata or {})
        merged[META_KEY] = json.dumps(meta, sort_keys=True, default=_json_default).encode()
        table = table.replace_schema_metadata(merged)
    tmp = _tmp_path(path)
    try:
        pq.write_table(table, tmp)
        _fsync_replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_identity(path: Path) -> dict[str, Any] | None:
    """The identity stored in a run file's metadata, or None if missing/unreadable."""
    try:
        meta = pq.read_schema(path).metadata or {}
        return json.loads(meta[META_KEY])
    except (OSError, KeyError, ValueError, pa.ArrowException):
        return None


def clean_temporaries(out_dir: Path) -> int:
    """Delete temporary files left by a killed sweep; return how many."""
    n = 0
    for sub in ("", "runs", "fates", "failures"):
        folder = out_dir / sub
        if folder.is_dir():
            for p in folder.glob(_TMP_PREFIX + "*"):
                p.unlink(missing_ok=True)
                n += 1
    return n


def write_failure(out_dir: Path, record: dict[str, Any]) -> Path:
    """Record a failed run as ``failures/<run>.json`` (with its traceback text)."""
    path = out_dir / "failures" / (run_name(record["point_id"], record["replication"]) + ".json")
    atomic_write_json(path, record)
    return path


def format_exception(exc: BaseException) -> str:
    """Full traceback text of an exception."""
    return "".join(tb.format_exception(type(exc), exc, exc.__traceback__))


def read_manifest(out_dir: str | Path) -> dict[str, Any]:
    """The sweep manifest; FileNotFoundError if ``out_dir`` holds no sweep."""
    path = Path(out_dir) / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"{str(out_dir)!r} holds no sweep (no manifest.json)")
    return json.loads(path.read_text())


def _read_many(paths: Iterable[Path]) -> pd.DataFrame:
    frames = [pq.read_table(p).to_pandas() for p in paths]
    frames = [f for f in frames if len(f.columns)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def load_results(out_dir: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(runs, fates)`` of the current plan: one row per finished run, one per group.

    Files left from an earlier spec, seed or package version (identity not matching the
    manifest) are ignored.
    """
    out = Path(out_dir)
    manifest = read_manifest(out)
    expected = {
        (int(p["point_id"]), r): p["config_digest"]
        for p in manifest["points"]
        for r in range(int(manifest["replications"]))
    }
    version = manifest["package_version"]
    seeds = run_seeds(
        int(manifest["seed"]),
        len(manifest["points"]),
        int(manifest["replications"]),
        bool(manifest["common_random_numbers"]),
    )
    keep: list[Path] = []
    for path in sorted((out / "runs").glob("point-*_rep-*.parquet")):
        ident = read_identity(path)
        if ident is None:
            continue
        key = (int(ident["point_id"]), int(ident["replication"]))
        if expected.get(key) != ident.get("config_digest"):
            continue
        if ident.get("package_version") != version:
            continue
        if seeds[key[0]][key[1]].seed != ident.get("seed"):
            continue
        keep.append(path)
    runs = _read_many(keep)
    fate_paths = [out / "fates" / p.name for p in keep if (out / "fates" / p.name).is_file()]
    fates = _read_many(fate_paths)
    if len(runs):
        runs = runs.sort_values(["point_id", "replication"], ignore_index=True)
    if len(fates):
        fates = fates.sort_values(["point_id", "replication", "group_id"], ignore_index=True)
    return runs, fates


def load_failures(out_dir: str | Path) -> list[dict[str, Any]]:
    """Failure records currently in ``out_dir/failures``."""
    folder = Path(out_dir) / "failures"
    return [json.loads(p.read_text()) for p in sorted(folder.glob("point-*_rep-*.json"))]
