"""Reading stores of the one-file-per-run layout (written by ccgabm before batch files).

Such a store holds ``runs/point-XXXXX_rep-YYY.parquet`` (one row; the run's identity in its
parquet metadata, with the SHA-256 of its fates file) and ``fates/point-XXXXX_rep-YYY.parquet``
(written first). These files stay readable and count as done runs on resume; new runs go to
batch files (``ccgabm.sweep.batches``). A run is done only when its files are present,
readable and carry its identity (``check_run``).
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from ccgabm.sweep.atomic import (
    first_line,
    identity_mismatch,
    parse_run_name,
    read_parquet_bytes,
    run_name,
    schema_identity,
)

__all__ = ["RunCheck", "check_run", "check_runs", "run_files"]

_ROW_CHECKED = ("point_id", "replication", "seed", "config_digest", "package_version")


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


def run_files(out_dir: Path, sub: str = "runs") -> dict[tuple[int, int], Path]:
    """The one-run files in ``out_dir/sub``, keyed by ``(point_id, replication)``."""
    found = {}
    folder = Path(out_dir) / sub
    if folder.is_dir():
        for path in folder.glob("point-*_rep-*.parquet"):
            key = parse_run_name(path.name.removesuffix(".parquet"))
            if key is not None:
                found[key] = path
    return found


def _identity(table: pa.Table) -> dict[str, Any] | None:
    found = schema_identity(table.schema)
    return found if isinstance(found, dict) else None


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
        run = read_parquet_bytes(run_path.read_bytes())
    except (OSError, ValueError, pa.ArrowException) as exc:
        return bad(run_path, f"unreadable ({first_line(exc)})")
    stored = _identity(run)
    if stored is None:
        return bad(run_path, "carries no run identity")
    mismatch = identity_mismatch(stored, ident)
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
            return bad(fates_path, f"unreadable ({first_line(exc)})")
        want = stored.get("fates_sha256")
        if want is not None and hashlib.sha256(data).hexdigest() != want:
            return bad(fates_path, "is not the file its run wrote (truncated, corrupted or from another run)")
        if want is None or load:  # stores written before fates files were hashed: parse them
            try:
                fates = read_parquet_bytes(data)
            except (OSError, ValueError, pa.ArrowException) as exc:
                return bad(fates_path, f"unreadable ({first_line(exc)})")
            if want is None:
                reason = _unhashed_fates_mismatch(fates, ident)
                if reason:
                    return bad(fates_path, reason)
    return RunCheck("done", run=run if load else None, fates=fates if load else None)


def check_runs(
    out_dir: Path, idents: dict[tuple[int, int], dict[str, Any]], load: bool = False
) -> dict[tuple[int, int], RunCheck]:
    """``check_run`` for many runs (a few threads: the work is file reads and parquet decoding)."""
    keys = list(idents)
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 1) + 2)) as pool:
        checks = pool.map(lambda key: check_run(out_dir, idents[key], load), keys, chunksize=64)
        return dict(zip(keys, checks, strict=True))


def _unhashed_fates_mismatch(fates: pa.Table, ident: dict[str, Any]) -> str | None:
    stored = _identity(fates)
    if stored is not None:
        mismatch = identity_mismatch(stored, {k: v for k, v in ident.items() if k != "outputs"})
        return f"belongs to another run ({mismatch})" if mismatch else None
    for col in ("point_id", "replication"):
        if col not in fates.column_names:
            return f"lacks the {col} column"
        if set(fates.column(col).to_pylist()) - {ident[col]}:
            return f"holds rows of another run ({col} column)"
    return None
