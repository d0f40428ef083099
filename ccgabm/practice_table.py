"""Read a practice table in the NHS Digital list-size + IMD format, refusing what cannot be used.

The file is a UTF-8 CSV with a header line holding at least the columns of ``COLUMNS``. Rules
(a broken rule raises ``ConfigError`` naming the file, the column, the row and practice code,
the value and what is allowed; rows count from 1, the first line after the header):

- ``practice_code`` and ``ccg_code``: not blank; a practice code appears once.
- ``registered_patients_2021_01_01``: a whole number between 0 and ``MAX_LIST_SIZE``.
  Practices with 0 patients (closed) are left out, and a warning says how many.
- ``imd2019_score``: a finite number between ``IMD_ALLOWED`` (the scale of the IMD score), or
  blank. A blank score (or an NA marker such as ``NA``) is filled with the median of the
  practice's group, or the median of all practices where its group has no score, and a
  warning (``InputWarning``) says how many were filled; a table with no score at all is
  refused. Scores outside ``IMD_MIN..IMD_MAX`` are clipped to it by the model, and a warning
  says how many.
- at least one practice with patients, and at most ``MAX_PRACTICES`` practices.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ccgabm.config import MAX_PRACTICES
from ccgabm.params import ConfigError, InputWarning, one_line
from ccgabm.world_cache import entry_key, file_digest, load_frame, save_frame

COLUMNS = {
    "practice_code": "code",
    "ccg_code": "group",
    "postcode": "postcode",
    "registered_patients_2021_01_01": "list_size",
    "imd2019_score": "imd",
}
MAX_LIST_SIZE = 1_000_000
"""Most registered patients one practice may have: ten times England's largest list (~90,000)."""
IMD_ALLOWED = (0.0, 100.0)
"""Range of an IMD 2019 score a table may hold."""
IMD_MIN, IMD_MAX = 1.0, 90.0
"""Range of practice IMD scores the model uses (scores outside are clipped to it)."""


def _shown(value: object) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and value != value) or (
        isinstance(value, str) and not value.strip()
    ):
        return "a blank value"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return repr(int(value))
    return repr(value)


_last: dict[tuple, tuple[pd.DataFrame, str]] = {}  # the last table read and its warning


def load_practice_table(path: str | Path) -> pd.DataFrame:
    """Practices with code, group, postcode, list size and IMD (rules: module docstring).

    Raises ``ConfigError`` naming the file and the problem when the table cannot be used;
    warns (``InputWarning``) when practices are left out or scores filled or clipped. The
    last table read is kept: reading the same unchanged file again returns a copy of it (and
    repeats its warning) without parsing the file again; across runs, a table with the same
    contents is taken from the start-up cache (``ccgabm.world_cache``).
    """
    if not isinstance(path, str | os.PathLike):
        raise ConfigError(f"[world] table_path must be a file path, got {type(path).__name__}")
    path = Path(path)
    shown = os.path.normpath(path)  # the path as given, without "a/../" detours
    if len(shown) > 120:  # a very long name: its end names the file
        shown = "..." + shown[-117:]
    where = f"[world] table_path = {shown!r}"
    try:
        if path.is_dir():
            raise ConfigError(f"{where}: is a folder; a practice table CSV file is needed")
        if not path.is_file():
            raise ConfigError(f"{where}: file does not exist")
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    except OSError as exc:
        raise ConfigError(f"{where}: cannot be read ({exc.strerror or exc})") from None
    if key not in _last:
        df, note = _read_kept(path, where)
        _last.clear()
        _last[key] = (df, note)
    df, note = _last[key]
    if note:
        warnings.warn(f"{where}: {note}", InputWarning, stacklevel=2)
    return df.copy()


def _read_kept(path: Path, where: str) -> tuple[pd.DataFrame, str]:
    """``_read`` through the start-up cache (``ccgabm.world_cache``), keyed by the file's
    contents: a table read and checked once is not parsed again."""
    try:
        key = entry_key("table", {"sha256": file_digest(path), "max_practices": MAX_PRACTICES})
    except OSError:
        return _read(path, where)  # reading reports the problem
    kept = load_frame("table", key)
    if kept is not None and isinstance(kept[1].get("note"), str):
        return kept[0], kept[1]["note"]
    df, note = _read(path, where)
    save_frame("table", key, df, {"note": note})
    return df, note


