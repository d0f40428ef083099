"""A dated policy timeline: parameter changes that take effect during a run.

A scenario file may hold ``[[timeline]]`` entries, each a dated change of parameters with its
source::

    [[timeline]]
    from = "2015/16"                      # a financial year (from its April) or a month "2015-07"
    until = "2017/18"                     # optional: the change ends when this one starts
    set = { "behaviour.voluntary_mergers" = false }
    source = "HSJ, 'NHS England sets new rules for CCG mergers' (Nov 2016): informal moratorium"

Month 0 of a run is April of ``[run] start_year``. An entry lasts from its ``from`` until its
``until`` or, for a parameter, until a later entry sets that parameter again; then the parameter
takes its value in the scenario again. Two entries setting one parameter from the same date, or
an entry whose ``until`` runs past a later entry's ``from`` for a parameter both set, overlap
and are refused. An entry dated before the run starts applies from its first month.

Only parameters the model reads afresh when it uses them can change during a run: those declared
``dated`` (``ccgabm.params.param``; docs/parameters.md marks them). A dated parameter takes
effect when the model next reads it: those of the Board's yearly allocation (allocations per
head, running costs, the pace of change) and of other April or year-end decisions change
nothing until then, so date them by financial year. Every state of the configuration the
timeline produces is validated when the scenario is read, so a value out of range in 2019 is
refused before the run starts (also one dated after the run ends).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ccgabm.params import ConfigError

__all__ = [
    "TimelineEntry", "parse_timeline", "dated_parameters", "overrides_at", "change_months",
    "month_label", "timeline_text",
]

ENTRY_KEYS = ("from", "until", "set", "source", "note")
FIRST_YEAR, LAST_YEAR = 1948, 2100  # the NHS's first year; far enough ahead
_FY = re.compile(r"(\d{4})/(\d{2})", re.ASCII)
_MONTH = re.compile(r"(\d{4})-(\d{2})", re.ASCII)
MONTHS = ("April", "May", "June", "July", "August", "September", "October", "November",
          "December", "January", "February", "March")


@dataclass(frozen=True)
class TimelineEntry:
    """One dated change: months are counted from April of the run's start year."""

    number: int  # 1 for the first entry of the file
    start: str  # as written: "2015/16" or "2015-07"
    until: str | None
    changes: tuple[tuple[str, Any], ...]  # ("section.key", value), in the order written
    source: str
    note: str = ""

    def start_month(self, start_year: int) -> int:
        return date_month(self.start, start_year, self.number, "from")

    def end_month(self, start_year: int) -> int | None:
        return None if self.until is None else date_month(self.until, start_year, self.number,
                                                           "until")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"from": self.start}
        if self.until is not None:
            out["until"] = self.until
        out["set"] = dict(self.changes)
        out["source"] = self.source
        if self.note:
            out["note"] = self.note
        return out


def dated_parameters() -> dict[str, list[str]]:
    """The parameters a timeline may change, by section."""
    from ccgabm.config import SECTIONS

    return {name: [f.name for f in dataclasses.fields(cls) if f.metadata.get("dated")]
            for name, cls in SECTIONS.items()}


def _where(number: int) -> str:
    return f"[[timeline]] entry {number}"


def _calendar(text: Any, number: int, key: str) -> tuple[int, int]:
    """(calendar year, month 1-12) a date names (a financial year starts in April)."""
    where = f"{_where(number)}: {key} = {text!r}"
    allowed = ("must be a financial year such as \"2015/16\" (from its April) or a month such "
               "as \"2015-07\"")
    if not isinstance(text, str):
        raise ConfigError(f"{where} is not allowed: {allowed}")
    fy, month = _FY.fullmatch(text.strip(" ")), _MONTH.fullmatch(text.strip(" "))
    if fy:
        year, tail = int(fy.group(1)), int(fy.group(2))
        if (year + 1) % 100 != tail:
            raise ConfigError(f"{where} is not a financial year: the second year must follow the "
                              f"first (\"{year}/{(year + 1) % 100:02d}\")")
        cal = (year, 4)
    elif month:
        cal = (int(month.group(1)), int(month.group(2)))
        if not 1 <= cal[1] <= 12:
            raise ConfigError(f"{where} is not a month: the month must be 01 to 12")
    else:
        raise ConfigError(f"{where} is not allowed: {allowed}")
    if not FIRST_YEAR <= cal[0] <= LAST_YEAR:
        raise ConfigError(f"{where} is out of range: the year must be {FIRST_YEAR} to {LAST_YEAR}")
    return cal


def date_month(text: str, start_year: int, number: int = 0, key: str = "from") -> int:
    """The run month (0 = April of ``start_year``) a date names; negative before the run."""
    year, month = _calendar(text, number, key)
    return (year - start_year) * 12 + (month - 4)


def month_label(month: int, start_year: int) -> str:
    """'April 2015' for a run month."""
    year = start_year + (month + 3) // 12
    return f"{MONTHS[month % 12]} {year}"


