"""Every kind of event the model records in its ``events`` table.

An event is one row: month, kind, group, practice, value, detail. The kinds are members of
:class:`Event` (a ``StrEnum``, so the table holds the plain strings below); each behaviour
module lists the kinds it emits in its ``events`` declaration.

Organisational change has one kind per thing that happens, each recorded on the group it
happens to:

- a **fracture**: at least ``behaviour.min_coalition`` members leave together to form a new
  group (value: practices; detail: the new group);
- a **defection**: members leave for an existing group they had not belonged to (value:
  practices; detail: the group joined);
- a **return**: members leave for a group they had belonged to before (value, detail: as a
  defection);
- a **voluntary merger** or a **forced merger**: the group is absorbed by another (detail: the
  group it merges into), by agreement or by the Board;
- a **dissolution**: the Board ends a persistently failing group and places its members;
- **emptied**: the group ended because every member left.

Why each departure happened (votes lost, trust, finances, the Board's decision) is one row of
the ``departures`` table (``ccgabm.behaviours.practice_choices``).
"""

from __future__ import annotations

from enum import StrEnum


class Event(StrEnum):
    """Event kinds, with the value written to the ``kind`` column."""

    # organisations come and go
    GROUP_CREATED = "group_created"  # value: founding members; detail: "fracture of G.."
    FRACTURE = "fracture"  # a coalition left to form a new group; value: how many practices
    DEFECTION = "defection"  # members joined an existing group; value: how many practices
    RETURN = "return"  # members went back to a group they had belonged to
    VOLUNTARY_MERGER = "voluntary_merger"  # the group merged into ``detail`` by agreement
    FORCED_MERGER = "forced_merger"  # the Board merged the group into ``detail``
    CONSOLIDATION_MERGER = "consolidation_merger"  # merged into ``detail``, one group per footprint
    DISSOLVED = "dissolved"  # the Board ended the group after persistent deficits
    EMPTIED = "emptied"  # the group ended because all its members left
    # practices move
    JOIN = "join"
    LEAVE = "leave"
    MOVE_REFUSED = "move_refused"  # the Board refused a departure; detail: the reason
    PRACTICE_CLOSED = "practice_closed"  # value: patients dispersed
    PRACTICE_TURNOVER = "practice_turnover"  # the team changed; value: new referral propensity
    # money and decisions
    DEFICIT = "deficit"  # value: the in-year result (negative)
    QUALITY_PREMIUM = "quality_premium"  # value: amount paid
    DECOMMISSIONING_PROPOSED = "decommissioning_proposed"  # value: forecast deficit share
    VOTE = "vote"  # value: list-size-weighted yes share; detail: "cut: passed|rejected"
    DECOMMISSIONING = "decommissioning"  # value: expected saving a year; detail: the cut
    CO_COMMISSIONING = "co_commissioning"  # value: share of neighbours already adopted
    DILEMMA_CHOICE = "dilemma_choice"  # detail: stay | join | negotiate
    DILEMMA_DECISION = "dilemma_decision"  # detail: who decided what (affluent group, Board)
    POLICY_CHANGE = "policy_change"  # the dated timeline changed parameters; detail: the new values


# How a group can end (``CommissioningGroup.fate``), each also the event recorded when it does.
ENDINGS = (Event.VOLUNTARY_MERGER, Event.FORCED_MERGER, Event.CONSOLIDATION_MERGER, Event.DISSOLVED,
           Event.EMPTIED)
# Endings by merger into another group: by agreement, forced for size, or in a consolidation.
MERGERS = (Event.VOLUNTARY_MERGER, Event.FORCED_MERGER, Event.CONSOLIDATION_MERGER)
# Departures of members from a group that goes on.
DEPARTURES = (Event.FRACTURE, Event.DEFECTION, Event.RETURN)

# Organisational change (not routine accounting): what the browser view's log shows.
ORGANISATIONAL = frozenset({
    Event.JOIN, Event.LEAVE, *DEPARTURES, *ENDINGS, Event.DECOMMISSIONING, Event.GROUP_CREATED,
    Event.PRACTICE_CLOSED, Event.CO_COMMISSIONING,
})
