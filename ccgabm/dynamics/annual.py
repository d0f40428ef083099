"""The model's yearly and mid-year behaviour rounds, run on a CommissioningModel.

- ``decommissioning_round`` (at the month-6 forecast): groups forecasting overspend propose
  cuts; members vote; outvoted practices lose trust in the winners.
- ``update_trust`` (year end): shared success, fairness of spend relative to need, decay.
- ``practice_choices`` (year end): coalitions leave to form new groups, practices switch.
- ``group_fate`` (year end): dissolution after persistent deficits, Board-forced and
  voluntary mergers, groups emptied by departures.
- ``co_commissioning_round`` (year start): adoption spreads by imitation of neighbours.
- ``practice_closures`` (year end): small, deprived, overstretched practices may close.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ccgabm.dynamics import decommissioning
from ccgabm.dynamics.cooperation import choose_moves, stay_utilities, trust_in_groups
from ccgabm.dynamics.stability import core_stable
from ccgabm.dynamics.utility import group_finance, new_group_finance
from ccgabm.kernels import DAY_CASE, EMERGENCY, INPATIENT

if TYPE_CHECKING:
    from ccgabm.agents.group import CommissioningGroup
    from ccgabm.model import CommissioningModel

def decommissioning_round(model: CommissioningModel) -> None:
    """Groups forecasting overspend propose a cut, members vote, the decision has losers."""
    pol, beh = model.cfg.policy, model.cfg.behaviour
    months = model.cfg.policy.forecast_month  # months completed before this one starts
    for group in model.active_groups:
        group.forecast_deficit_share = group.forecast_deficit(months)
        group.set_policy_levers(pol, beh.co_commissioning_investment)
        if group.forecast_deficit_share <= pol.decommission_threshold or len(group.members) < 2:
            continue
        options = []
        if not group.plcv_restricted:
            options.append("plcv")
        if group.community_cuts < 3:
            options.append("community")
        if not options:
            continue
        members = group.members
        usage = {
            "plcv": np.array([p.year_counts[DAY_CASE] + p.year_counts[INPATIENT] for p in members]),
            "community": np.array([p.year_counts[EMERGENCY] for p in members]),
        }
        elective_spend = float(sum(
            p.year_counts[DAY_CASE] * model.cfg.costs.day_case
            + p.year_counts[INPATIENT] * model.cfg.costs.elective_inpatient for p in members
        )) * 12.0 / months
        savings = {
            cut: decommissioning.expected_saving(cut, elective_spend, group.other_services_cost,
                                                 pol.plcv_reduction, pol.community_cut)
            for cut in options
        }
        cut = max(options, key=lambda c: savings[c])
        sizes = np.array([p.list_size for p in members])
        idx = np.array([p.index for p in members])
        all_sizes = model.list_sizes()
        trust_in_group = np.array([model.trust.mean_trust(p.index, idx, all_sizes) for p in members])
        burden = decommissioning.burden_ratios(usage[cut], sizes)
        result = decommissioning.vote(cut, burden, trust_in_group, sizes, beh.vote_tolerance)
        model.recorder.event(model.month, "decommissioning_proposed", group=group.code,
                             value=group.forecast_deficit_share, detail=cut)
        model.recorder.event(model.month, "vote", group=group.code, value=result.yes_share,
                             detail=f"{cut}: {'passed' if result.passed else 'rejected'}")
        winners = idx[result.yes] if result.passed else idx[~result.yes]
        losers = idx[~result.yes] if result.passed else idx[result.yes]
        model.trust.lost_vote(losers, winners)
        model.votes_lost[losers] += 1
        if result.passed:
            if cut == "plcv":
                group.plcv_restricted = True
            else:
                group.community_cuts += 1
                group.other_services_factor *= 1.0 - pol.community_cut
                group.other_services_cost *= 1.0 - pol.community_cut
            group.set_policy_levers(pol, beh.co_commissioning_investment)
            model.recorder.event(model.month, "decommissioning", group=group.code,
                                 value=savings[cut], detail=cut)


def update_trust(model: CommissioningModel, spend_by_practice: np.ndarray) -> None:
    """Year-end trust updates within each group, then decay towards starting levels."""
    for group in model.active_groups:
        idx = np.array([p.index for p in group.members])
        if len(idx) == 0:
            continue
        if group.last_in_year_result >= 0:
            model.trust.shared_success(idx)
        else:
            need = np.array([max(p.need_weight, 1e-9) for p in group.members])
            model.trust.unfairness(idx, spend_by_practice[idx] / need)
    model.trust.decay()


def finance_terms(model: CommissioningModel) -> dict[str, float]:
    """Each active group's finance term in practice utilities."""
    beh, fin = model.cfg.behaviour, model.cfg.finance
    groups = model.active_groups
    total_need = sum(g.need_weight for g in groups)
    rate = model.board.national_budget / total_need if total_need > 0 else 0.0
    return {
        g.code: group_finance(model.board.allocations.get(g.code, 0.0), g.need_weight, rate,
                              g.last_in_year_result, fin.allocation_per_head, beh.finance_weight)
        for g in groups
    }


