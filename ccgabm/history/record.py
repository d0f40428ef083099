"""The published record of English clinical commissioning groups, 2013/14 to 2021/22, as data.

Every figure carries its financial year (``fy``: the calendar year in which the year starts on
1 April, so 2013 is 2013/14), value, unit, definition and source. Stocks observed on a date
(registered patients, practices, the referral-to-treatment waiting list) are ``Dated`` figures
(year and month of the count) and are placed in the financial year that holds the date.

``record_series()`` derives the per-year series the history experiment compares with the model:

- counts of groups at 1 April, and groups absorbed by mergers in each year (the year before the
  merger took effect on 1 April);
- groups in deficit (count and share of the year's groups; definitions differ by source);
- the quality premium paid as a share of the pot, and groups paid nothing;
- programme allocation per registered patient, emergency admissions (index and per 1,000
  registered), the waiting list per 1,000 registered and practice closures as % of practices.

Derived figures say how they were derived: registered patients are interpolated linearly
between the published counts (at 1 October, the middle of the financial year, unless stated).

``FITTED`` names the record series a calibration may fit; every other series is out of sample.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ALLOCATIONS",
    "DEFICITS",
    "EMERGENCY",
    "FITTED",
    "GROUP_COUNTS",
    "MERGERS",
    "PRACTICES",
    "QUALITY_PREMIUM",
    "REGISTERED",
    "RTT_WAITING",
    "Dated",
    "Figure",
    "Merger",
    "RecordPoint",
    "absorbed_by_year",
    "fy_label",
    "fy_of",
    "record_series",
    "registered_at",
]


def fy_label(fy: int) -> str:
    """``2013`` -> ``"2013/14"``."""
    return f"{fy}/{(fy + 1) % 100:02d}"


def fy_of(year: int, month: int) -> int:
    """The financial year (April to March) holding a calendar month."""
    return year if month >= 4 else year - 1


@dataclass(frozen=True)
class Figure:
    """A published figure for one financial year."""

    fy: int
    value: float
    unit: str
    definition: str
    source: str


@dataclass(frozen=True)
class Dated:
    """A published stock counted in one calendar month."""

    year: int
    month: int
    value: float
    unit: str
    definition: str
    source: str

    @property
    def when(self) -> float:
        """Decimal year of the start of the month (April 2013 -> 2013.25)."""
        return self.year + (self.month - 1) / 12.0

    @property
    def fy(self) -> int:
        return fy_of(self.year, self.month)


@dataclass(frozen=True)
class Merger:
    """Groups merged on 1 April of ``effective_fy``: ``before`` groups became ``after``."""

    effective_fy: int
    before: int
    after: int
    description: str
    source: str

    @property
    def absorbed(self) -> int:
        return self.before - self.after


_NHSE_COUNT = "NHS England CCG lists; HSJ; LGC 7021958; HSJ 7026848; Analytic Health 2021"
_COUNT_DEF = "clinical commissioning groups in England at 1 April"
GROUP_COUNTS: tuple[Figure, ...] = tuple(
    Figure(fy, n, "groups", _COUNT_DEF, _NHSE_COUNT)
    for fy, n in ((2013, 211), (2014, 211), (2015, 209), (2016, 209), (2017, 207), (2018, 195),
                  (2019, 191), (2020, 135), (2021, 106))
)

MERGERS: tuple[Merger, ...] = (
    Merger(2015, 3, 1, "Newcastle North and East, Newcastle West and Gateshead into Newcastle "
           "Gateshead", "LGC 7021958"),
    Merger(2017, 3, 1, "Central, North and South Manchester into Manchester", "HSJ"),
    Merger(2018, 18, 6, "18 groups into 6", "HSJ 7026848"),
    Merger(2019, 6, 2, "Derbyshire 4 into 1, Devon 2 into 1", "HSJ"),
    Merger(2020, 74, 18, "74 groups into 18", "NHS England; Analytic Health 2021"),
    Merger(2021, 38, 9, "38 groups into 9", "NHS England; Analytic Health 2021"),
)
# Fractures (a coalition of members leaving to form a new group) and defections of whole
# coalitions to another group: none recorded in the period.
NO_FRACTURES_SOURCE = "NHS England CCG lists 2013-2022: no group split or lost a coalition of members"

_DEF_CUM = "groups with a cumulative deficit"
_DEF_PLAN = "groups that overspent against plan in the year"
_DEF_YEAR = "groups reporting a deficit for the year"
# (fy, groups in deficit, of how many, basis: "in_year" or "cumulative", total GBP m or None,
#  definition, source)
DEFICITS: tuple[tuple[int, int, int, str, float | None, str, str], ...] = (
    (2013, 19, 211, "in_year", None, _DEF_YEAR,
     "NAO, Financial sustainability of NHS bodies (2014)"),
    (2014, 19, 211, "in_year", None, _DEF_YEAR, "Pulse"),
    (2015, 32, 209, "cumulative", None, _DEF_CUM,
     "NAO (HC 785, 2016)"),
    (2016, 57, 209, "in_year", None, _DEF_PLAN, "NAO (2018)"),
    (2017, 75, 207, "in_year", 213.0, _DEF_PLAN + " (total GBP 213m)",
     "NAO (HC 1783, 2018)"),
    (2018, 33, 195, "in_year", 219.0, _DEF_PLAN + " (total GBP 219m)", "HFMA 2019"),
)

# (fy, paid GBP m, pot GBP m, groups paid nothing or None, source)
QUALITY_PREMIUM: tuple[tuple[int, float, float, int | None, str], ...] = (
    (2013, 86.3, 269.0, 28, "GPonline 1327150"),
    (2014, 73.0, 272.0, 22, "GPonline 1378122"),
    (2015, 56.0, 274.0, None, "GPonline 1421267"),
)

_ALLOC_SRC = ("NHS England CCG allocations; CIPFA summary; House of Commons Library "
              "CBP-8399")
ALLOCATIONS: tuple[Figure, ...] = (
    Figure(2013, 63.4, "GBP bn", "CCG programme allocations", _ALLOC_SRC),
    Figure(2015, 69.484, "GBP bn", "CCG programme allocations", _ALLOC_SRC),
    Figure(2016, 71.853, "GBP bn", "CCG programme allocations", _ALLOC_SRC),
    Figure(2017, 73.358, "GBP bn", "CCG programme allocations", _ALLOC_SRC),
    Figure(2018, 74.849, "GBP bn", "CCG programme allocations", _ALLOC_SRC),
    Figure(2019, 78.4, "GBP bn", "CCG programme allocations as re-set in January 2019 (planned "
           "in 2016: GBP 76.469bn); the re-set funded tariff changes, the end of the marginal "
           "rate emergency tariff among them", _ALLOC_SRC),
    Figure(2020, 79.374, "GBP bn", "CCG programme allocations as planned in January 2016, before "
           "the 2019 re-set (a lower basis than 2019/20's)", _ALLOC_SRC),
)

_NHSD = "NHS Digital, Patients registered at a GP practice (via GPonline)"
REGISTERED: tuple[Dated, ...] = tuple(
    Dated(y, m, v, "million", "patients registered with GP practices in England", _NHSD)
    for y, m, v in ((2013, 4, 56.0), (2014, 10, 56.79), (2018, 12, 59.6), (2019, 9, 60.0),
                    (2021, 1, 60.6), (2022, 6, 61.7))
)

PRACTICES: tuple[Dated, ...] = tuple(
    Dated(y, m, v, "practices", "GP practices in England", _NHSD)
    for y, m, v in ((2013, 4, 8106), (2014, 10, 7875), (2018, 12, 7017), (2019, 9, 6876),
                    (2020, 7, 6743), (2021, 1, 6658), (2022, 6, 6495))
)

_RTT = "NHS England, Referral to treatment waiting times statistics (via secondary pages)"
RTT_WAITING: tuple[Dated, ...] = tuple(
    Dated(y, m, v, "million", "patients on the referral-to-treatment waiting list", _RTT)
    for y, m, v in ((2018, 3, 3.84), (2018, 10, 4.18), (2019, 7, 4.0), (2021, 7, 5.61),
                    (2021, 10, 5.98))
)

# Emergency admissions (England, millions a year); 2013/14 derived from the NAO's +9.3% rise
# over 2013/14 to 2016/17 and the 5.8m of 2016/17.
EMERGENCY_RISE_2013_2016 = 0.093
EMERGENCY: tuple[Figure, ...] = (
    Figure(2012, 5.3, "million", "emergency admissions to hospital",
           "NAO (HC 739, 2013)"),
    Figure(2016, 5.8, "million", "emergency admissions to hospital",
           "Health Foundation 2018; NAO 2018 (+9.3% since 2013/14)"),
    Figure(2017, 6.02, "million", "emergency admissions to hospital", "Health Foundation 2018"),
)

# Record series a calibration may fit (the group count and emergency admission paths), and
# series the scenario takes as inputs (allocations per head, dated in its timeline); every other
# series is out of sample.
FITTED = frozenset({"groups", "emergency_index", "emergency_per_1000"})
INPUTS = frozenset({"allocation_per_head"})


@dataclass(frozen=True)
class RecordPoint:
    """One value of a derived record series."""

    fy: int
    value: float
    unit: str
    definition: str
    source: str
    derived: str = ""  # how it was derived from the published figures (blank: as published)
    basis: str = ""  # for deficits: "in_year" or "cumulative"


def registered_at(when: float) -> float:
    """Registered patients (millions) at a decimal year, linear between published counts.

    Outside the published dates the nearest two counts are extended linearly."""
    pts = sorted(REGISTERED, key=lambda d: d.when)
    for a, b in zip(pts, pts[1:], strict=False):
        if when <= b.when or b is pts[-1]:
            return a.value + (b.value - a.value) * (when - a.when) / (b.when - a.when)
    raise AssertionError("unreachable")


def _mid(fy: int) -> float:
    """1 October of a financial year, as a decimal year."""
    return fy + 0.75


def absorbed_by_year() -> dict[int, int]:
    """Groups absorbed by mergers, by the financial year before the merger took effect."""
    out = {f.fy: 0 for f in GROUP_COUNTS[:-1]}
    for m in MERGERS:
        out[m.effective_fy - 1] = out.get(m.effective_fy - 1, 0) + m.absorbed
    return out


def _counts() -> dict[int, int]:
    return {f.fy: int(f.value) for f in GROUP_COUNTS}


def record_series() -> dict[str, list[RecordPoint]]:
    """Every record series the history experiment compares, keyed by series name."""
    counts = _counts()
    s: dict[str, list[RecordPoint]] = {}
    s["groups"] = [RecordPoint(f.fy, f.value, f.unit, f.definition, f.source) for f in GROUP_COUNTS]
    s["mergers"] = [
        RecordPoint(fy, float(n), "groups", "groups absorbed by mergers taking effect on the next "
                    "1 April", "; ".join(m.source for m in MERGERS if m.effective_fy == fy + 1)
                    or _NHSE_COUNT, "count at 1 April minus count a year later")
        for fy, n in sorted(absorbed_by_year().items())
    ]
    for name, what in (("fractures", "fractures"), ("defections", "defections of whole coalitions")):
        s[name] = [RecordPoint(f.fy, 0.0, "events", f"{what}: none recorded", NO_FRACTURES_SOURCE)
                   for f in GROUP_COUNTS]
    s["deficit_count"] = [RecordPoint(fy, float(n), "groups", d, src, basis=basis)
                          for fy, n, _of, basis, _t, d, src in DEFICITS]
    s["deficit_share"] = [RecordPoint(fy, n / of, "share", d, src, f"{n} of {of} groups", basis)
                          for fy, n, of, basis, _t, d, src in DEFICITS]
    alloc = {f.fy: f.value for f in ALLOCATIONS}
    s["mean_deficit_pct"] = [
        RecordPoint(fy, 100.0 * (total / n) / (1000.0 * alloc[fy] / of), "% of allocation",
                    "mean overspend of the groups overspending, % of the mean group's allocation",
                    src, f"GBP {total:g}m / {n} groups over GBP {alloc[fy]:g}bn / {of} groups", basis)
        for fy, n, of, basis, total, _d, src in DEFICITS if total is not None
    ]
    s["qp_paid_share"] = [RecordPoint(fy, paid / pot, "share", "quality premium paid / the pot",
                                      src, f"GBP {paid:g}m of GBP {pot:g}m")
                          for fy, paid, pot, _n, src in QUALITY_PREMIUM]
    s["qp_paid_nothing"] = [RecordPoint(fy, float(n), "groups", "groups paid no quality premium",
                                        src) for fy, _p, _pot, n, src in QUALITY_PREMIUM
                            if n is not None]
    s["qp_paid_nothing_share"] = [
        RecordPoint(fy, n / counts[fy], "share", "share of groups paid no quality premium", src,
                    f"{n} of {counts[fy]} groups")
        for fy, _p, _pot, n, src in QUALITY_PREMIUM if n is not None]
    s["allocation_per_head"] = [
        RecordPoint(f.fy, 1000.0 * f.value / registered_at(_mid(f.fy)), "GBP",
                    f"{f.definition} per registered patient", f"{f.source}; {_NHSD}",
                    f"GBP {f.value:g}bn / {registered_at(_mid(f.fy)):.2f}m registered "
                    "(interpolated at 1 October)")
        for f in ALLOCATIONS
    ]
    base = EMERGENCY[1].value / (1.0 + EMERGENCY_RISE_2013_2016)  # 2013/14, millions
    em = {2013: (base, "5.8m / 1.093 (NAO: +9.3% over 2013/14-2016/17)"),
          **{f.fy: (f.value, "") for f in EMERGENCY if f.fy >= 2016}}
    src_em = "NAO HC 739 (2013); NAO 2018; Health Foundation 2018"
    s["emergency_index"] = [RecordPoint(fy, v / base, "index (2013/14 = 1)",
                                        "emergency admissions relative to 2013/14", src_em,
                                        f"{v:.3f}m / {base:.3f}m") for fy, (v, _d) in em.items()]
    s["emergency_per_1000"] = [
        RecordPoint(fy, 1000.0 * v / registered_at(_mid(fy)), "per 1,000",
                    "emergency admissions per 1,000 registered patients", f"{src_em}; {_NHSD}",
                    (f"{d}; " if d else "") + f"over {registered_at(_mid(fy)):.2f}m registered "
                    "(interpolated at 1 October)")
        for fy, (v, d) in em.items()]
    latest: dict[int, Dated] = {}
    for d in sorted(RTT_WAITING, key=lambda d: d.when):
        latest[d.fy] = d  # the latest count in each financial year
    s["waiting_per_1000"] = [
        RecordPoint(fy, 1000.0 * d.value / registered_at(d.when), "per 1,000",
                    "referral-to-treatment waiting list per 1,000 registered patients",
                    f"{d.source}; {_NHSD}",
                    f"{d.value:g}m in {d.year}-{d.month:02d} over {registered_at(d.when):.2f}m "
                    "registered (interpolated)")
        for fy, d in sorted(latest.items())]
    pts = sorted(PRACTICES, key=lambda d: d.when)
    closures = []
    for f in GROUP_COUNTS:
        for a, b in zip(pts, pts[1:], strict=False):
            if a.when <= _mid(f.fy) < b.when:
                years = b.when - a.when
                rate = 100.0 * (1.0 - (b.value / a.value) ** (1.0 / years))
                closures.append(RecordPoint(
                    f.fy, rate, "% of practices", "practices closed or merged in a year, % of "
                    "practices", _NHSD, f"annualised fall {a.value:g} ({a.year}-{a.month:02d}) to "
                    f"{b.value:g} ({b.year}-{b.month:02d}); practice mergers included"))
                break
    s["practice_closures_pct"] = closures
    return s
