"""Write a run's results: summary.json, Parquet tables and overview.png, all or nothing.

An output folder is checked before the run (``OutputFolder``): the name must be usable, its
parent creatable and writable (a staging folder is created there at once, which proves it),
and an existing folder may hold only what a run writes (``summary.json``, ``overview.png``,
``*.parquet`` files), so that replacing it loses nothing else. After the run every file is
written into the staging folder ``.<name>-partial-<pid>-<random>`` beside the output folder,
then swapped in whole: on Linux the two folders are exchanged in one atomic step
(``renameat2(RENAME_EXCHANGE)``) and the old one deleted, so the output folder is either
untouched or fully replaced whenever the process is killed. Where that call is unavailable the
old folder is renamed aside (``.<name>-old-<pid>-<random>``) and the staging folder renamed into
place; a kill between those two renames leaves the old results aside, and the next run into the
same folder puts them back. Staging and aside folders left by a killed process are cleaned up
when the next run into the same folder starts. Files and folders get the usual permissions
(the process's umask), as a plain ``open`` or ``mkdir`` would give them.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ccgabm.params import ConfigError

if TYPE_CHECKING:
    from ccgabm.figure_process import FigureProcess
    from ccgabm.simulate import RunResult

__all__ = ["OutputFolder", "write_run", "write_text_file", "run_files_ok"]

_PARTIAL, _OLD = "-partial-", "-old-"


def run_files_ok(entry: Path) -> bool:
    """True for what a run writes into its folder: summary.json, overview.png, *.parquet files."""
    name = entry.name
    plain = entry.is_file() and not entry.is_symlink()
    return plain and (name in ("summary.json", "overview.png") or name.endswith(".parquet"))


def _problem(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def usual_mode(mode: int) -> int:
    """``mode`` less this process's umask: what mkdir or open would give."""
    mask = os.umask(0)
    os.umask(mask)
    return mode & ~mask


def exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one atomic step (Linux ``renameat2(RENAME_EXCHANGE)``).

    False where the system or file system cannot (the caller then renames in two steps).
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    done = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return done == 0


