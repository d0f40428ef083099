"""The model as the browser view drives it: keyword parameters, a safe seed, live series.

``VizModel`` is a thin subclass of :class:`ccgabm.model.CommissioningModel` whose constructor
takes only keyword arguments (what Mesa's SolaraViz passes when Reset rebuilds the model) and
which keeps, after every month, the series the page draws.
"""

from __future__ import annotations

import os
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ccgabm.config import Config, load_config
from ccgabm.events import ORGANISATIONAL
from ccgabm.model import CommissioningModel
from ccgabm.recorder import EVENT_COLUMNS

CONFIG_ENV = "CCGABM_VIZ_CONFIG"

# Event kinds shown in the page's log (organisational change, not routine accounting).
LOG_KINDS = frozenset(str(kind) for kind in ORGANISATIONAL)

_SEED_LIMIT = 2**63


def default_config_path() -> Path | None:
    """The scenario the page opens with: $CCGABM_VIZ_CONFIG, else ./configs/baseline.toml,
    else None (every parameter at its default: the baseline region)."""
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    path = Path.cwd() / "configs" / "baseline.toml"
    return path if path.is_file() else None


def default_config() -> Config:
    """The config the page opens with (see :func:`default_config_path`)."""
    path = default_config_path()
    return load_config(path) if path is not None else Config()


