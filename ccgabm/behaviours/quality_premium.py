"""The quality premium: the Board's reward to groups at the close of each financial year.

Two schemes, chosen by ``[finance] quality_premium_scheme`` (read each year):

``"overspend_gate"`` (the default)
    ``quality_premium`` GBP per head to every group that did not overspend in the year just
    closed, nothing otherwise.

``"published"``
    The scheme as the NHS Commissioning Board published it: NHS Commissioning Board, *Quality
    Premium: 2013/14 guidance for CCGs* (draft December 2012, final March 2013, Gateway 00002),
    as reported by GPonline ("Local CCG quality premium targets worth £11,250 for practices",
    December 2012) and Pulse ("Emergency admissions target worth 25% of quality premium",
    December 2012). Up to ``quality_premium`` (£5) per head, in shares earned measure by measure:

    - *avoidable emergency admissions*, weight ``quality_premium_emergency_weight`` (25%),
      earned on "a reduction or 0% change" year on year. Modelled: the group's emergency
      admissions per person-year this year against last year's, both over its current member
      practices (practice-level counts, so practices that joined or left do not distort the
      comparison; a member with no person-months in either year is left out of both). In the
      first year of a run there is no modelled previous year (nor when no member has patients
      in both years): the measure is then met with the probability of an unmodelled measure
      (one draw);
    - the rest of the weight (PYLL from amenable causes, friends-and-family test,
      healthcare-associated infections and three local measures in 2013/14: 12.5% each) split
      equally over ``quality_premium_other_measures`` measures, each met independently with
      probability ``quality_premium_other_measures_met``. The 2014/15 scheme (NHS England,
      *Quality Premium 2014/15 guidance*, 23 December 2013: PYLL, IAPT, friends-and-family test,
      medication safety reporting and one local measure at 15% each beside emergency
      admissions at 25%) is five other measures.

    Two gates: nothing to a group that overspent its resource limit (*Everyone Counts: Planning
    for Patients 2013/14*, NHS Commissioning Board, December 2012: it "will not receive any
    quality premium reward if it has overspent"), and the premium "reduced by 25% for each
    missed target" of four NHS Constitution standards (``quality_premium_standard_reduction``
    per standard missed, floored at nothing). The 18-week referral-to-treatment standard (92% of
    incomplete pathways within 18 weeks, ``quality_premium_rtt_standard``) is modelled from the
    waiting list of the group's hospital at the year's close (``rtt_share_within``); the 4-hour
    A&E, 62-day cancer and 8-minute Category A ambulance standards are not, and each is missed
    with probability ``quality_premium_standard_missed``.

The draws of the published scheme come from their own stream (``quality_premium.measures``),
as many per group-year as there are measures and unmodelled standards in force that year, and
only while that scheme is in force. The premium is paid
after the accounts close (booked in the new year's income); every group-year row records the
pot (``qp_potential``), the amount paid (``qp_paid``), the share of the measures' weight met
(``qp_measures_weight_met``) and the standards missed (``qp_standards_missed``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ccgabm.behaviours.base import Behaviour
from ccgabm.events import Event
from ccgabm.params import ASSUMED, param
from ccgabm.patients import Counter

SCHEMES = ("overspend_gate", "published")
STREAM = "quality_premium.measures"
UNMODELLED_STANDARDS = ("a_and_e_4_hours", "cancer_62_days", "ambulance_8_minutes")
# 18 weeks in months of the waiting list: 126 days / (365.25 / 12) days a month.
RTT_MONTHS = 18 * 7 / (365.25 / 12)

_GUIDANCE = ("NHS Commissioning Board, Quality Premium: 2013/14 guidance for CCGs (Gateway 00002, "
             "March 2013)")


@dataclass(frozen=True)
class QualityPremiumParams:
    quality_premium: float = param(
        5.0, lo=0.0, hi=50.0, unit="GBP per head",
        source="NHS England quality premium guidance; GPonline (withheld on overspend)",
        doc="the pot: the most a group can earn per registered patient",
        dated=True,
    )
    quality_premium_scheme: str = param(
        "overspend_gate", choices=SCHEMES,
        source=f"{_GUIDANCE}; Everyone Counts: Planning for Patients 2013/14 (NHS Commissioning "
        "Board, December 2012)",
        doc="overspend_gate: the whole pot unless the group overspent; published: the measures "
        "and NHS Constitution gates of the published scheme",
        dated=True,
    )
    quality_premium_emergency_weight: float = param(
        0.25, lo=0.0, hi=1.0, unit="share of the pot",
        source=f"{_GUIDANCE}; Pulse, Emergency admissions target worth 25% of quality premium "
        "(December 2012); NHS England, Quality Premium 2014/15 guidance (25%)",
        doc="published scheme: weight of the avoidable emergency admissions measure (met when "
        "admissions per head do not rise year on year)",
        dated=True,
    )
    quality_premium_other_measures: int = param(
        6, lo=1, hi=20, unit="measures",
        source=f"{_GUIDANCE} (PYLL, friends and family, infections, three local: 12.5% each); "
        "NHS England, Quality Premium 2014/15 guidance: 5 at 15% each",
        doc="published scheme: unmodelled measures sharing the rest of the weight equally",
        dated=True,
    )
    quality_premium_other_measures_met: float = param(
        0.5, lo=0.0, hi=1.0, unit="probability",
        source=ASSUMED + "; to be calibrated to the published outcomes (2013/14: 32% of the pot "
        "paid, GPonline)",
        doc="published scheme: probability that each unmodelled measure is met",
        dated=True,
    )
    quality_premium_rtt_standard: float = param(
        0.92, lo=0.0, hi=1.0, unit="share of the waiting list",
        source="NHS Constitution: 92% of incomplete referral-to-treatment pathways within 18 "
        f"weeks; {_GUIDANCE}",
        doc="published scheme: the 18-week standard, met when at least this share of the "
        "group's hospital waiting list has waited under 18 weeks",
        dated=True,
    )
    quality_premium_standard_missed: float = param(
        0.25, lo=0.0, hi=1.0, unit="probability",
        source=ASSUMED + " (A&E 4 hours, cancer 62 days, ambulance Category A 8 minutes are not "
        "modelled)",
        doc="published scheme: probability that each unmodelled Constitution standard is missed",
        dated=True,
    )
    quality_premium_standard_reduction: float = param(
        0.25, lo=0.0, hi=1.0, unit="share of the premium",
        source=f"{_GUIDANCE}: reduced by 25% for each missed NHS Constitution target",
        doc="published scheme: cut per missed standard (the premium floored at nothing)",
        dated=True,
    )


@dataclass(frozen=True)
class Assessment:
    """One group-year of the premium: the pot, what is paid and why."""

    potential: float
    paid: float
    measures_weight_met: float
    standards_missed: tuple[str, ...]
    overspent: bool
    scheme: str

    def columns(self) -> dict[str, Any]:
        return {"qp_potential": self.potential, "qp_paid": self.paid,
                "qp_measures_weight_met": self.measures_weight_met,
                "qp_standards_missed": len(self.standards_missed)}

    def detail(self) -> str:
        if self.scheme != "published":
            return ""
        missed = ",".join(self.standards_missed) or "none"
        return f"measures {self.measures_weight_met:.4f}; standards missed: {missed}"


def premium_amount(pot: float, population: float, weight_met: float, missed: int,
                   reduction: float, overspent: bool) -> float:
    """The premium paid: the pot per head times the population, the share of the measures'
    weight met, less ``reduction`` per standard missed (floored at nothing); nothing after an
    overspend."""
    if overspent:
        return 0.0
    return pot * population * weight_met * max(0.0, 1.0 - reduction * missed)


def rtt_share_within(waiting_hist: np.ndarray, months: float = RTT_MONTHS) -> float:
    """Share of a waiting list (people by months waited) waiting under ``months``.

    At a month's end a patient referred in that month counts 1 month waited, so entry ``w``
    holds waits between ``w - 1`` and ``w`` months; waits are taken as spread evenly within
    it (18 weeks: entries 1 to 4 whole and 0.14 of entry 5). An empty list is within.
    """
    hist = np.asarray(waiting_hist, dtype=np.float64)
    total = hist.sum()
    if total <= 0:
        return 1.0
    whole = int(np.floor(months))
    within = hist[: whole + 1].sum()
    if whole + 1 < len(hist):
        within += (months - whole) * hist[whole + 1]
    return float(within / total)


def emergency_rates(members: np.ndarray, this_year: np.ndarray,
                    last_year: np.ndarray) -> tuple[float, float]:
    """Emergency admissions per person-month this year and last, over the same ``members``
    (practice indices): rows of ``[emergency, person_months]`` counts. Members with no
    person-months in either year (or beyond last year's arrays) are left out of both."""
    members = members[members < len(last_year)]
    now, before = this_year[members], last_year[members]
    keep = (now[:, 1] > 0) & (before[:, 1] > 0)
    if not keep.any():
        return float("nan"), float("nan")
    now, before = now[keep].sum(axis=0), before[keep].sum(axis=0)
    return float(now[0] / now[1]), float(before[0] / before[1])


def emergency_rates_by_group(member_of: np.ndarray, n_groups: int, this_year: np.ndarray,
                             last_year: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``emergency_rates`` of groups 0 to ``n_groups - 1`` at once: ``member_of`` is each
    practice's group (``n_groups`` or more: none). The same sums (of integer counts, exact)
    and divisions; nan for a group with no member with person-months in both years."""
    k = min(len(member_of), len(last_year))
    member_of, now, before = member_of[:k], this_year[:k], last_year[:k]
    keep = (member_of < n_groups) & (now[:, 1] > 0) & (before[:, 1] > 0)
    rows = member_of[keep]
    kept = np.bincount(rows, minlength=n_groups) > 0

    def rate(counts: np.ndarray) -> np.ndarray:
        emergency, person_months = (np.bincount(rows, weights=counts[keep, c], minlength=n_groups)
                                    for c in (0, 1))
        return np.divide(emergency, person_months, out=np.full(n_groups, np.nan), where=kept)

    return rate(now), rate(before)


class QualityPremium(Behaviour):
    name = "quality_premium"
    params = {"finance": QualityPremiumParams}
    events = (Event.QUALITY_PREMIUM,)
    income_kinds = ("quality_premium",)
    figures = ("quality_premium_paid_share", "groups_paid_no_premium_share")

    def __init__(self, model) -> None:
        super().__init__(model)
        self._assessed: dict[str, tuple[int, Assessment]] = {}
        # year: (month copied, practice-level [emergency, person-months]) of the year just
        # closed and the one before
        self._counts: dict[int, tuple[int, np.ndarray]] = {}
        # (year, month, membership version): each group in play's emergency rates then
        self._rates: tuple[tuple[int, int, int], dict[str, tuple[float, float]]] | None = None

    # ---- year end ----------------------------------------------------------------------------
    def group_year_columns(self, group) -> dict[str, Any]:
        return self.assess(group).columns()

    def year_closed(self, group) -> None:
        year = self.model.month // 12
        held = self._assessed.pop(group.code, None)
        assessment = held[1] if held is not None and held[0] == year else self.assess(group)
        self._assessed.pop(group.code, None)
        if assessment.overspent:
            return
        amount = assessment.paid
        self.model.board.pay(group, amount, "quality_premium")
        if amount > 0:
            self.model.record(Event.QUALITY_PREMIUM, group=group.code, value=amount,
                              detail=assessment.detail())

    def assess(self, group) -> Assessment:
        """The group's premium for the year just closed (once a group-year: kept until paid)."""
        year = self.model.month // 12
        held = self._assessed.get(group.code)
        if held is not None and held[0] == year:
            return held[1]
        self._keep_counts(year)
        finance = self.model.cfg.finance
        overspent = group.last_in_year_result < 0
        potential = finance.quality_premium * group.population
        if finance.quality_premium_scheme == "published":
            weight, missed = self._measures(group, year)
            paid = premium_amount(finance.quality_premium, group.population, weight, len(missed),
                                  finance.quality_premium_standard_reduction, overspent)
        else:
            weight, missed = 1.0, ()
            paid = 0.0 if overspent else potential
        assessment = Assessment(potential, paid, weight, missed, overspent,
                                finance.quality_premium_scheme)
        self._assessed[group.code] = (year, assessment)
        return assessment

    def _keep_counts(self, year: int) -> None:
        """Practice-level emergency admissions and person-months of the year (copied once a
        month it is asked for: at the year's close, the year's totals) and of the year before."""
        held = self._counts.get(year)
        if held is not None and held[0] == self.model.month:
            return
        counts = self.model.practice_arrays.year_counts
        self._counts = {y: c for y, c in self._counts.items() if y == year - 1}
        self._counts[year] = (self.model.month,
                              counts[:, [Counter.EMERGENCY, Counter.PERSON_MONTHS]].copy())

    def _measures(self, group, year: int) -> tuple[float, tuple[str, ...]]:
        """Share of the measures' weight met, and the Constitution standards missed."""
        finance = self.model.cfg.finance
        n_other = finance.quality_premium_other_measures
        u = self.model.streams.get(STREAM).random(1 + len(UNMODELLED_STANDARDS) + n_other)
        met_p = finance.quality_premium_other_measures_met
        emergency_met = self.emergency_met(group, year)
        if emergency_met is None:  # no previous year in the run: judged like the others
            emergency_met = bool(u[0] < met_p)
        w_emergency = finance.quality_premium_emergency_weight
        other_met = int((u[1 + len(UNMODELLED_STANDARDS):] < met_p).sum())
        weight = w_emergency * emergency_met + (1.0 - w_emergency) * other_met / n_other
        missed = []
        rtt = rtt_share_within(group.hospital.waiting_hist)
        if rtt < finance.quality_premium_rtt_standard:
            missed.append("rtt_18_weeks")
        p_miss = finance.quality_premium_standard_missed
        missed += [name for name, v in zip(UNMODELLED_STANDARDS, u[1:4], strict=True) if v < p_miss]
        return float(weight), tuple(missed)

    def emergency_met(self, group, year: int) -> bool | None:
        """Whether the group's emergency admissions per head did not rise on last year (over
        its current members); None when there is no previous year to compare with."""
        self._keep_counts(year)
        if year - 1 not in self._counts:
            return None
        rates = self._group_rates(year)
        if group.code in rates:
            now, before = rates[group.code]
        else:
            members = np.array([p.index for p in group.members], dtype=np.int64)
            now, before = emergency_rates(members, self._counts[year][1],
                                          self._counts[year - 1][1])
        if now != now or before != before:  # no member with patients in both years
            return None
        return now <= before

    def _group_rates(self, year: int) -> dict[str, tuple[float, float]]:
        """Every group in play's emergency rates this year and last (``emergency_rates`` over
        its members), computed once while membership stands."""
        model = self.model
        key = (year, model.month, model.membership_version)
        if self._rates is None or self._rates[0] != key:
            groups, member_of = model.billing_rows()
            now, before = emergency_rates_by_group(member_of, len(groups), self._counts[year][1],
                                                   self._counts[year - 1][1])
            self._rates = (key, {g.code: (float(a), float(b)) for g, a, b in
                                 zip(groups, now.tolist(), before.tolist(), strict=True)})
        return self._rates[1]

    # ---- results -----------------------------------------------------------------------------
    def summary(self, tables, fates) -> dict[str, Any]:
        rows = tables["group_year"]
        nan = float("nan")
        if rows.empty or "qp_potential" not in rows.columns:
            return dict.fromkeys(self.figures, nan)
        potential = rows["qp_potential"].astype(float)
        paid = rows["qp_paid"].astype(float)
        eligible = potential > 0
        total = potential.sum()
        return {
            "quality_premium_paid_share": float(paid.sum() / total) if total > 0 else nan,
            "groups_paid_no_premium_share":
                float((paid[eligible] <= 0).mean()) if eligible.any() else nan,
        }
