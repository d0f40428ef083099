"""A cache of what start-up reads and builds once: checked practice tables, assembled worlds
and starting trust matrices.

Reading a practice table (parse, check, fill) and assembling its world (sampled lists,
positions, groups, hospitals, neighbourhoods) gives the same result every time for the same
file contents, parameters and seed, so the result is kept and reused by later runs. An entry
is one ``.npz`` file (plain arrays, no pickles) holding a table's columns and a JSON header;
its name is a digest of everything the result depends on (``entry_key``): the caller's inputs
(the table file's SHA-256, the parameters that shape the world, the seed) with the versions
of ccgabm, numpy and pandas and the source of the modules that read and build worlds, so a
change to any of them misses the cache instead of reusing a stale entry.

The cache folder is ``$CCGABM_CACHE`` when set (``off``, ``0`` or an empty value turns the
cache off), else ``$XDG_CACHE_HOME/ccgabm`` or ``~/.cache/ccgabm``; entries live in its
``worlds`` folder. An entry is written whole: into a temporary file beside it, then renamed
into place, so a killed run never leaves half an entry. An entry that cannot be read, or
whose header does not match its key, is ignored (and replaced by the rebuilt result). The
cache never stops a run: a folder that cannot be written just means nothing is kept. Each
kind keeps its most recently used ``MAX_ENTRIES`` entries.

Large arrays (``load_array``, ``save_array``: an England trust matrix is 177 MB) are kept as
``.npy`` files, read whole into the run's memory, and written only from the second time a key
is asked for (``second_request``): a run whose seed is used once
writes nothing. Each kind of array keeps its most recently used entries up to
``MAX_ARRAY_BYTES``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from ccgabm.outputs import usual_mode

__all__ = ["cache_folder", "entry_key", "file_digest", "load_array", "load_frame", "save_array",
           "save_frame", "second_request"]

FORMAT = 1  # layout of an entry; changing it misses every older entry
MAX_ENTRIES = 32  # entries kept per kind (assumed; an England entry is under 1 MB)
MAX_ARRAY_BYTES = 2**30  # bytes of array entries kept per kind (assumed: 6 England trust matrices)
MAX_MARKERS = 256  # keys remembered per kind for second_request (assumed)
STALE_SECONDS = 3600  # a temporary entry file this old was left by a killed process (assumed)
OFF = ("", "0", "off", "false", "no")
# modules shaping a world
CODE = ("world.py", "formation.py", "practice_table.py", "rng.py", "world_cache.py")

_digests: dict[tuple, str] = {}


def cache_folder() -> Path | None:
    """The folder holding entries, or None when the cache is turned off."""
    chosen = os.environ.get("CCGABM_CACHE")
    if chosen is not None:
        return None if chosen.strip().lower() in OFF else Path(chosen).expanduser() / "worlds"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ccgabm" / "worlds"


def file_digest(path: str | os.PathLike) -> str:
    """SHA-256 of a file's contents (kept per path, size and modification time)."""
    stat = os.stat(path)
    memo = (os.path.realpath(path), stat.st_size, stat.st_mtime_ns)
    if memo not in _digests:
        with open(path, "rb") as fh:
            _digests[memo] = hashlib.file_digest(fh, "sha256").hexdigest()
    return _digests[memo]


def _code_digest() -> str:
    here = Path(__file__).parent
    digest = hashlib.sha256()
    for name in CODE:
        digest.update(name.encode() + b"\0" + (here / name).read_bytes() + b"\0")
    return digest.hexdigest()


