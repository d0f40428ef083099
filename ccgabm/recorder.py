"""Collects the model's tidy tables as it runs: monthly series, annual panels, events."""

from __future__ import annotations

from typing import Any

import pandas as pd

TABLES = ("monthly", "group_year", "practice_year", "quintile_year", "events")


class Recorder:
    """Row buffers for each output table; ``tables()`` turns them into DataFrames."""

    def __init__(self) -> None:
        self._rows: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}

    def month(self, row: dict[str, Any]) -> None:
        self._rows["monthly"].append(row)

    def group_year(self, row: dict[str, Any]) -> None:
        self._rows["group_year"].append(row)

    def practice_year(self, row: dict[str, Any]) -> None:
        self._rows["practice_year"].append(row)

    def quintile_year(self, row: dict[str, Any]) -> None:
        self._rows["quintile_year"].append(row)

    def event(self, month: int, kind: str, group: str = "", practice: str = "",
              value: float = float("nan"), detail: str = "") -> None:
        """Log one event (join, leave, fracture, merger, vote, deficit, ...)."""
        self._rows["events"].append({"month": month, "kind": kind, "group": group,
                                     "practice": practice, "value": float(value),
                                     "detail": detail})

    def rows(self, table: str) -> list[dict[str, Any]]:
        """The rows recorded so far for one table (live list; do not modify)."""
        return self._rows[table]

    def tables(self) -> dict[str, pd.DataFrame]:
        """Every table as a DataFrame with a stable column order."""
        out = {}
        for name, rows in self._rows.items():
            df = pd.DataFrame(rows)
            if name == "events" and df.empty:
                df = pd.DataFrame(columns=["month", "kind", "group", "practice", "value", "detail"])
            out[name] = df
        return out
