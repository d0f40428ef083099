"""Practice turnover: a change of clinical team partly resets a practice's referral habits.

Each practice starts with a referral propensity p drawn once, log p ~ N(mu, sigma^2) with
sigma = ``[referral] practice_variation_sd`` and mu = -sigma^2 / 2 (so that E[p] = 1). Without
this behaviour a practice keeps it for the whole run. With it, each April from year 1 an open
practice's clinical team changes enough to reset its habits (a partner leaves or joins) with
probability q = ``[referral] partner_turnover``, and its log propensity becomes

    log p' = mu + phi * (log p - mu) + sqrt(1 - phi^2) * sigma * z,    z ~ N(0, 1),

with phi = ``[referral] referral_habit_persistence`` (0: the new team's habits owe nothing to
the old; 1: nothing changes).

Why the spread between practices stays what it was. Write u = log p - mu. If u ~ N(0, sigma^2)
and z is independent of it, u' = phi * u + sqrt(1 - phi^2) * sigma * z is normal with mean 0
and variance phi^2 sigma^2 + (1 - phi^2) sigma^2 = sigma^2: the same distribution. A practice
that does not turn over keeps its u, also N(0, sigma^2), and whether a practice turns over is
drawn independently of its propensity, so after the round the cross-section is again
log p ~ N(mu, sigma^2): sd sigma on the log scale and mean E[p] = exp(mu + sigma^2 / 2) = 1 on
the natural scale, whatever q and phi. Only which practices refer more changes, not how much
practices refer on average. Within one practice, log propensities k years apart have correlation
(1 - q (1 - phi))^k (an AR(1) process in the years it turns over). The round uses sigma of the
configuration in force, so a scenario that changes ``practice_variation_sd`` later moves the
spread towards the new value as practices turn over.

Every practice's two draws (whether it turns over, and z) are taken up front, in index order,
from the year's ``practice.turnover`` stream, whether or not the practice is open or turns
over: one practice's turnover never shifts the draws that decide another's. Nothing is drawn
while ``partner_turnover`` is 0 (the default), so existing scenarios give the same results.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ccgabm.behaviours.base import Behaviour
from ccgabm.events import Event
from ccgabm.params import ASSUMED, param
from ccgabm.schedule import Phase, When


@dataclass(frozen=True)
class PracticeTurnoverParams:
    partner_turnover: float = param(
        0.0, lo=0.0, hi=1.0, unit="probability a year", dated=True,
        source="scenario switch (0: propensities fixed for the run); ~0.1 for a history "
        "scenario: Parisi et al., BMJ Open 2021 (e049827), GP turnover in all English "
        "practices 2007-19: 27% of practices lost 10-40% of their GPs in 2019 (14% in 2009) "
        "and ~8% over 40%; 75th percentile of the share leaving 11% (2009) to 14% (2019). "
        "The share of these changes that resets referral habits: " + ASSUMED,
        doc="yearly probability that a practice's clinical team changes enough (a partner "
        "leaves or joins) to reset its referral habits",
    )
    referral_habit_persistence: float = param(
        0.5, lo=0.0, hi=1.0, unit="correlation of log propensity", dated=True,
        source=ASSUMED + ": half of a practice's deviation from the mean survives a change "
        "of partners (shared premises, staff, list and local pathways)",
        doc="correlation of a practice's log referral propensity before and after its team "
        "turns over (0: redrawn afresh; 1: unchanged)",
    )


def renew_propensity(propensity: np.ndarray, z: np.ndarray, persistence: float,
                     sd: float) -> np.ndarray:
    """New propensities of practices whose team turned over (see the module's docstring).

    ``propensity`` are their current propensities, ``z`` one standard normal draw each;
    ``sd`` is the spread between practices on the log scale. Log-normal propensities with log
    mean ``-sd**2 / 2`` and log sd ``sd`` (mean 1) are mapped to the same distribution.
    """
    mu = -sd * sd / 2.0
    deviation = np.log(propensity) - mu
    return np.exp(mu + persistence * deviation + math.sqrt(1.0 - persistence**2) * sd * z)


class PracticeTurnover(Behaviour):
    name = "practice_turnover"
    params = {"referral": PracticeTurnoverParams}
    events = (Event.PRACTICE_TURNOVER,)
    phases = (Phase("practice turnover", When.YEAR_START, 25, "turn_over",
                    "from year 1, practices whose partners change partly redraw their referral "
                    "propensity (spread between practices kept; [referral] partner_turnover; "
                    "off by default)"),)

    def turn_over(self) -> None:
        """Each April from year 1, practices whose team changed renew their referral habits."""
        model = self.model
        referral = model.cfg.referral
        year = model.month // 12
        if year == 0 or referral.partner_turnover <= 0.0:
            return
        arrays = model.practice_arrays
        rng = model.streams.fresh("practice.turnover", year)
        n = len(arrays)
        turns = rng.random(n) < referral.partner_turnover
        z = rng.standard_normal(n)
        idx = np.flatnonzero(turns & arrays.open)
        if not len(idx):
            return
        arrays.propensity[idx] = renew_propensity(
            arrays.propensity[idx], z[idx], referral.referral_habit_persistence,
            referral.practice_variation_sd,
        )
        model.levers_version += 1  # practices' levers follow their propensities
        for i in idx.tolist():
            practice = model.practices[i]
            model.record(Event.PRACTICE_TURNOVER, group=practice.group.code,
                         practice=practice.code, value=float(arrays.propensity[i]))
