"""Conservation laws and structural rules checked after every month on request.

Money: the Board's payments equal what groups received less transfers between them; what
groups received equals what they spent plus their balances; what groups paid for activity
equals hospitals' income. Patients: start + registrations - deaths = alive = the sum of list
sizes. Membership: every open practice is in exactly one group in play. Nothing negative.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ccgabm.agents.group import TRANSFER_IN, TRANSFER_OUT

if TYPE_CHECKING:
    from ccgabm.model import CommissioningModel


class InvariantError(AssertionError):
    """A conservation law or structural rule of the model was broken."""


def check_invariants(model: CommissioningModel) -> None:
    """Raise ``InvariantError`` if money, patients or membership are not conserved."""
    groups = list(model.groups.values())
    received = sum(sum(g.received.values()) for g in groups)
    transfers_in = sum(g.received[TRANSFER_IN] for g in groups)
    transfers_out = sum(g.spent[TRANSFER_OUT] for g in groups)
    if abs(transfers_in - transfers_out) > 1e-6 * max(1.0, abs(received)):
        raise InvariantError(f"transfers in {transfers_in} != transfers out {transfers_out}")
    spent = sum(sum(g.spent.values()) for g in groups)
    balances = sum(g.balance for g in groups)
    scale = max(1.0, abs(received))
    if abs(model.board.paid_total - (received - transfers_in)) > 1e-9 * scale:
        raise InvariantError(f"Board paid {model.board.paid_total} but groups got {received}")
    if abs(received - spent - balances) > 1e-9 * scale:
        raise InvariantError(f"received {received} != spent {spent} + balances {balances}")
    activity = sum(g.spent["activity"] for g in groups)
    if any(p.open and not p.group.active for p in model.practices):
        raise InvariantError("a practice belongs to a group that no longer exists")
    income = sum(h.income for h in model.hospitals)
    if abs(activity - income) > 1e-9 * scale:
        raise InvariantError(f"groups paid {activity} for activity, hospitals got {income}")
    alive = int(model.population.alive.sum())
    expected = model.patients_start + model.registrations_total - model.deaths_total
    if alive != expected:
        raise InvariantError(f"patients: start + registrations - deaths = {expected}, "
                             f"alive = {alive}")
    if int(model.practice_arrays.list_size.sum()) != alive:
        raise InvariantError("practice list sizes do not add up to the registered population")
    active = model.active_groups
    member_of = [p.code for g in active for p in g.members]
    if sorted(member_of) != sorted(p.code for p in model.practices if p.open):
        raise InvariantError("a practice is in no group or in more than one")
    if any(p.group is None or p not in p.group.members for p in model.practices if p.open):
        raise InvariantError("a practice's group does not list it as a member")
    if sorted(p.index for p in model.agents_by_type[type(model.practices[0])]) != sorted(
            p.index for p in model.practices if p.open):
        raise InvariantError("the model's practice agents are not exactly the open practices")
    if any(not g.active for g in active) or sum(g.active for g in groups) != len(active):
        raise InvariantError("the model's group agents are not exactly the groups in play")
    if any((h.waiting_hist < 0).any() or h.monthly_capacity < 0 for h in model.hospitals):
        raise InvariantError("negative waiting list or capacity")
    if (model.practice_arrays.list_size < 0).any():
        raise InvariantError("negative list size")
    if any(v < 0 for g in groups for k, v in g.received.items() if k != TRANSFER_IN):
        raise InvariantError("negative allocation")