def _new_finance(model: CommissioningModel, finance: dict[str, float]):
    """For a group, the finance term of a new group carved out of it, by population.

    A new group inherits its parent's distance from target and record, so the only financial
    difference is the higher fixed running cost per head of a smaller group.
    """
    beh, fin = model.cfg.behaviour, model.cfg.finance
    fixed = model.board.fixed_running_cost()

    def for_group(code: str):
        parent = model.groups[code]

        def finance_of(population):
            return finance[code] + new_group_finance(population, float(parent.population), fixed,
                                                     fin.allocation_per_head, beh.finance_weight)

        return finance_of

    return for_group


@dataclass
class YearEndView:
    """What practices see at year end: groups, their finances and trust in each of them."""

    groups: dict[str, np.ndarray]
    sizes: np.ndarray
    finance: dict[str, float]
    trust_in: dict[str, np.ndarray]
    stay: dict[int, float]


def year_end_view(model: CommissioningModel) -> YearEndView:
    """Computed once per year end and shared by the stability check and practice choices."""
    groups = {g.code: np.array([p.index for p in g.members]) for g in model.active_groups}
    sizes = model.list_sizes()
    finance = finance_terms(model)
    trust_in = trust_in_groups(model.trust.trust, groups, sizes)
    stay = stay_utilities(model.trust.trust, groups, sizes, finance, trust_in)
    return YearEndView(groups, sizes, finance, trust_in, stay)


def record_core_stability(model: CommissioningModel, year: int, view: YearEndView) -> None:
    """Whether any coalition of each group's members would block it, as a group-year flag."""
    finance_for = _new_finance(model, view.finance)
    for code, members in view.groups.items():
        stable = core_stable(members, model.trust.trust, view.stay, view.sizes, finance_for(code),
                             model.cfg.behaviour.switching_cost)
        model.core_stability[(year, code)] = stable


def practice_choices(model: CommissioningModel, view: YearEndView | None = None) -> None:
    """Coalitions leave to form new groups; practices switch to neighbours the Board allows."""
    beh = model.cfg.behaviour
    view = view if view is not None else year_end_view(model)
    neighbours = {g.code: {n for n in g.neighbours if n in view.groups} for g in model.active_groups}
    moves = choose_moves(
        model.trust.trust, view.groups, neighbours, view.sizes, view.finance,
        _new_finance(model, view.finance), beh.switching_cost, beh.min_coalition,
        beh.min_group_population * model.world.scale, trust_in=view.trust_in, stay=view.stay,
    )
    for move in moves:
        source = model.groups[move.source]
        practices = [model.practices[i] for i in move.practices]
        if move.target is None:
            model.form_group(source, practices)
        elif model.board.approve_switch(source, model.groups[move.target],
                                        sum(p.list_size for p in practices),
                                        beh.min_group_population * model.world.scale):
            model.move_practices(practices, model.groups[move.target], reason="switch")
        else:
            for p in practices:
                model.recorder.event(model.month, "switch_refused", group=move.source,
                                     practice=p.code, detail=move.target)
            continue
        if len(move.practices) >= beh.min_coalition and source.fracture_month is None:
            source.fracture_month = model.month
            model.recorder.event(model.month, "fracture", group=source.code,
                                 value=len(move.practices),
                                 detail="new group" if move.target is None else move.target)