def _read(path: Path, where: str) -> tuple[pd.DataFrame, str]:
    """The checked table and what was left out, filled or clipped ('' when nothing was)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            raw = pd.read_csv(path, index_col=False,
                              dtype={"practice_code": str, "ccg_code": str, "postcode": str})
    except pd.errors.ParserWarning:
        raise ConfigError(
            f"{where}: not a readable CSV (a row holds more fields than the header line)"
        ) from None
    except pd.errors.EmptyDataError:
        raise ConfigError(
            f"{where}: the file is empty; a practice table needs a header line with the columns "
            f"{', '.join(COLUMNS)}"
        ) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{where}: not a UTF-8 text CSV (byte at offset {exc.start} cannot be decoded)"
        ) from None
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        raise ConfigError(f"{where}: not a readable CSV ({one_line(exc)})") from None
    missing = [c for c in COLUMNS if c not in raw.columns]
    if missing:
        raise ConfigError(
            f"{where}: missing columns {missing}; a practice table needs {list(COLUMNS)}"
        )
    if raw.empty:
        raise ConfigError(f"{where}: holds no practices (a header line and no rows)")
    df = raw[list(COLUMNS)].rename(columns=COLUMNS)

    def refuse(mask: pd.Series, column: str, allowed: str, values: pd.Series | None = None) -> None:
        if not mask.any():
            return
        i = int(np.flatnonzero(mask.to_numpy())[0])
        code = df["code"].iloc[i]
        practice = f" (practice {code})" if isinstance(code, str) and code.strip() else ""
        value = (raw[column] if values is None else values).iloc[i]
        more = f"; {int(mask.sum())} rows like it" if mask.sum() > 1 else ""
        raise ConfigError(
            f"{where}: column {column}, row {i + 1}{practice}: {_shown(value)} is not allowed: "
            f"must be {allowed}{more}"
        )

    for name, column in (("code", "practice_code"), ("group", "ccg_code")):
        text = df[name]
        refuse(text.isna() | (text.fillna("").str.strip() == ""), column, "a code (not blank)",
               values=text.fillna(""))
    dup = df["code"].duplicated(keep=False)
    if dup.any():
        code = df.loc[dup, "code"].iloc[0]
        rows = [int(i) + 1 for i in np.flatnonzero((df["code"] == code).to_numpy())]
        raise ConfigError(
            f"{where}: column practice_code: practice code {code!r} repeats (rows "
            f"{', '.join(map(str, rows))}); each practice appears once"
        )

    sizes = pd.to_numeric(df["list_size"], errors="coerce")
    allowed = f"a whole number of patients between 0 and {MAX_LIST_SIZE:,}"
    numeric = sizes.notna()
    refuse(~numeric, "registered_patients_2021_01_01", allowed)
    finite = np.isfinite(sizes.to_numpy(dtype=float))
    refuse(pd.Series(~finite, index=df.index), "registered_patients_2021_01_01", allowed, sizes)
    refuse((sizes < 0) | (sizes > MAX_LIST_SIZE) | (sizes != np.floor(sizes)),
           "registered_patients_2021_01_01", allowed, sizes)
    if sizes.dtype != np.int64:
        sizes = sizes.astype(np.int64)
    df["list_size"] = sizes

    imd = df["imd"]
    if not pd.api.types.is_numeric_dtype(imd):  # a value that is neither a number nor blank
        parsed = pd.to_numeric(imd, errors="coerce")
        refuse(parsed.isna() & imd.notna(), "imd2019_score",
               f"a number between {IMD_ALLOWED[0]:g} and {IMD_ALLOWED[1]:g}, or blank")
        imd = parsed
    values = imd.to_numpy(dtype=float)
    out_of_range = imd.notna() & ~((values >= IMD_ALLOWED[0]) & (values <= IMD_ALLOWED[1]))
    refuse(out_of_range, "imd2019_score",
           f"a finite number between {IMD_ALLOWED[0]:g} and {IMD_ALLOWED[1]:g}, or blank", imd)
    df["imd"] = imd

    closed = df["list_size"] == 0
    df = df[~closed].copy()
    if df.empty:
        raise ConfigError(
            f"{where}: holds no practice with registered patients (every "
            "registered_patients_2021_01_01 is 0)"
        )
    if len(df) > MAX_PRACTICES:
        raise ConfigError(
            f"{where}: holds {len(df):,} practices with patients; a run holds at most "
            f"{MAX_PRACTICES:,}"
        )
    blank = df["imd"].isna()
    if blank.all():
        raise ConfigError(
            f"{where}: column imd2019_score is blank in every row; at least one practice "
            "needs a score (blank scores are filled from the others)"
        )
    notes = []
    if closed.any():
        notes.append(f"{int(closed.sum())} practices with 0 registered patients left out")
    if blank.any():
        first = df.loc[blank, "code"].iloc[0]
        notes.append(
            f"{int(blank.sum())} blank imd2019_score values (first: practice {first}) filled "
            "with their group's median score (all practices' median where the group has none)"
        )
    df["imd"] = df["imd"].fillna(df.groupby("group")["imd"].transform("median"))
    df["imd"] = df["imd"].fillna(df["imd"].median())
    clipped = (df["imd"] < IMD_MIN) | (df["imd"] > IMD_MAX)
    if clipped.any():
        notes.append(
            f"{int(clipped.sum())} imd2019_score values outside {IMD_MIN:g}..{IMD_MAX:g} "
            "clipped to that range"
        )
    df["postcode"] = df["postcode"].fillna("")
    return df.reset_index(drop=True), "; ".join(notes)