def entry_key(kind: str, inputs: dict[str, Any]) -> str:
    """Name of the entry of ``kind`` built from ``inputs`` (plain data) by this code."""
    from ccgabm import __version__

    memo = ("code",)
    if memo not in _digests:
        _digests[memo] = _code_digest()
    text = json.dumps({
        "format": FORMAT, "kind": kind, "ccgabm": __version__, "numpy": np.__version__,
        "pandas": pd.__version__, "code": _digests[memo], "inputs": inputs,
    }, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _path(folder: Path, kind: str, key: str, suffix: str = ".npz") -> Path:
    """Where an entry of ``kind`` under ``key`` lives: a table or world (``.npz``), an array
    (``.npy``) or the marker of a key asked for once (``.seen``)."""
    return folder / f"{kind}-{key}{suffix}"


def load_frame(kind: str, key: str) -> tuple[pd.DataFrame, dict[str, Any]] | None:
    """The table and header kept under ``key``, or None (no cache, no entry, unreadable)."""
    folder = cache_folder()
    if folder is None:
        return None
    path = _path(folder, kind, key)
    try:
        with np.load(path, allow_pickle=False) as entry:
            header = json.loads(str(entry["header"][()]))
            if header.get("format") != FORMAT or header.get("key") != key:
                return None
            columns = {}
            for name, text in zip(header["columns"], header["text"], strict=True):
                values = entry[f"column_{len(columns)}"]
                columns[name] = values.astype(object) if text else values
        frame = pd.DataFrame(columns)
        if len(frame) != header["rows"]:
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: kept when older entries are pruned
        return frame, header["meta"]
    except Exception:  # any entry that cannot be read (a damaged header too) is rebuilt
        return None


def save_frame(kind: str, key: str, frame: pd.DataFrame, meta: dict[str, Any]) -> None:
    """Keep ``frame`` (numeric and text columns, a plain index) and ``meta`` (plain data)
    under ``key``; nothing is kept when the cache is off or cannot be written."""
    folder = cache_folder()
    if folder is None:
        return
    arrays, text = {}, []
    for i, name in enumerate(frame.columns):
        values = frame[name].to_numpy()
        is_text = values.dtype == object
        if is_text:
            if not all(type(v) is str and "\0" not in v for v in values):
                return  # only plain strings round-trip exactly
            values = values.astype(str)
        elif values.dtype.kind not in "biuf":
            return
        arrays[f"column_{i}"] = values
        text.append(is_text)
    header = {"format": FORMAT, "key": key, "rows": len(frame),
              "columns": [str(c) for c in frame.columns], "text": text, "meta": meta}
    try:
        arrays["header"] = np.array(json.dumps(header, allow_nan=False))
    except (TypeError, ValueError):  # meta that is not plain data is not kept
        return
    if _write_whole(folder, kind, _path(folder, kind, key).name,
                    lambda fh: np.savez(fh, **arrays)):
        with contextlib.suppress(OSError):
            _keep_newest(folder, f"{kind}-*.npz", MAX_ENTRIES)


def _keep_newest(folder: Path, pattern: str, count: int) -> None:
    """Delete all but the ``count`` most recently used files matching ``pattern``."""
    _prune_oldest(sorted(_by_use(folder, pattern), reverse=True)[count:])


def second_request(kind: str, key: str) -> bool:
    """Whether ``key`` of ``kind`` was asked for before (its entry is worth writing now); the
    first request leaves a marker. False when the cache is off or cannot be used."""
    folder = cache_folder()
    if folder is None:
        return False
    marker = _path(folder, kind, key, ".seen")
    try:
        if marker.exists():
            os.utime(marker)  # recently used: kept when older markers are pruned
            return True
        folder.mkdir(parents=True, exist_ok=True)
        marker.touch()
        _keep_newest(folder, f"{kind}-*.seen", MAX_MARKERS)
    except OSError:
        pass
    return False


def load_array(kind: str, key: str, shape: tuple[int, ...], dtype: np.dtype,
               out: np.ndarray | None = None) -> np.ndarray | None:
    """The array kept under ``key``, read whole into memory (a copy the run may change; into
    ``out``, a C-contiguous array of that shape and type, when given), or None (no cache, no
    entry, or an entry that cannot be read or has another shape or type).

    Reading is faster than mapping the file copy-on-write: measured on a 2-core machine, an
    England trust matrix read and then changed everywhere took about 0.05 s, mapped about
    0.15 s (two page faults a page instead of one)."""
    folder = cache_folder()
    if folder is None:
        return None
    path = _path(folder, kind, key, ".npy")
    try:
        with open(path, "rb") as fh:
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}.get(
                               np.lib.format.read_magic(fh))
            if read_header is None:
                return None
            kept_shape, fortran, kept_dtype = read_header(fh)
            if kept_shape != tuple(shape) or kept_dtype != np.dtype(dtype) or fortran:
                return None
            array = np.empty(shape, dtype=dtype) if out is None else out
            if fh.readinto(array.data.cast("B")) != array.nbytes:
                return None
    except Exception:  # any entry that cannot be read (a damaged header too) is rebuilt
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # recently used: kept when older entries are pruned
    return array


def save_array(kind: str, key: str, array: np.ndarray) -> None:
    """Keep ``array`` under ``key`` (written whole, then renamed into place); nothing is kept
    when the cache is off or cannot be written, and then the key's marker is dropped, so the
    write is tried again only after the key is asked for twice more."""
    folder = cache_folder()
    if folder is None:
        return
    if not _write_whole(folder, kind, _path(folder, kind, key, ".npy").name,
                        lambda fh: np.save(fh, np.ascontiguousarray(array), allow_pickle=False)):
        with contextlib.suppress(OSError):
            _path(folder, kind, key, ".seen").unlink()
        return
    with contextlib.suppress(OSError):
        _prune_arrays(folder, kind)


def _prune_arrays(folder: Path, kind: str) -> None:
    """Delete the least recently used array entries of ``kind`` beyond ``MAX_ARRAY_BYTES``."""
    total, old = 0, []
    for stamp, path in sorted(_by_use(folder, f"{kind}-*.npy"), reverse=True):
        with contextlib.suppress(OSError):
            total += path.stat().st_size
        if total > MAX_ARRAY_BYTES:
            old.append((stamp, path))
    _prune_oldest(old)


def _write_whole(folder: Path, kind: str, name: str, write: Callable[[BinaryIO], object]) -> bool:
    """Write ``folder/name`` whole with ``write``: into a temporary file beside it (with the
    permissions a plain ``open`` would give), then renamed into place; False, with no file
    left, when it cannot be written. Temporary files of ``kind`` older than
    ``STALE_SECONDS`` (left by a killed process) are deleted first."""
    tmp = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        now = time.time()
        _prune_oldest([(stamp, path) for stamp, path in _by_use(folder, f".{kind}-*.tmp")
                       if now - stamp / 1e9 > STALE_SECONDS])
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fd, usual_mode(0o666))
            write(fh)
        os.replace(tmp, folder / name)
        tmp = None
        return True
    except OSError:
        return False
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _by_use(folder: Path, pattern: str) -> list[tuple[int, Path]]:
    """(last use, path) of the files matching ``pattern``."""
    found = []
    for path in folder.glob(pattern):
        with contextlib.suppress(OSError):
            found.append((path.stat().st_mtime_ns, path))
    return found


def _prune_oldest(entries: list[tuple[int, Path]]) -> None:
    for _, path in entries:
        with contextlib.suppress(OSError):
            path.unlink()
