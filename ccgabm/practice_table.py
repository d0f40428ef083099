"""Read a practice table in the NHS Digital list-size + IMD format."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ccgabm.params import ConfigError

COLUMNS = {
    "practice_code": "code",
    "ccg_code": "group",
    "postcode": "postcode",
    "registered_patients_2021_01_01": "list_size",
    "imd2019_score": "imd",
}


def load_practice_table(path: str | Path) -> pd.DataFrame:
    """Practices with code, group, postcode, list size and IMD (missing IMD: group median).

    Raises ``ConfigError`` naming the file and the problem when the table cannot be used.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"[world] table_path = {str(path)!r}: file does not exist")
    try:
        raw = pd.read_csv(path, dtype={"practice_code": str, "ccg_code": str, "postcode": str})
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ConfigError(f"[world] table_path = {str(path)!r}: not a readable CSV ({exc})") from None
    missing = [c for c in COLUMNS if c not in raw.columns]
    if missing:
        raise ConfigError(
            f"[world] table_path = {str(path)!r}: missing columns {missing}; "
            f"a practice table needs {list(COLUMNS)}"
        )
    df = raw[list(COLUMNS)].rename(columns=COLUMNS)
    df["list_size"] = pd.to_numeric(df["list_size"], errors="coerce")
    bad = df["list_size"].isna() | (df["list_size"] < 0) | df["code"].isna() | df["group"].isna()
    if bad.any():
        first = df.index[bad][0] + 2
        raise ConfigError(
            f"[world] table_path = {str(path)!r}: {int(bad.sum())} rows lack a practice code, "
            f"group code or non-negative list size (first at line {first})"
        )
    if df["code"].duplicated().any():
        dup = df.loc[df["code"].duplicated(), "code"].iloc[0]
        raise ConfigError(f"[world] table_path = {str(path)!r}: practice code {dup!r} repeats")
    df = df[df["list_size"] > 0].copy()
    df["imd"] = pd.to_numeric(df["imd"], errors="coerce")
    df["imd"] = df["imd"].fillna(df.groupby("group")["imd"].transform("median"))
    df["imd"] = df["imd"].fillna(df["imd"].median())
    df["postcode"] = df["postcode"].fillna("")
    return df.reset_index(drop=True)
