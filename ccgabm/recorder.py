"""The model's record: Mesa's DataCollector with the monthly series, annual panels and events.

:class:`Recorder` is a :class:`mesa.DataCollector`:

- model variables: the monthly series, one row a month
  (``model.datacollector.get_model_vars_dataframe()``, the ``monthly`` table);
- agent variables: every organisation's state at each year end, after the year-end rounds
  (``get_agent_vars_dataframe()``, indexed by Mesa's time and agent id). They are collected
  once a year rather than monthly because England has thousands of practices;
- tables: ``group_year``, ``practice_year``, ``quintile_year``, ``events`` and ``departures``
  (``get_table_dataframe(name)``); a table's columns are those of its first row (the core's
  and every behaviour's year-end columns).

``frames()`` returns all six as DataFrames: what is written to Parquet.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import mesa
import numpy as np
import pandas as pd

EVENT_COLUMNS = ("month", "kind", "group", "practice", "value", "detail")
TABLES = ("monthly", "group_year", "practice_year", "quintile_year", "events", "departures")
# Why members left a group (or tried to): one row per fracture, defection or return, carried
# out or refused by the Board. votes_lost: decommissioning votes the movers lost while
# members of the source; trust_in_source / trust_in_target: the movers' mean trust in the
# source's other members and in the target's members (for a fracture, in each other);
# balance_share, last_result_share: the source's balance and last in-year result as shares
# of its allocation; deficit_years: its consecutive failing years; cuts: decommissioning
# decisions in force there; board: the Board's decision and why.
DEPARTURE_COLUMNS = ("month", "kind", "source", "target", "practices", "population", "members",
                     "votes_lost", "trust_in_source", "trust_in_target", "gain",
                     "balance_share", "last_result_share", "deficit_years", "cuts", "board")


def _group_code(agent: mesa.Agent) -> str | None:
    group = getattr(agent, "group", None)
    return None if group is None else group.code


def _attribute(name: str):
    return lambda agent: getattr(agent, name, None)


# Every organisation, one row each at a year end; None where an attribute does not apply.
AGENT_REPORTERS = {
    "type": lambda a: type(a).__name__,
    "code": _attribute("code"),
    "group": _group_code,
    "list_size": _attribute("list_size"),
    "population": _attribute("population"),
    "balance": _attribute("balance"),
    "members": lambda a: len(a.members) if hasattr(a, "members") else None,
}


class Recorder(mesa.DataCollector):
    """Mesa's DataCollector, with agent variables collected at year ends only.

    Practices' rows of the agent variables are built from the practice arrays in one pass
    (the same values ``AGENT_REPORTERS`` would give, thousands of times faster for England);
    the other organisations' rows come from the reporters, in the order Mesa collects them.
    """

    def __init__(self, model_reporters: dict) -> None:
        super().__init__(model_reporters=model_reporters, agent_reporters=AGENT_REPORTERS,
                         tables={"events": list(EVENT_COLUMNS),
                                 "departures": list(DEPARTURE_COLUMNS)})
        # tables given column by column (``add_columns``): each column's blocks as given
        self.column_blocks: dict[str, dict[str, list]] = {}

    def collect(self, model: mesa.Model) -> None:
        """The month's model variables; agent variables too when a financial year has ended.

        Every model reporter gives an int or a float (kept as they are, as Mesa keeps them):
        once Mesa has checked the reporters, a month within the year appends their values
        directly.
        """
        # Mesa's own bookkeeping (private; a release without it takes Mesa's path every month)
        steps = getattr(self, "_collection_steps", None)
        if getattr(self, "_validated", False) and steps is not None and model.month % 12 != 11:
            steps.append(model.time)
            model_vars = self.model_vars
            for var, reporter in self.model_reporters.items():
                model_vars[var].append(reporter(model))
            return
        agent_reporters = self.agent_reporters
        if model.month % 12 != 11:
            self.agent_reporters = {}
        try:
            super().collect(model)
        finally:
            self.agent_reporters = agent_reporters

    def _record_agents(self, model: mesa.Model):
        from ccgabm.agents.practice import Practice

        # every organisation but the practices, in the order of ``model.agents`` (creation)
        others = sorted((a for kind, agents in model.agents_by_type.items() if kind is not Practice
                         for a in agents), key=lambda a: a.unique_id)
        # the reporters give strings, numbers or None: kept as they are, as Mesa keeps them
        reporters = tuple(self.agent_reporters.values())
        time = model.time
        rows = [(time, a.unique_id, *[report(a) for report in reporters]) for a in others]
        practices = list(model.agents_by_type.get(Practice, ()))
        sizes = model.practice_arrays.list_size[[p.index for p in practices]].tolist()
        # population, balance, members: not a practice's
        rows += [(time, p.unique_id, "Practice", p.code, p.group.code, size, None, None, None)
                 for p, size in zip(practices, sizes, strict=True)]
        return rows

    def add_row(self, table: str, row: dict[str, Any]) -> None:
        """Append a row to a table, declaring the table from its first row."""
        if table not in self.tables:
            self.tables[table] = {column: [] for column in row}
        self.add_table_row(table, row)

    def add_columns(self, table: str, columns: dict[str, Sequence]) -> None:
        """Append rows given column by column (every column, each the same length): lists or
        one-dimensional arrays, kept as given until the table is read (``get_table_dataframe``;
        an array column is read as its dtype, as the list of its values would be)."""
        target = self.column_blocks.setdefault(table, {column: [] for column in columns})
        if set(columns) != set(target) or len({len(v) for v in columns.values()}) > 1:
            raise ValueError(f"rows for {table!r} must give every column, each the same length")
        for column, values in columns.items():
            target[column].append(values)

    def get_table_dataframe(self, table_name: str) -> pd.DataFrame:
        """A table as a DataFrame (Mesa's, or one given column by column)."""
        if table_name not in self.column_blocks:
            return super().get_table_dataframe(table_name)
        return pd.DataFrame({column: _joined(blocks)
                             for column, blocks in self.column_blocks[table_name].items()})

    def event(self, month: int, kind: str, group: str = "", practice: str = "",
              value: float = float("nan"), detail: str = "") -> None:
        """Log one event (join, leave, fracture, merger, vote, deficit, ...)."""
        row = (month, str(kind), group, practice, float(value), detail)  # EVENT_COLUMNS' order
        for column, entry in zip(self.tables["events"].values(), row, strict=True):
            column.append(entry)

    def column(self, table: str, name: str) -> list:
        """The values recorded so far in one column (a live list, do not modify; a table given
        column by column: a new list)."""
        if table == "monthly":
            return self.model_vars[name]
        if table in self.column_blocks:
            values = _joined(self.column_blocks[table][name])
            return values if isinstance(values, list) else values.tolist()
        return self.tables[table][name]

    def n_rows(self, table: str) -> int:
        if table == "monthly":
            return len(self.model_vars["month"])
        if table in self.column_blocks:
            return sum(len(b) for b in next(iter(self.column_blocks[table].values())))
        return len(next(iter(self.tables[table].values())))

    def frames(self) -> dict[str, pd.DataFrame]:
        """Every table as a DataFrame (what is written to Parquet)."""
        out = {"monthly": self.get_model_vars_dataframe()}
        for name in TABLES[1:]:
            known = name in self.tables or name in self.column_blocks
            out[name] = self.get_table_dataframe(name) if known else pd.DataFrame()
        return out


def _joined(blocks: list[Sequence]) -> list | np.ndarray:
    """One column from its blocks: a list when every block is one, else an array."""
    if all(isinstance(b, list) for b in blocks):
        return list(itertools.chain.from_iterable(blocks))
    return np.concatenate([np.asarray(b) for b in blocks])
