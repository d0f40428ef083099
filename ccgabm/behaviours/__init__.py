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

from ccgabm.behaviours.base import Behaviour, Levers
from ccgabm.behaviours.budget_holding import BudgetHolding
from ccgabm.behaviours.closures import Closures
from ccgabm.behaviours.co_commissioning import CoCommissioning
from ccgabm.behaviours.community_investment import CommunityInvestment
from ccgabm.behaviours.decommissioning import Decommissioning
from ccgabm.behaviours.dilemma import Dilemma
from ccgabm.behaviours.group_fate import GroupFate
from ccgabm.behaviours.practice_choices import PracticeChoices
from ccgabm.behaviours.quality_premium import QualityPremium
from ccgabm.behaviours.referral_management import ReferralManagement
from ccgabm.behaviours.trust import Trust

REGISTERED: tuple[type[Behaviour], ...] = (
    BudgetHolding,
    ReferralManagement,
    CommunityInvestment,
    Decommissioning,
    QualityPremium,
    CoCommissioning,
    Trust,
    PracticeChoices,
    GroupFate,
    Closures,
    Dilemma,
)


def check_registry(behaviours: tuple[type[Behaviour], ...]) -> None:
    """Names are unique and every behaviour's requirements are registered."""
    names = [b.name for b in behaviours]
    if len(set(names)) != len(names) or "" in names:
        raise ValueError(f"behaviour names must be unique and non-empty: {names}")
    for b in behaviours:
        missing = [r for r in b.requires if r not in names]
        if missing:
            raise ValueError(f"behaviour {b.name!r} requires {missing}, which are not registered")


check_registry(REGISTERED)

__all__ = ["REGISTERED", "Behaviour", "Levers", "check_registry"]