def group_fate(model: CommissioningModel, year: int) -> None:
    """Dissolve persistently failing groups; merge small ones; retire emptied ones."""
    beh = model.cfg.behaviour
    for group in list(model.active_groups):
        if not group.members:
            model.end_group(group, "fractured", [])
            continue
        allocation = model.board.allocations.get(group.code, 0.0)
        failing = (group.balance < -beh.dissolve_deficit_share * allocation
                   and group.last_in_year_result < 0)
        group.deficit_years = group.deficit_years + 1 if failing else 0
        if group.deficit_years >= beh.dissolve_after_years and len(model.active_groups) > 1:
            receivers = _receivers_by_trust(model, group)
            model.end_group(group, "dissolved", receivers)
    minimum = beh.min_group_population * model.world.scale
    if year + 1 >= beh.running_cost_cut_year:
        for group in sorted(model.active_groups, key=lambda g: g.population):
            if group.active and group.population < minimum and len(model.active_groups) > 1:
                partner = _smallest_neighbour(model, group)
                if partner is not None:
                    model.merge_groups(group, partner, forced=True)
    for group in sorted(model.active_groups, key=lambda g: g.code):
        if not group.active or group.balance >= 0:
            continue
        partner = _smallest_neighbour(model, group)
        if partner is None or partner.balance >= 0:
            continue
        a = np.array([p.index for p in group.members])
        b = np.array([p.index for p in partner.members])
        mutual = float(model.trust.trust[np.ix_(a, b)].mean() + model.trust.trust[np.ix_(b, a)].mean()) / 2
        if mutual >= beh.initial_trust:
            small, large = sorted((group, partner), key=lambda g: g.population)
            model.merge_groups(small, large, forced=False)


def _active_neighbours(model: CommissioningModel, group: CommissioningGroup) -> list:
    return [model.groups[c] for c in sorted(group.neighbours)
            if c in model.groups and model.groups[c].active and c != group.code]


def _smallest_neighbour(model: CommissioningModel, group: CommissioningGroup):
    options = _active_neighbours(model, group)
    return min(options, key=lambda g: (g.population, g.code)) if options else None


def _receivers_by_trust(model: CommissioningModel, group: CommissioningGroup) -> list:
    """For each member, the active neighbouring group whose members it trusts most."""
    options = _active_neighbours(model, group) or [
        g for g in model.active_groups if g is not group
    ]
    sizes = model.list_sizes()
    out = []
    for p in group.members:
        best = max(options, key=lambda g: (
            model.trust.mean_trust(p.index, np.array([q.index for q in g.members]), sizes)
            if g.members else -1.0, g.code))
        out.append(best)
    return out


def co_commissioning_round(model: CommissioningModel, year: int) -> None:
    """From the chosen year, groups take delegated budgets; neighbours' adoption is imitated."""
    beh = model.cfg.behaviour
    if beh.co_commissioning_year < 0 or year < beh.co_commissioning_year:
        return
    rng = model.streams.fresh("behaviour.co_commissioning", year)
    groups = sorted(model.active_groups, key=lambda g: g.code)
    draws = rng.random(len(groups))
    adopted_before = {g.code for g in groups if g.co_commissioning}
    for group, u in zip(groups, draws, strict=True):
        if group.co_commissioning:
            continue
        near = [c for c in group.neighbours if c in model.groups and model.groups[c].active]
        share = sum(c in adopted_before for c in near) / len(near) if near else 0.0
        if u < min(1.0, beh.co_commissioning_adoption + beh.imitation * share):
            group.co_commissioning = True
            model.recorder.event(model.month, "co_commissioning", group=group.code, value=share)


def practice_closures(model: CommissioningModel, year: int) -> None:
    """Small, deprived practices close unless their group invests in primary care."""
    beh, pol = model.cfg.behaviour, model.cfg.policy
    rng = model.streams.fresh("behaviour.closure", year)
    limit = beh.closure_list_size * model.world.scale
    for practice in model.practices:
        u = rng.random()
        if not practice.open or practice.list_size >= limit or practice.imd < beh.closure_imd:
            continue
        group = practice.group
        protection = min(1.0, group.investment_share(pol, beh.co_commissioning_investment) / 0.01)
        if len(group.members) > 1 and u < beh.closure_rate * (1.0 - protection):
            model.close_practice(practice, rng)