def remove_path(path: Path) -> None:
    """Delete a file or a folder (not following a symbolic link to a folder)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


class OutputFolder:
    """An output folder checked now and written whole later (module docstring).

    ``OutputFolder(path)`` raises ``ConfigError`` (one line, naming ``option`` and the path)
    when the folder cannot be used; on success the staging folder exists. Use it as a context
    manager: leaving it without ``write`` (an error, an interrupt) removes the staging folder
    and any parent folders it created, so nothing is left behind.
    """

    def __init__(self, path: str | os.PathLike, option: str = "--out") -> None:
        self.option = option
        if not isinstance(path, str | os.PathLike):
            raise ConfigError(f"{option} must be a folder path, got {type(path).__name__}")
        text = os.fspath(path)
        if not str(text).strip():
            raise ConfigError(f"{option} {text!r} is not allowed: name an output folder")
        if "\0" in str(text):
            raise ConfigError(f"{option} {text!r} is not allowed: a path cannot hold a NUL byte")
        self.shown = f"{option} {str(text)!r}"
        self.path = Path(os.path.realpath(text))
        cwd = Path.cwd().resolve()
        if self.path == Path(self.path.anchor) or self.path == cwd or self.path in cwd.parents:
            raise ConfigError(
                f"{self.shown} is not allowed: it is the current folder, one holding it or the "
                "root; name a folder of its own for the results"
            )
        self._created: list[Path] = []
        self.staging: Path | None = None
        self._clean_stale()
        self._check_existing()
        self.staging = self._make_staging()

    # ---- before the run -------------------------------------------------------------------
    def _check_existing(self) -> None:
        out = self.path
        if out.exists() and not out.is_dir():
            raise ConfigError(f"{self.shown} is a file; an output folder is needed")
        if out.is_dir():
            try:
                entries = sorted(out.iterdir())
            except OSError as exc:
                raise ConfigError(f"{self.shown} cannot be read: {_problem(exc)}") from None
            foreign = [p for p in entries if not run_files_ok(p)]
            if foreign:
                kind = "a folder" if foreign[0].is_dir() else "a file"
                raise ConfigError(
                    f"{self.shown} holds {kind} {foreign[0].name!r} that a run does not write; "
                    "it is replaced whole by the new results, so choose a new or empty folder "
                    "(or move that entry away)"
                )

    def _make_staging(self) -> Path:
        parent = self.path.parent
        missing = []
        p = parent
        while not p.exists():
            missing.append(p)
            p = p.parent
        if not p.is_dir():
            raise ConfigError(f"{self.shown} cannot be created: {str(p)!r} is a file, not a folder")
        try:
            for folder in reversed(missing):
                folder.mkdir()
                self._created.append(folder)
            prefix = f".{self.path.name}{_PARTIAL}{os.getpid()}-"
            staging = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
            os.chmod(staging, usual_mode(0o777))  # as a plain mkdir would make it
            return staging
        except OSError as exc:
            self._remove_created()
            raise ConfigError(
                f"{self.shown} cannot be written: cannot create a folder in {str(parent)!r} "
                f"({_problem(exc)})"
            ) from None

    def _clean_stale(self) -> None:
        """Remove staging and aside folders of this output left by killed processes."""
        name = self.path.name
        try:
            siblings = sorted(self.path.parent.iterdir())
        except OSError:
            return
        for entry in siblings:
            for marker in (_PARTIAL, _OLD):
                head = f".{name}{marker}"
                if not entry.name.startswith(head):
                    continue
                pid_text = entry.name[len(head):].split("-", 1)[0]
                if pid_text.isdigit() and _pid_alive(int(pid_text)):
                    continue  # a run into this folder is under way in this or another process
                if marker == _OLD and not self.path.exists() and entry.is_dir():
                    try:  # killed between the two renames: put the old results back
                        os.rename(entry, self.path)
                        continue
                    except OSError:
                        pass
                remove_path(entry)

    def _remove_created(self) -> None:
        for folder in reversed(self._created):
            try:
                folder.rmdir()
            except OSError:
                break
        self._created = []

    # ---- after the run ----------------------------------------------------------------------
    def discard(self) -> None:
        """Remove the staging folder and the parent folders created for it."""
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None
        self._remove_created()

    def __enter__(self) -> OutputFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()

    def write(self, result: RunResult, *, plot: bool = True,
              figure: FigureProcess | None = None) -> list[Path]:
        """Write every output of ``result`` into the staging folder (overview.png only when
        ``plot``: drawn by ``figure`` when given, else in this process), then swap it in
        whole."""
        from ccgabm.metrics import check_figures

        if self.staging is None:
            raise RuntimeError("this output folder has already been written or discarded")
        staging = self.staging
        summary = check_figures(result.summary)
        text = json.dumps(summary, indent=2, allow_nan=False) + "\n"
        shown: dict[str, Any] = {k: (float("nan") if v is None else v) for k, v in summary.items()}
        try:
            (staging / "summary.json").write_text(text)
            for name, table in result.tables.items():
                table.to_parquet(staging / f"{name}.parquet", index=False)
            result.group_fates.to_parquet(staging / "group_fates.parquet", index=False)
            if plot:
                from ccgabm.plots import draw_overview, overview_data

                data = overview_data(result.tables, shown)
                if figure is not None:
                    figure.draw(data, staging / "overview.png")
                else:  # matplotlib loads only to plot
                    draw_overview(data, staging / "overview.png")
            names = sorted(p.name for p in staging.iterdir())
            self._swap_in()
        except OSError as exc:
            raise ConfigError(
                f"{self.shown}: writing the results failed ({_problem(exc)}); the folder was "
                "left as it was"
            ) from None
        self._created = []
        return [self.path / name for name in names]

    def _swap_in(self) -> None:
        out, staging = self.path, self.staging
        aside = None
        if out.exists():
            self._check_existing()  # still only results: nothing else is lost by the swap
            if exchange(staging, out):  # one atomic step: staging now holds the old results
                self.staging = None
                shutil.rmtree(staging, ignore_errors=True)
                return
            aside = out.parent / f".{out.name}{_OLD}{os.getpid()}-{secrets.token_hex(4)}"
            os.rename(out, aside)
        try:
            os.rename(staging, out)
        except OSError:
            if aside is not None:
                os.rename(aside, out)
            raise
        self.staging = None
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)


def write_run(result: RunResult, out_dir: str | os.PathLike, *, plot: bool = True) -> list[Path]:
    """Write every output of ``result`` to ``out_dir`` (replaced whole; ``OutputFolder``)."""
    with OutputFolder(out_dir) as folder:
        return folder.write(result, plot=plot)


def check_text_target(path: str | os.PathLike, option: str = "--out") -> Path:
    """Check, before any work, that a file can be written at ``path``; writes nothing.

    Raises ``ConfigError`` naming ``option`` when the path is empty, a folder, or the nearest
    existing folder above it is not a writable folder.
    """
    if not isinstance(path, str | os.PathLike) or not str(os.fspath(path)).strip():
        raise ConfigError(f"{option} {path!r} is not allowed: name a file to write")
    shown = f"{option} {str(os.fspath(path))!r}"
    target = Path(os.path.realpath(path))
    if target.is_dir():
        raise ConfigError(f"{shown} is a folder; a file name is needed")
    p = target.parent
    while not p.exists():
        p = p.parent
    if not p.is_dir() or not os.access(p, os.W_OK | os.X_OK):
        raise ConfigError(f"{shown} cannot be written ({p} is not a writable folder)")
    return target


def write_text_file(path: str | os.PathLike, text: str, option: str = "--out") -> Path:
    """Write ``text`` to the file ``path`` whole (a temporary file renamed into place).

    Raises ``ConfigError`` naming ``option`` when the path is empty, a folder, or its folder
    cannot be created or written; nothing is left behind then.
    """
    target = check_text_target(path, option)
    shown = f"{option} {str(os.fspath(path))!r}"
    created = []
    p = target.parent
    while not p.exists():
        created.append(p)
        p = p.parent
    tmp = None
    try:
        if not p.is_dir():
            raise NotADirectoryError(20, "Not a directory")
        for folder in reversed(created):
            folder.mkdir()
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.tmp-", dir=target.parent)
        os.fchmod(fd, usual_mode(0o666))  # as a plain open() would make it
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, target)
        return target
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        for folder in created:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise ConfigError(f"{shown} cannot be written ({_problem(exc)})") from None