def parse_timeline(raw: Any, dated: Mapping[str, list[str]]) -> tuple[TimelineEntry, ...]:
    """Entries of ``[[timeline]]``, each checked: keys, dates, parameters that may change, and
    no two entries setting one parameter over overlapping months. Values are checked when the
    configuration states are built (``ccgabm.config``)."""
    if not isinstance(raw, list) or not all(isinstance(e, Mapping) for e in raw):
        raise ConfigError("timeline must be an array of tables: write each entry as [[timeline]] "
                          "with from, set and source")
    entries = []
    for number, item in enumerate(raw, start=1):
        where = _where(number)
        unknown = [k for k in item if k not in ENTRY_KEYS]
        if unknown:
            raise ConfigError(f"{where}: {unknown[0]!r} is not a known key; known: "
                              + ", ".join(ENTRY_KEYS))
        for key in ("from", "set", "source"):
            if key not in item:
                raise ConfigError(f"{where}: {key} is missing (an entry needs from, set and source)")
        start, until = item["from"], item.get("until")
        begins = _calendar(start, number, "from")
        if until is not None and _calendar(until, number, "until") <= begins:
            raise ConfigError(f"{where}: until = {until!r} is not after from = {start!r}")
        source = item["source"]
        if not isinstance(source, str) or not source.strip():
            raise ConfigError(f"{where}: source = {source!r} is not allowed: name the document "
                              "the change comes from (a non-empty string)")
        note = item.get("note", "")
        if not isinstance(note, str):
            raise ConfigError(f"{where}: note = {note!r} is not allowed: must be a string")
        changes = item["set"]
        if not isinstance(changes, Mapping) or not changes:
            raise ConfigError(f"{where}: set must be a non-empty table of \"section.key\" = value, "
                              f"got {changes!r}")
        for dotted in changes:
            _check_dated(dotted, dated, where)
        entries.append(TimelineEntry(number, start.strip(), None if until is None else until.strip(),
                                     tuple(changes.items()), source.strip(), note))
    _check_overlaps(entries)
    return tuple(entries)


def _check_dated(dotted: Any, dated: Mapping[str, list[str]], where: str) -> None:
    from ccgabm.config import SECTIONS

    if not isinstance(dotted, str):
        raise ConfigError(f"{where}: {dotted!r} is not a parameter: use \"section.key\"")
    section, _, key = dotted.partition(".")
    if section not in SECTIONS or not key:
        raise ConfigError(f"{where}: {dotted!r} is not a parameter: use \"section.key\" with a "
                          "section among " + ", ".join(SECTIONS))
    names = {f.name for f in dataclasses.fields(SECTIONS[section])}
    if key not in names:
        raise ConfigError(f"{where}: [{section}] {key} is not a known parameter; known: "
                          + ", ".join(sorted(names)))
    if key not in dated.get(section, ()):
        allowed = ", ".join(f"{s}.{k}" for s, keys in dated.items() for k in keys)
        raise ConfigError(f"{where}: [{section}] {key} cannot change during a run (it is read "
                          f"once at the start); a timeline may set: {allowed}")


def _check_overlaps(entries: list[TimelineEntry]) -> None:
    """No parameter set by two entries over the same months (years compared by calendar)."""
    by_key: dict[str, list[TimelineEntry]] = {}
    for entry in entries:
        for dotted, _ in entry.changes:
            by_key.setdefault(dotted, []).append(entry)
    for dotted, setters in by_key.items():
        # months from any fixed April order the dates as the calendar does
        ordered = sorted(setters, key=lambda e: e.start_month(0))
        for a, b in zip(ordered, ordered[1:], strict=False):
            if a.start_month(0) == b.start_month(0):
                raise ConfigError(f"{_where(a.number)} and entry {b.number} both set {dotted} from "
                                  f"{a.start!r}: entries for one parameter must not overlap")
            if a.until is not None and a.end_month(0) > b.start_month(0):
                raise ConfigError(f"{_where(a.number)} sets {dotted} until {a.until!r}, past entry "
                                  f"{b.number}'s from = {b.start!r}: entries for one parameter "
                                  "must not overlap")


def overrides_at(entries: tuple[TimelineEntry, ...], month: int, start_year: int) -> dict[str, Any]:
    """Dotted parameter values the timeline sets in run month ``month``."""
    latest: dict[str, tuple[int, TimelineEntry, Any]] = {}
    for entry in entries:
        start = entry.start_month(start_year)
        if start > month:
            continue
        for dotted, value in entry.changes:
            if dotted not in latest or latest[dotted][0] < start:
                latest[dotted] = (start, entry, value)
    out = {}
    for dotted, (_, entry, value) in latest.items():
        end = entry.end_month(start_year)
        if end is None or month < end:
            out[dotted] = value
    return out


def change_months(entries: tuple[TimelineEntry, ...], start_year: int,
                  horizon: int | None = None) -> list[int]:
    """Months (0 = the run's first) in which the timeline's overrides may change: those before
    ``horizon``, or every one when it is None."""
    months = {0}
    for entry in entries:
        for m in (entry.start_month(start_year), entry.end_month(start_year)):
            if m is not None and m > 0 and (horizon is None or m < horizon):
                months.add(m)
    return sorted(months)


def timeline_text(entries: tuple[TimelineEntry, ...], start_year: int, horizon: int) -> str:
    """The timeline as a plain-text list: when, what changes, and the source."""
    if not entries:
        return "No dated policy timeline: every parameter keeps its value for the whole run.\n"
    count = f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}"
    lines = [f"Dated policy timeline ({count}; month 0 is "
             f"{month_label(0, start_year)}):", ""]
    for entry in sorted(entries, key=lambda e: (e.start_month(start_year), e.number)):
        start, end = entry.start_month(start_year), entry.end_month(start_year)
        when = f"from {month_label(max(start, 0), start_year)}"
        if start < 0:
            when += f" (dated {entry.start}, before the run)"
        if end is not None:
            when += f" until {month_label(end, start_year)}"
        if start >= horizon:
            when += " (after the run ends)"
        changes = ", ".join(f"{k} = {v!r}" for k, v in entry.changes)
        lines.append(f"{entry.number:>3}. {when}: {changes}")
        lines.append(f"     source: {entry.source}")
        if entry.note:
            lines.append(f"     note: {entry.note}")
    return "\n".join(lines) + "\n"
