"""Batch files of a sweep store: many finished runs per file, written atomically, checked on read.

The parent process holds finished runs in a ``BatchBuffer`` and writes them as one batch when
it holds ``FLUSH_RUNS`` runs or ``FLUSH_SECONDS`` have passed since the last write (and when
the sweep ends or is interrupted):

    fates/batch-NNNNNN.parquet   group fates of the batch's runs (when kept), written first
    runs/batch-NNNNNN.parquet    one row per run, sorted by point and replication; its parquet
                                 metadata holds the identity of every row (``run_identity``)
                                 and the SHA-256 of the fates file's bytes

Both files are written atomically, the runs file last, so a kill leaves either a whole batch
or none (an orphan fates file at most, which is ignored and removed at the next start); runs
still in the buffer are simply redone. A batch counts only when its runs file is readable, its
identities are this sweep's and agree with its columns, and its fates file is the very one it
was written with (``check_batch``); otherwise all its runs are redone.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ccgabm.sweep.atomic import (
    META_KEY,
    atomic_write_bytes,
    first_line,
    identity_mismatch,
    parquet_bytes,
    read_parquet_bytes,
    schema_identity,
)

__all__ = [
    "FLUSH_RUNS",
    "FLUSH_SECONDS",
    "FLUSH_TICK_SECONDS",
    "BatchBuffer",
    "BatchCheck",
    "FinishedRun",
    "batch_files",
    "batch_name",
    "check_batches",
    "next_batch_number",
    "stored_keys",
]

#: runs per batch file at most (assumed: a few MB of rows and fates, and ~100 files for 10^5 runs)
FLUSH_RUNS = 1000
#: seconds a finished run waits to be written at most (assumed: a kill loses at most about half
#: a minute of finished work). With workers the parent checks every ``FLUSH_TICK_SECONDS``; in
#: one process a finished run waits for the end of the run after it.
FLUSH_SECONDS = 30.0
FLUSH_TICK_SECONDS = 1.0  # assumed: checking whether a write is due costs next to nothing
_BATCH_NAME = re.compile(r"batch-(\d+)")
_ROW_CHECKED = ("point_id", "replication", "seed", "config_digest", "package_version")


def batch_name(number: int) -> str:
    """File stem of batch ``number``, e.g. ``batch-000012``."""
    return f"batch-{number:06d}"


def batch_files(out_dir: Path, sub: str = "runs") -> dict[int, Path]:
    """The batch files in ``out_dir/sub``, keyed by batch number."""
    found = {}
    folder = Path(out_dir) / sub
    if folder.is_dir():
        for path in folder.glob("batch-*.parquet"):
            m = _BATCH_NAME.fullmatch(path.name.removesuffix(".parquet"))
            if m:
                found[int(m.group(1))] = path
    return found


def next_batch_number(out_dir: Path) -> int:
    """One more than the highest batch number in ``runs/`` or ``fates/``."""
    used = [*batch_files(out_dir, "runs"), *batch_files(out_dir, "fates")]
    return max(used, default=0) + 1


@dataclass
class FinishedRun:
    """A finished run waiting to be written: its identity, its row and its group fates (None
    when not kept; without the point and replication columns, added when written)."""

    ident: dict[str, Any]
    row: dict[str, Any]
    fates: pd.DataFrame | None

    @property
    def key(self) -> tuple[int, int]:
        return self.ident["point_id"], self.ident["replication"]


class BatchBuffer:
    """Finished runs held by the parent process until they are written as a batch."""

    def __init__(self, out_dir: Path, keep_fates: bool) -> None:
        self.out = Path(out_dir)
        self.keep_fates = keep_fates
        self.number = next_batch_number(self.out)
        self.runs: list[FinishedRun] = []
        self.last_flush = time.monotonic()

    def add(self, run: FinishedRun) -> None:
        self.runs.append(run)

    def due(self) -> bool:
        """True when the buffer holds ``FLUSH_RUNS`` runs or ``FLUSH_SECONDS`` have passed."""
        return bool(self.runs) and (
            len(self.runs) >= FLUSH_RUNS or time.monotonic() - self.last_flush >= FLUSH_SECONDS
        )

    def flush(self) -> tuple[list[tuple[int, int]], list[tuple[FinishedRun, Exception]]]:
        """Write the buffered runs; the runs written, and those that could not be (with why).

        Runs whose values cannot share one table (a column holding numbers in one run and
        text in another) go to separate batches; a run that cannot be written even alone is
        returned with its error, as a failed run.
        """
        runs, self.runs = sorted(self.runs, key=lambda r: r.key), []
        written: list[tuple[int, int]] = []
        failed: list[tuple[FinishedRun, Exception]] = []
        self._write(runs, written, failed)
        self.last_flush = time.monotonic()
        return written, failed

    def _write(self, runs: list[FinishedRun], written: list, failed: list) -> None:
        if not runs:
            return
        try:
            rows, fates = self._tables(runs)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            if len(runs) == 1:
                failed.append((runs[0], exc))
                return
            half = len(runs) // 2
            self._write(runs[:half], written, failed)
            self._write(runs[half:], written, failed)
            return
        name = batch_name(self.number) + ".parquet"
        meta: dict[str, Any] = {"runs": [r.ident for r in runs]}
        if fates is not None:
            data = parquet_bytes(fates)
            atomic_write_bytes(self.out / "fates" / name, data)
            meta["fates_sha256"] = hashlib.sha256(data).hexdigest()  # ties the runs to these fates
        atomic_write_bytes(self.out / "runs" / name, parquet_bytes(rows, meta))
        self.number += 1
        written.extend(r.key for r in runs)

    def _tables(self, runs: list[FinishedRun]) -> tuple[pa.Table, pa.Table | None]:
        rows = pa.Table.from_pandas(pd.DataFrame([r.row for r in runs]), preserve_index=False)
        if not self.keep_fates:
            return rows, None
        frames = [r.fates for r in runs]
        nonempty = [f for f in frames if len(f)] or frames[:1]  # empty frames add no rows
        fates = pd.concat(nonempty, ignore_index=True) if len(nonempty) > 1 else nonempty[0].copy()
        counts = [len(f) for f in frames]
        fates.insert(0, "replication", np.repeat(np.array([r.key[1] for r in runs], dtype=np.int64), counts))
        fates.insert(0, "point_id", np.repeat(np.array([r.key[0] for r in runs], dtype=np.int64), counts))
        return rows, pa.Table.from_pandas(fates, preserve_index=False)


@dataclass
class BatchCheck:
    """Outcome of checking one batch: the runs it holds, or why it cannot be trusted.

    ``problem`` is empty for a batch that counts, else it names what is wrong with ``path``;
    a batch checked with ``load=True`` carries its tables.
    """

    number: int
    path: Path
    keys: list[tuple[int, int]]
    problem: str = ""
    runs: pa.Table | None = None
    fates: pa.Table | None = None


def _identities(schema: pa.Schema) -> list[dict[str, Any]] | None:
    meta = schema_identity(schema)
    idents = meta.get("runs") if isinstance(meta, dict) else None
    ok = isinstance(idents, list) and all(
        isinstance(i, dict) and isinstance(i.get("point_id"), int) and isinstance(i.get("replication"), int)
        for i in idents
    )
    return idents if ok else None


def check_batch(
    out_dir: Path, number: int, expected: dict[tuple[int, int], dict[str, Any]], load: bool = False
) -> BatchCheck:
    """Does batch ``number`` hold whole runs of this sweep (``expected`` identities)?"""
    out = Path(out_dir)
    name = batch_name(number) + ".parquet"
    path = out / "runs" / name
    check = BatchCheck(number, path, [])

    def bad(reason: str, where: Path = path) -> BatchCheck:
        check.problem, check.path = reason, where
        return check

    try:
        rows = read_parquet_bytes(path.read_bytes())
    except (OSError, ValueError, pa.ArrowException) as exc:
        return bad(f"unreadable ({first_line(exc)})")
    idents = _identities(rows.schema)
    if idents is None:
        return bad("carries no run identities")
    if len(idents) != rows.num_rows:
        return bad(f"holds {rows.num_rows} rows and {len(idents)} run identities")
    check.keys = [(i["point_id"], i["replication"]) for i in idents]
    for key, ident in zip(check.keys, idents, strict=True):
        if key not in expected:
            return bad(f"holds point {key[0]} replication {key[1]}, which is not a run of this sweep")
        mismatch = identity_mismatch(ident, expected[key])
        if mismatch:
            return bad(f"does not match this sweep (point {key[0]} replication {key[1]}: {mismatch})")
    for col in _ROW_CHECKED:
        if col in rows.column_names and rows.column(col).to_pylist() != [i[col] for i in idents]:
            return bad(f"its {col} column contradicts its run identities")
    fates = None
    if idents and "group_fates" in next(iter(expected.values()))["outputs"]:
        fates_path = out / "fates" / name
        try:
            data = fates_path.read_bytes()
        except FileNotFoundError:
            return bad("is missing", fates_path)
        except OSError as exc:
            return bad(f"unreadable ({first_line(exc)})", fates_path)
        if hashlib.sha256(data).hexdigest() != schema_identity(rows.schema).get("fates_sha256"):
            return bad("is not the file its batch wrote (truncated, corrupted or from another batch)",
                       fates_path)
        if load:
            try:
                fates = read_parquet_bytes(data)
            except (OSError, ValueError, pa.ArrowException) as exc:
                return bad(f"unreadable ({first_line(exc)})", fates_path)
    if load:
        check.runs = rows.replace_schema_metadata(
            {k: v for k, v in (rows.schema.metadata or {}).items() if k != META_KEY}
        )
        check.fates = fates
    return check


def check_batches(
    out_dir: Path,
    expected: dict[tuple[int, int], dict[str, Any]],
    load: bool = False,
    claimed: set[tuple[int, int]] | None = None,
) -> list[BatchCheck]:
    """``check_batch`` for every batch, in batch order; a batch repeating a run of an earlier
    one (or of ``claimed``, runs stored elsewhere) is a problem too."""
    numbers = sorted(batch_files(out_dir, "runs"))
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 1) + 2)) as pool:
        checks = list(pool.map(lambda n: check_batch(out_dir, n, expected, load), numbers))
    seen = set(claimed or ())
    for check in checks:
        if check.problem:
            continue
        repeated = next((k for k in check.keys if k in seen), None)
        if repeated is not None:
            check.problem = f"repeats point {repeated[0]} replication {repeated[1]}, stored before it"
            check.runs = check.fates = None
        else:
            seen.update(check.keys)
    return checks


def stored_keys(out_dir: Path) -> set[tuple[int, int]]:
    """Runs named by the batch files' metadata (not checked: for telling stale records apart)."""
    keys: set[tuple[int, int]] = set()
    for path in batch_files(out_dir, "runs").values():
        try:
            idents = _identities(pq.read_schema(path))
        except (OSError, ValueError, pa.ArrowException):
            continue
        keys.update((i["point_id"], i["replication"]) for i in idents or ())
    return keys