def coerce_seed(value: object) -> int | None:
    """A root seed from what the page's seed box hands over.

    Mesa 3.5.1's ``InputText`` parameter passes the typed text as a ``str`` (mesa#3516), which
    ``numpy`` rejects. Blank text (or None) means "the config's seed"; a non-negative integer
    (``"42"``, ``" 42 "``, ``"42.0"``, ``42.0``) is used as it is; any other text is hashed to
    a stable seed, so every entry gives a reproducible run and never an error.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError("a seed cannot be a bool")
    if isinstance(value, (int, np.integer)):
        number = int(value)
    elif isinstance(value, (float, np.floating)):
        number = int(value) if float(value).is_integer() else None
    else:
        text = str(value).strip()
        if text == "" or text.lower() == "none":
            return None
        try:
            number = int(text)
        except ValueError:
            try:
                as_float = float(text)
            except ValueError:
                as_float = float("nan")
            number = int(as_float) if as_float.is_integer() else None
        if number is None:
            return zlib.crc32(text.encode())
    if number is None or not 0 <= number < _SEED_LIMIT:
        return zlib.crc32(str(value).encode())
    return number


@dataclass
class Series:
    """Per-month series for the charts (x = months completed)."""

    months: list[int] = field(default_factory=list)
    emergency_rate: list[float] = field(default_factory=list)  # per 1,000 patients a year
    referral_rate: list[float] = field(default_factory=list)
    inequality_gap: list[float] = field(default_factory=list)  # allocation per need: max/min - 1
    n_groups: list[int] = field(default_factory=list)
    within_trust: list[float] = field(default_factory=list)  # mean trust between group members
    # Groups come and go: one (months, values) pair per group code.
    balance: dict[str, tuple[list[int], list[float]]] = field(default_factory=dict)
    allocation: dict[str, tuple[list[int], list[float]]] = field(default_factory=dict)

    def add_group_point(self, table: dict[str, tuple[list[int], list[float]]], code: str,
                        month: int, value: float) -> None:
        xs, ys = table.setdefault(code, ([], []))
        xs.append(month)
        ys.append(value)


class VizModel(CommissioningModel):
    """CommissioningModel built from keyword parameters, collecting series for the page.

    Args:
        budget_pressure: ``finance.budget_pressure`` (None: the config's value).
        deprivation_gap: ``region.deprivation_gap`` (ignored by worlds that are not a region).
        initial_trust: ``behaviour.initial_trust``.
        seed: root seed; an int or the text typed into the page (see :func:`coerce_seed`).
        config: a TOML path or a :class:`Config` (default: :func:`default_config_path`).
    """

    def __init__(
        self,
        budget_pressure: float | None = None,
        deprivation_gap: float | None = None,
        initial_trust: float | None = None,
        seed: int | str | None = None,
        config: str | Path | Config | None = None,
    ) -> None:
        if not isinstance(config, Config):
            config = load_config(config) if config else default_config()
        base = config
        overrides = {}
        if budget_pressure is not None:
            overrides["finance.budget_pressure"] = float(budget_pressure)
        if deprivation_gap is not None and base.world.kind == "region":
            overrides["region.deprivation_gap"] = float(deprivation_gap)
        if initial_trust is not None:
            overrides["behaviour.initial_trust"] = float(initial_trust)
        cfg = base.with_overrides(overrides) if overrides else base
        # Play steps the model in a worker thread while the page renders in another: steps and
        # reads of model state for drawing take this lock, so a picture never sees half a month.
        self.lock = threading.RLock()
        super().__init__(cfg, seed=coerce_seed(seed))
        self.series = Series()
        self._log: list[dict] = []  # LOG_KINDS events, oldest first
        self._events_seen = 0
        self._sync_log()

    def step(self) -> None:
        with self.lock:
            super().step()
            self._collect()

    # ---- what the page reads -------------------------------------------------------------
    def log_events(self, n: int = 30) -> list[dict]:
        """The last ``n`` organisational events (joins, leaves, fractures, ...), newest first."""
        self._sync_log()
        return self._log[-n:][::-1]

    def event_counts(self) -> dict[str, int]:
        """How many of each organisational event so far."""
        self._sync_log()
        counts = dict.fromkeys(sorted(LOG_KINDS), 0)
        for event in self._log:
            counts[event["kind"]] += 1
        return counts

    def inequality_gap(self) -> float:
        """Allocation per unit of need, best-funded over worst-funded active group, minus 1."""
        per_need = self.board.allocation_per_need
        values = [per_need[g.code] for g in self.active_groups if g.code in per_need]
        if len(values) < 2 or min(values) <= 0:
            return 0.0
        return max(values) / min(values) - 1.0

    def within_group_trust(self) -> float:
        """Mean trust between practices of the same (active) group."""
        total, count = 0.0, 0
        trust = self.behaviours["trust"].network.trust
        for group in self.active_groups:
            idx = np.array([p.index for p in group.members if p.open], dtype=np.int64)
            if len(idx) < 2:
                continue
            block = trust[np.ix_(idx, idx)]
            total += float(block.sum()) - len(idx)  # drop the diagonal (1.0 each)
            count += len(idx) * (len(idx) - 1)
        return total / count if count else float("nan")

    # ---- internals -----------------------------------------------------------------------
    def _sync_log(self) -> None:
        record = self.datacollector
        n = record.n_rows("events")
        columns = {name: record.column("events", name) for name in EVENT_COLUMNS}
        for i in range(self._events_seen, n):
            if columns["kind"][i] in LOG_KINDS:
                self._log.append({name: columns[name][i] for name in EVENT_COLUMNS})
        self._events_seen = n

    def _collect(self) -> None:
        s = self.series
        month = self.month  # months completed
        last = {name: self.datacollector.column("monthly", name)[-1]
                for name in ("person_months", "emergency", "referrals")}
        person_months = max(last["person_months"], 1)
        s.months.append(month)
        s.emergency_rate.append(12000.0 * last["emergency"] / person_months)
        s.referral_rate.append(12000.0 * last["referrals"] / person_months)
        s.inequality_gap.append(self.inequality_gap())
        s.n_groups.append(len(self.active_groups))
        s.within_trust.append(self.within_group_trust())
        allocations = self.board.allocations
        for group in self.groups.values():
            if not group.active and group.ended_month is not None and group.ended_month < month:
                continue
            s.add_group_point(s.balance, group.code, month, group.balance)
            if group.active and group.code in allocations:
                s.add_group_point(s.allocation, group.code, month, allocations[group.code])
        self._sync_log()
