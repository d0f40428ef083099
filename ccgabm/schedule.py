"""The order of play as data: phases, when each runs in the financial year, and who runs it.

One step of :class:`~ccgabm.model.CommissioningModel` is one month; month 0 is April of the
first financial year. The schedule lists every phase once, in the order they run within a
month; a phase runs every month or in one month of the year (April, the month of the
mid-year forecast, March). Core phases are functions of the model (``ccgabm.core``);
behaviour phases are methods of a behaviour (``ccgabm.behaviours``), which declares them.

``ccgabm schedule [CONFIG]`` prints it; docs/odd.md section 3 is generated from it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ccgabm.config import Config
    from ccgabm.model import CommissioningModel


class When(StrEnum):
    """Which months of the financial year a phase runs in."""

    MONTHLY = "every month"
    YEAR_START = "April"
    FORECAST = "forecast month"
    YEAR_END = "March"

    def due(self, month: int, forecast_month: int) -> bool:
        """Whether a phase with this timing runs in ``month`` (0 = April of year 0)."""
        m = month % 12
        if self is When.MONTHLY:
            return True
        if self is When.YEAR_START:
            return m == 0
        if self is When.FORECAST:
            return m == forecast_month
        return m == 11

    def label(self, cfg: Config) -> str:
        """The timing in words for one configuration."""
        if self is When.FORECAST:
            months = ("April", "May", "June", "July", "August", "September", "October",
                      "November", "December", "January", "February", "March")
            return f"{months[cfg.policy.forecast_month]} (forecast)"
        return str(self)


@dataclass(frozen=True)
class Phase:
    """One entry of the order of play.

    ``order`` places it within the month (lower first); ``run`` is the name of a function in
    ``ccgabm.core`` (core phases) or of a method of the declaring behaviour.
    """

    name: str
    when: When
    order: int
    run: str
    doc: str


@dataclass(frozen=True)
class ScheduledPhase:
    """A phase bound to a model: who declared it and what to call."""

    phase: Phase
    owner: str  # "core" or a behaviour's name
    call: Callable[[], None]
    where: str  # dotted path of the implementing function, for the documentation


def declared_phases(behaviours: tuple[type, ...]) -> list[tuple[Phase, str, str]]:
    """(phase, owner, dotted implementation) for the core and the given behaviour classes."""
    from ccgabm import core

    entries = [(p, "core", f"ccgabm.core.{p.run}") for p in core.PHASES]
    for cls in behaviours:
        entries += [(p, cls.name, f"{cls.__module__}.{cls.__name__}.{p.run}") for p in cls.phases]
    orders = [p.order for p, _, _ in entries]
    if len(set(orders)) != len(orders):
        clash = sorted({o for o in orders if orders.count(o) > 1})
        raise ValueError(f"two phases share an order value: {clash}")
    return sorted(entries, key=lambda e: e[0].order)


def bind(model: CommissioningModel) -> list[ScheduledPhase]:
    """The model's schedule: every declared phase with the callable that runs it."""
    from ccgabm import core

    out = []
    for phase, owner, where in declared_phases(tuple(type(b) for b in model.behaviours.values())):
        if owner == "core":
            fn = getattr(core, phase.run)
            call = (lambda f: lambda: f(model))(fn)
        else:
            call = getattr(model.behaviours[owner], phase.run)
        out.append(ScheduledPhase(phase, owner, call, where))
    return out


def schedule_text(cfg: Config) -> str:
    """The order of play for one configuration, as a plain-text table."""
    from ccgabm.behaviours import REGISTERED

    rows = [(p.when.label(cfg), p.name, owner, p.doc) for p, owner, _ in declared_phases(REGISTERED)]
    widths = [max(len(r[i]) for r in rows + [("when", "phase", "by", "")]) for i in range(3)]
    head = (f"Order of play within each month (one step; month 0 is April of year 0). "
            f"{len(rows)} phases.\n\n")
    lines = [f"{'when':<{widths[0]}}  {'phase':<{widths[1]}}  {'by':<{widths[2]}}  what"]
    lines += [f"{w:<{widths[0]}}  {n:<{widths[1]}}  {o:<{widths[2]}}  {d}" for w, n, o, d in rows]
    return head + "\n".join(lines) + "\n"


def schedule_markdown() -> str:
    """The order of play as a Markdown table (docs/odd.md section 3 is generated from it)."""
    from ccgabm.behaviours import REGISTERED

    lines = ["| # | when | phase | by | what | implemented by |", "|---|---|---|---|---|---|"]
    for i, (p, owner, where) in enumerate(declared_phases(REGISTERED), start=1):
        when = "`policy.forecast_month` (October)" if p.when is When.FORECAST else str(p.when)
        lines.append(f"| {i} | {when} | {p.name} | {owner} | {p.doc} | `{where}` |")
    return "\n".join(lines) + "\n"


BEGIN = "<!-- schedule:begin (generated by `ccgabm schedule --markdown`; do not edit) -->"
END = "<!-- schedule:end -->"


def with_schedule(odd_text: str) -> str:
    """``odd_text`` (docs/odd.md) with the generated schedule table between its markers."""
    head, rest = odd_text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n\n{schedule_markdown()}\n{END}{tail}"
