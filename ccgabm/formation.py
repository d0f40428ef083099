"""Formation of the 2013 commissioning groups by the practices themselves (``[world] formation``).

In 2011 GP practices formed 257 pathfinder consortia (covering 97% of the population;
Department of Health); under Strategic Health Authority pressure they merged to 227 by spring
2012 and to 211 groups authorised for April 2013 (NHS Commissioning Board Authority, "Proposed
CCG configuration", 24 May 2012: smallest ~68,000 (Corby), largest ~901,000 (NEW Devon), most
between 150,000 and 300,000, average ~226,000). The authorisation rules (Department of Health,
"Towards authorisation", 2011; NHS Commissioning Board, CCG boundary guidance, 2012) asked for
contiguous member practices, full coverage (every practice in exactly one group), sign-up of
every member, a viable size, and boundaries that respect local authority areas where possible.

The practice table holds the groups of January 2021, not those of 2013, and no map. The
formation therefore rests on an approximation:

- **Footprints.** The 2013 groups lie inside the January 2021 groups (the table's
  ``ccg_code``, kept as the practice's ``footprint``): the CCGs of 2021 were mergers of those of
  2013, so a 2013 group never straddles two 2021 footprints.
- **Localities.** A postcode district (the outward code, ``NE65`` of ``NE65 7UW``) is a
  locality. Each pathfinder starts as the practices of one postcode district within one
  footprint (practices without a postcode form one pathfinder of their footprint).

Then, deterministically and within each footprint, the smallest group below the target
(``[world] formation_population``, or ``[behaviour] min_group_population`` where that is
higher) merges with the group of its footprint it has the strongest tie with, until every group
reaches the target or its footprint is one group. A group stays below
``[behaviour] min_group_population`` only when its footprint has no partner left; such groups
are recorded (``Formation.below_minimum``).

The tie between two groups (``tie``; assumed, no direct source: the table holds no history of
joint working) is ``4 x [they share a postcode area] + 2 / (1 + g) + 1 / (1 + d / 10)``: ``g``
the smallest difference of district numbers between a district of one and a district of the
other in the same postcode area (no shared area: that term is 0), ``d`` the difference of their
population-weighted mean IMD 2019 scores. Sharing an area (a post town's hinterland) outweighs
everything else; then near district numbers (districts of one area are numbered outward from its
centre, so near numbers are mostly near places); then similar deprivation. Ties of the tie go
to the smaller partner, then to the partner whose first district sorts first.

Populations are the table's list sizes times ``[world] list_size_factor`` before any sampling of
patients, so the groups do not depend on ``[world] scale``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "AREA_WEIGHT", "NUMBER_WEIGHT", "IMD_WEIGHT", "IMD_SPAN", "Formation", "district",
    "district_key", "tie", "form_groups", "formation_summary", "PUBLISHED_2013",
]

AREA_WEIGHT = 4.0  # assumed: sharing a postcode area outweighs the other two terms together
NUMBER_WEIGHT = 2.0  # assumed
IMD_WEIGHT = 1.0  # assumed
IMD_SPAN = 10.0  # assumed: IMD difference at which the deprivation term halves

PUBLISHED_2013 = {
    "count": 211, "min": 68_000, "mean": 226_000, "max": 901_000, "typical": (150_000, 300_000),
}
"""The 211 groups authorised for April 2013 (NHS Commissioning Board Authority, "Proposed CCG
configuration", 24 May 2012): smallest (Corby), average, largest (NEW Devon), and the range
"most" fell in."""

_DISTRICT = re.compile(r"([A-Z]+)(\d+)?(.*)")


def district(postcode: str) -> str:
    """The outward code of a postcode ('ne65 7uw' -> 'NE65'; '' when blank).

    A postcode without a space loses its last three characters (the inward code).
    """
    text = " ".join(str(postcode).upper().split())
    if not text:
        return ""
    if " " in text:
        return text.split(" ")[0]
    return text[:-3] if len(text) > 4 else text


def district_key(code: str) -> tuple[str, int, str]:
    """Sort key of an outward code: area letters, district number, the rest ('NE9' < 'NE10')."""
    match = _DISTRICT.fullmatch(code)
    if not match:
        return ("", -1, code)
    area, number, rest = match.groups()
    return (area, int(number) if number else -1, rest)


@dataclass
class _Group:
    key: tuple[str, int, str]  # sort key of its first district
    members: list[int]  # practice rows
    population: int
    imd_weighted: float  # sum of list size x IMD
    numbers: dict[str, set[int]]  # district numbers by postcode area

    @property
    def imd(self) -> float:
        return self.imd_weighted / self.population if self.population > 0 else 0.0


def tie(a: _Group, b: _Group) -> float:
    """Strength of the historic tie between two groups (assumed measure: module docstring)."""
    shared = [area for area in a.numbers if area and area in b.numbers]
    score = IMD_WEIGHT / (1.0 + abs(a.imd - b.imd) / IMD_SPAN)
    if shared:
        score += AREA_WEIGHT
        gaps = [abs(x - y) for area in shared for x in a.numbers[area] for y in b.numbers[area]
                if x >= 0 and y >= 0]
        if gaps:
            score += NUMBER_WEIGHT / (1.0 + min(gaps))
    return score


@dataclass
class Formation:
    """Groups formed from a practice table."""

    group: list[str]  # each practice's group code, in table order
    footprint: list[str]  # each practice's 2021 footprint, in table order
    populations: dict[str, int]  # each group's population (list sizes before sampling)
    below_minimum: list[str]  # groups left below min_group_population: no partner left
    pathfinders: int  # groups before any merger (postcode districts within footprints)
    merges: int

    def record(self, target: int, minimum: int) -> dict[str, Any]:
        """Plain data kept with the world (``World.formed``)."""
        return {
            "formation_population": int(target), "min_group_population": int(minimum),
            "populations": {k: int(v) for k, v in self.populations.items()},
            "below_minimum": list(self.below_minimum), "pathfinders": int(self.pathfinders),
            "merges": int(self.merges),
        }


def form_groups(footprint: Sequence[str], postcode: Sequence[str], list_size: Sequence[int],
                imd: Sequence[float], target: int, minimum: int) -> Formation:
    """Form groups inside footprints from postcode districts (rules: module docstring).

    ``list_size`` are the populations the groups are formed on (before sampling); ``target`` is
    ``[world] formation_population`` and ``minimum`` ``[behaviour] min_group_population``.
    Group codes are ``<footprint>-<k>``, k counting from 1 in the order of each group's first
    postcode district.
    """
    footprint = [str(f) for f in footprint]
    sizes = np.asarray(list_size, dtype=np.int64)
    scores = np.asarray(imd, dtype=float)
    districts = [district(p) for p in postcode]
    goal = max(int(target), int(minimum))
    by_footprint: dict[str, dict[str, list[int]]] = {}
    for i, (f, d) in enumerate(zip(footprint, districts, strict=True)):
        by_footprint.setdefault(f, {}).setdefault(d, []).append(i)
    group = [""] * len(footprint)
    populations: dict[str, int] = {}
    below: list[str] = []
    pathfinders = merges = 0
    for f in sorted(by_footprint):
        groups = []
        for d, rows in by_footprint[f].items():
            key = district_key(d)
            numbers = {key[0]: {key[1]}} if key[0] else {}
            pop = int(sizes[rows].sum())
            groups.append(_Group(key, list(rows), pop, float((sizes[rows] * scores[rows]).sum()),
                                 numbers))
        pathfinders += len(groups)
        while len(groups) > 1:
            waiting = [g for g in groups if g.population < goal]
            if not waiting:
                break
            a = min(waiting, key=lambda g: (g.population, g.key))
            b = min((g for g in groups if g is not a),
                    key=lambda g: (-tie(a, g), g.population, g.key))
            a.members += b.members
            a.population += b.population
            a.imd_weighted += b.imd_weighted
            for area, numbers in b.numbers.items():
                a.numbers.setdefault(area, set()).update(numbers)
            a.key = min(a.key, b.key)
            groups.remove(b)
            merges += 1
        for k, g in enumerate(sorted(groups, key=lambda g: g.key), start=1):
            code = f"{f}-{k}"
            for i in g.members:
                group[i] = code
            populations[code] = g.population
            if g.population < minimum:
                below.append(code)
    return Formation(group=group, footprint=footprint, populations=populations,
                     below_minimum=below, pathfinders=pathfinders, merges=merges)


def formation_summary(world: Any, min_group_population: int | None = None) -> dict[str, Any]:
    """Size distribution of a world's groups: count, min, quartiles, mean, max, how many are
    below ``min_group_population`` and the share between 150,000 and 300,000.

    A formed world (``World.formed``) reports the populations it was formed on (before
    sampling) and its own minimum; any other world reports its lists divided by
    ``world.scale``, with ``min_group_population`` (default: none counted).
    """
    formed = getattr(world, "formed", None)
    if formed:
        pops = np.array(sorted(formed["populations"].values()), dtype=float)
        minimum = formed["min_group_population"] if min_group_population is None \
            else min_group_population
    else:
        lists = world.practices.groupby("group")["list_size"].sum()
        pops = np.sort(lists.to_numpy(dtype=float) / world.scale)
        minimum = min_group_population or 0
    low, high = PUBLISHED_2013["typical"]
    q1, median, q3 = np.percentile(pops, [25, 50, 75])
    return {
        "count": int(len(pops)), "min": float(pops[0]), "q1": float(q1), "median": float(median),
        "q3": float(q3), "mean": float(pops.mean()), "max": float(pops[-1]),
        "below_min_group_population": int((pops < minimum).sum()),
        "share_150k_300k": float(((pops >= low) & (pops <= high)).mean()),
    }
