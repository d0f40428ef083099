"""What a behaviour module declares, and the hooks through which it acts on the model.

A behaviour is a subclass of :class:`Behaviour` in its own module under ``ccgabm/behaviours/``,
registered by one line in ``ccgabm/behaviours/__init__.py``. It declares:

- ``params``: for each config section it adds to, a frozen dataclass of
  ``param(default, lo, hi, unit, source)`` fields, merged into that section (so
  ``[policy] peer_review = true`` in a scenario); a new section name makes a new section;
- ``group_state``: attributes (with starting values) every commissioning group carries for it;
- ``events``: the :class:`~ccgabm.events.Event` kinds it records;
- ``phases``: when in the month it runs (:class:`~ccgabm.schedule.Phase` entries);
- ``spend_kinds`` / ``income_kinds``: ledger lines it adds to every group's accounts;
- ``monthly_income_kinds``: those of its ``income_kinds`` paid a month at a time through
  ``monthly_income`` (the mid-year forecast annualises them; other income lines are lump
  sums, counted as received);
- ``requires``: behaviours it reads the state of (checked at registration).

It acts only through the hooks below (each optional) and through the phases it declares. The
instance is created once per model (``model.behaviours[name]``) and owns any other state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ccgabm.events import Event

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from ccgabm.agents.group import CommissioningGroup
    from ccgabm.config import Config
    from ccgabm.model import CommissioningModel
    from ccgabm.schedule import Phase


@dataclass
class Levers:
    """A group's multipliers on its member practices' patients (1.0: no effect).

    ``referral`` multiplies each member's probability of referring a referable need,
    ``emergency`` the risk of emergency admission, ``conversion`` the probability that a first
    outpatient leads to an elective admission. ``investment`` is the group's share of its
    programme budget invested in community services this year (summed over behaviours first).
    """

    referral: float = 1.0
    emergency: float = 1.0
    conversion: float = 1.0
    investment: float = 0.0


class Behaviour:
    """Base class of behaviour modules: declarations and no-op hooks."""

    name: ClassVar[str] = ""
    params: ClassVar[dict[str, type]] = {}
    group_state: ClassVar[dict[str, Any]] = {}
    events: ClassVar[tuple[Event, ...]] = ()
    phases: ClassVar[tuple[Phase, ...]] = ()
    spend_kinds: ClassVar[tuple[str, ...]] = ()
    income_kinds: ClassVar[tuple[str, ...]] = ()
    monthly_income_kinds: ClassVar[tuple[str, ...]] = ()
    requires: ClassVar[tuple[str, ...]] = ()
    figures: ClassVar[tuple[str, ...]] = ()  # names ``summary`` may return (targets of a calibration)

    def __init__(self, model: CommissioningModel) -> None:
        self.model = model

    @property
    def cfg(self) -> Config:
        """The configuration in force now (a dated policy timeline may replace it)."""
        return self.model.cfg

    # ---- set-up ----------------------------------------------------------------------------
    @classmethod
    def check_config(cls, cfg: Config) -> None:
        """Refuse (``ConfigError``) values of this behaviour's parameters that, each allowed
        alone, cannot give a run together with the rest of the config."""

    def setup(self) -> None:
        """After every organisation is built, before the first month."""

    def adjust_initial_distances(self, draws: dict[str, float]) -> None:
        """First year only: change groups' drawn distances from their capitation target."""

    def group_formed(self, group: CommissioningGroup, parent: CommissioningGroup) -> None:
        """A coalition of ``parent``'s members formed ``group``: set what it inherits."""

    # ---- group levers (each April, at the forecast, and after a decision) --------------------
    def investment(self, group: CommissioningGroup) -> float:
        """This behaviour's share of the group's programme budget invested in community care."""
        return 0.0

    def adjust_levers(self, group: CommissioningGroup, levers: Levers) -> None:
        """Multiply the group's levers (``levers.investment`` is already the total)."""

    # ---- money, every month ----------------------------------------------------------------
    def monthly_income(self, group: CommissioningGroup, allocation: float) -> None:
        """Money in for the group this month, paid after its activity bill (on the lines
        declared in ``monthly_income_kinds``)."""

    def monthly_costs(self, group: CommissioningGroup, allocation: float) -> None:
        """Money out for the group this month, paid after other services and running costs."""

    # ---- year end ----------------------------------------------------------------------------
    def group_year_columns(self, group: CommissioningGroup) -> dict[str, Any]:
        """Columns this behaviour adds to the group's row of the ``group_year`` table."""
        return {}

    def practice_year_columns(self, practices: np.ndarray) -> dict[str, list]:
        """Columns this behaviour adds to the ``practice_year`` table: one list each, with a
        value for every practice in ``practices`` (indices of the open practices, in order)."""
        return {}

    def year_closed(self, group: CommissioningGroup) -> None:
        """After the group's accounts for the year are closed and recorded."""

    # ---- results -----------------------------------------------------------------------------
    def summary(self, tables: dict[str, pd.DataFrame], fates: pd.DataFrame) -> dict[str, Any]:
        """Run-level figures this behaviour adds to the summary (their names in ``figures``)."""
        return {}
