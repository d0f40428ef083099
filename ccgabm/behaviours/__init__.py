"""Behaviour modules: one behaviour, one module, registered below.

Each module declares its parameters, the group state it owns, the events it records and the
phases it runs in (see ``ccgabm.behaviours.base.Behaviour``). The configuration is assembled
from the registered modules' parameters (``ccgabm.config``), and the order of play from their
phases (``ccgabm.schedule``).

The order of this list is the order in which hooks run within a phase: it decides how group
levers combine (referral multipliers first, then emergency, then conversion) and the order of
ledger lines and year-end columns.
"""

from __future__ import annotations

import importlib

from ccgabm.behaviours.base import Behaviour, Levers


def load(*modules: str) -> tuple[type[Behaviour], ...]:
    """The behaviour class defined in each module of this package, in the order given."""
    classes = []
    for name in modules:
        module = importlib.import_module(f"{__name__}.{name}")
        found = [obj for obj in vars(module).values()
                 if isinstance(obj, type) and issubclass(obj, Behaviour) and obj is not Behaviour
                 and obj.__module__ == module.__name__]
        if len(found) != 1:
            raise ValueError(f"{module.__name__} must define exactly one Behaviour subclass, "
                             f"found {[c.__name__ for c in found]}")
        classes.append(found[0])
    return tuple(classes)


# One line per behaviour: the module's name.
REGISTERED: tuple[type[Behaviour], ...] = load(
    "budget_holding",
    "referral_management",
    "community_investment",
    "decommissioning",
    "quality_premium",
    "co_commissioning",
    "trust",
    "practice_choices",
    "group_fate",
    "closures",
    "practice_turnover",
    "dilemma",
)


def check_registry(behaviours: tuple[type[Behaviour], ...]) -> None:
    """Names, group state and ledger lines are unique; every requirement is registered; monthly
    income lines are income lines."""
    names = [b.name for b in behaviours]
    if len(set(names)) != len(names) or "" in names:
        raise ValueError(f"behaviour names must be unique and non-empty: {names}")
    for b in behaviours:
        missing = [r for r in b.requires if r not in names]
        if missing:
            raise ValueError(f"behaviour {b.name!r} requires {missing}, which are not registered")
        stray = [k for k in b.monthly_income_kinds if k not in b.income_kinds]
        if stray:
            raise ValueError(f"behaviour {b.name!r} declares monthly income lines {stray} "
                             "that are not among its income_kinds")
    state = [name for b in behaviours for name in b.group_state]
    kinds = [kind for b in behaviours for kind in (*b.spend_kinds, *b.income_kinds)]
    for what, declared in (("group state", state), ("ledger line", kinds)):
        twice = sorted({n for n in declared if declared.count(n) > 1})
        if twice:
            raise ValueError(f"{what} declared by two behaviours: {twice}")


check_registry(REGISTERED)

__all__ = ["REGISTERED", "Behaviour", "Levers", "check_registry", "load"]
