"""Every kind of event the model records in its ``events`` table.

An event is one row: month, kind, group, practice, value, detail. The kinds are members of
:class:`Event` (a ``StrEnum``, so the table holds the plain strings below); each behaviour
module lists the kinds it emits in its ``events`` declaration.
"""

from __future__ import annotations

from enum import StrEnum


class Event(StrEnum):
    """Event kinds, with the value written to the ``kind`` column."""

    # organisations come and go
    GROUP_CREATED = "group_created"  # value: founding members; detail: "fracture of G.."
    FRACTURED = "fractured"  # a group ended because its members left
    MERGED = "merged"  # a group ended by merging into another
    DISSOLVED = "dissolved"  # a group ended by the Board after persistent deficits
    MERGER = "merger"  # recorded on the receiving group; detail: absorbed (forced|voluntary)
    # practices move
    JOIN = "join"
    LEAVE = "leave"
    SWITCH_REFUSED = "switch_refused"  # the Board refused a move
    FRACTURE = "fracture"  # a coalition left together; value: how many practices
    PRACTICE_CLOSED = "practice_closed"  # value: patients dispersed
    # money and decisions
    DEFICIT = "deficit"  # value: the in-year result (negative)
    QUALITY_PREMIUM = "quality_premium"  # value: amount paid
    DECOMMISSIONING_PROPOSED = "decommissioning_proposed"  # value: forecast deficit share
    VOTE = "vote"  # value: list-size-weighted yes share; detail: "cut: passed|rejected"
    DECOMMISSIONING = "decommissioning"  # value: expected saving a year; detail: the cut
    CO_COMMISSIONING = "co_commissioning"  # value: share of neighbours already adopted
    DILEMMA_CHOICE = "dilemma_choice"  # detail: stay | join | negotiate


# Organisational change (not routine accounting): what the browser view's log shows.
ORGANISATIONAL = frozenset({
    Event.JOIN, Event.LEAVE, Event.FRACTURE, Event.MERGER, Event.DISSOLVED,
    Event.DECOMMISSIONING, Event.GROUP_CREATED, Event.PRACTICE_CLOSED, Event.CO_COMMISSIONING,
})
