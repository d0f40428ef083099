"""Atomic files of a sweep store and the run identities they carry.

Every file is written to a temporary name (``.tmp-*``) in its folder, synced, and moved into
place with ``os.replace``, so a killed sweep never leaves a half-written file under a real
name. A run's identity (``run_identity``) is what its stored result must carry for the run to
count as done: point id, replication, seed, config digest, package version and outputs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ccgabm.outputs import usual_mode

__all__ = [
    "META_KEY",
    "TMP_PREFIX",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_parquet",
    "first_line",
    "identity_mismatch",
    "json_default",
    "package_version",
    "parquet_bytes",
    "parse_run_name",
    "read_parquet_bytes",
    "run_identity",
    "run_name",
    "schema_identity",
]

META_KEY = b"ccgabm_run"  # parquet metadata key of the identity (or identities) a file carries
TMP_PREFIX = ".tmp-"
_RUN_NAME = re.compile(r"point-(\d+)_rep-(\d+)")


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when empty)."""
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
    """Name of one run, e.g. ``point-00003_rep-017`` (its failure record's stem)."""
    return f"point-{point_id:05d}_rep-{replication:03d}"


def parse_run_name(stem: str) -> tuple[int, int] | None:
    """``(point_id, replication)`` of a run name, or None if it is not one."""
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
    """The identity a run's stored result must carry for the run to count as done."""
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


def identity_mismatch(stored: dict[str, Any], ident: dict[str, Any]) -> str | None:
    """How a stored identity contradicts the expected one (None when it does not)."""
    for key, want in ident.items():
        if key == "outputs":
            if not set(want) <= set(stored.get("outputs", [])):
                return f"outputs {stored.get('outputs')!r} lack {sorted(set(want))!r}"
        elif stored.get(key) != want:
            return f"{key} is {stored.get(key)!r}, this sweep expects {want!r}"
    return None


def _fsync_replace(tmp: str, path: Path) -> None:
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _tmp_path(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX + path.name + ".", dir=path.parent)
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


def parquet_bytes(table: pa.Table, meta: Any = None) -> bytes:
    """A table as parquet bytes, with optional JSON metadata under ``META_KEY``."""
    if meta is not None:
        merged = dict(table.schema.metadata or {})
        merged[META_KEY] = json.dumps(meta, sort_keys=True, default=json_default).encode()
        table = table.replace_schema_metadata(merged)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def atomic_write_parquet(path: Path, df: pd.DataFrame, meta: Any = None) -> str:
    """Write a DataFrame as parquet atomically (``parquet_bytes``); the SHA-256 (hex) of its bytes."""
    data = parquet_bytes(pa.Table.from_pandas(df, preserve_index=False), meta)
    atomic_write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def schema_identity(schema: pa.Schema) -> Any:
    """The JSON stored under ``META_KEY`` in a parquet schema, or None if missing or unreadable."""
    try:
        return json.loads((schema.metadata or {})[META_KEY])
    except (KeyError, ValueError):
        return None


def read_parquet_bytes(data: bytes) -> pa.Table:
    """A parquet file's table from its bytes (raises on truncated or corrupted data)."""
    return pq.ParquetFile(pa.BufferReader(data)).read()
