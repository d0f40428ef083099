"""The core phases every run has: money, practices' levers, hospitals, patients, the record.

Each function is one phase of the order of play (``PHASES``, see ``ccgabm.schedule``) and takes
the model. Behaviours (``ccgabm.behaviours``) add their own phases around these and act on the
core ones through their hooks (levers, monthly income and costs, year-end columns).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ccgabm.agents.board import initial_distances
from ccgabm.agents.group import CommissioningGroup
from ccgabm.agents.hospital import treatment_cutoffs as hospital_cutoffs
from ccgabm.events import Event
from ccgabm.patients import COUNTER_NAMES, Counter, PracticeLevers
from ccgabm.schedule import Phase, When

# the activity counters billed at ``model.unit_costs``: outpatient, day case, elective inpatient,
# emergency (adjacent columns of the kernel's counts)
ACTIVITY_COUNTERS = slice(Counter.OUTPATIENT, Counter.EMERGENCY + 1)
assert [*range(len(Counter))][ACTIVITY_COUNTERS] == [
    Counter.OUTPATIENT, Counter.DAY_CASE, Counter.INPATIENT, Counter.EMERGENCY]

if TYPE_CHECKING:
    from ccgabm.model import CommissioningModel

PHASES = (
    Phase("timeline", When.MONTHLY, 5, "apply_timeline",
          "dated policy changes due this month take effect ([[timeline]] of the scenario)"),
    Phase("need", When.YEAR_START, 30, "need_weights",
          "need weight of every practice (capitation formula over its patients) and group"),
    Phase("allocation", When.YEAR_START, 40, "allocation",
          "the Board allocates programme budgets (money follows practices, pace of change) and "
          "running-cost allowances"),
    Phase("group levers", When.YEAR_START, 50, "group_levers",
          "each group sets its levers from its behaviours' policies"),
    Phase("capacity", When.YEAR_START, 60, "capacity",
          "each hospital plans capacity from last year's referrals (the first year: from the "
          "referrals expected under the levers just set)"),
    Phase("forecast", When.FORECAST, 70, "forecast",
          "groups forecast their year-end result; levers respond to forecast overspend"),
    Phase("practice levers", When.MONTHLY, 90, "practice_levers",
          "practices' referral probability (propensity x group levers), emergency and "
          "conversion multipliers"),
    Phase("waiting list", When.MONTHLY, 100, "treatment_cutoffs",
          "hospitals set this month's treatment cut-off (longest waiters first, within capacity)"),
    Phase("patients", When.MONTHLY, 110, "patients",
          "compiled kernel: deaths, new conditions, elective treatment, emergency admissions, "
          "need and referral, registrations"),
    Phase("billing", When.MONTHLY, 120, "billing",
          "groups pay activity to their hospital (emergency payment rules applied), other "
          "services, running costs, pooled budgets and their behaviours' monthly income and costs"),
    Phase("accounts", When.YEAR_END, 130, "year_accounts",
          "groups close their accounts (behaviours' year-end hooks, e.g. the quality premium); "
          "annual panels recorded"),
    Phase("record", When.MONTHLY, 190, "record_month", "the month's series row is recorded"),
)


def apply_timeline(model: CommissioningModel) -> None:
    """The configuration in force from this month, when the timeline changes it: the model
    reads ``model.cfg`` afresh, so dated parameters take effect from here."""
    state = model.timeline_states.get(model.month)
    if state is None or state == model.cfg:
        return
    before = model.cfg.to_dict()
    after = state.to_dict()
    changed = [f"{section}.{key} = {after[section][key]!r}"
               for section in after if section != "timeline"
               for key in after[section] if after[section][key] != before[section][key]]
    model.cfg = state
    model.record(Event.POLICY_CHANGE, value=len(changed), detail="; ".join(changed))


def need_weights(model: CommissioningModel) -> None:
    """The financial year starts: practices' year totals restart, and the capitation need
    weight of every practice (from its patients now) and group is set."""
    arrays = model.practice_arrays
    arrays.start_year()
    arrays.need_weight[:] = model.population.need_weights(model.month)
    for group in model.active_groups:
        group.need_weight = float(sum(arrays.need_weight[group.member_indices()].tolist()))


def allocation(model: CommissioningModel) -> None:
    """The Board allocates the year's programme budgets and running-cost allowances."""
    year = model.month // 12
    board_rules = model.cfg.behaviour
    draws = {}
    if year == 0:
        draws = initial_distances(list(model.groups), model.cfg.finance.initial_distance_sd,
                                  model.streams.get("board.initial_distance"))
        for behaviour in model.behaviours.values():
            behaviour.adjust_initial_distances(draws)
    cut = board_rules.running_cost_cut if year >= board_rules.running_cost_cut_year else 0.0
    model.board.allocate(list(model.active_groups), draws, allowance_cut=cut,
                         first_year_activity=model.first_year_activity if year == 1 else None)


def group_levers(model: CommissioningModel) -> None:
    """Every group sets its levers for the year."""
    model.agents_by_type[CommissioningGroup].do("set_levers")


def capacity(model: CommissioningModel) -> None:
    """Each hospital plans the year's capacity from last year's referrals by its groups.

    In the first year there is no last year: the plan is the year's referrals expected from the
    starting population under the levers the groups have just set (``group levers`` runs
    before this phase), so a policy that lowers referrals from the start lowers capacity too.
    """
    arrays = model.practice_arrays
    if model.month == 0:
        arrays.referrals_last_year[:] = expected_referrals_per_practice(model) * 12.0
    # each practice's group's hospital (a closed practice: its last group's)
    groups, rows = model.member_rows()
    served_by = np.array([g.hospital.index for g in groups], dtype=np.int64)[np.maximum(rows, 0)]
    for i in np.flatnonzero(rows < 0).tolist():  # its group has ended
        served_by[i] = model.practices[i].group.hospital.index
    referrals = np.bincount(served_by, weights=arrays.referrals_last_year,
                            minlength=len(model.hospitals))
    for hospital in model.hospitals:
        hospital.plan_capacity(float(referrals[hospital.index]))
    arrays.referrals_last_year[:] = 0.0


def forecast(model: CommissioningModel) -> None:
    """Mid-year forecast of every group's result; levers respond to forecast overspend."""
    months = model.cfg.policy.forecast_month  # months completed before this one starts
    model.agents_by_type[CommissioningGroup].do("update_forecast", months)


def practice_levers(model: CommissioningModel) -> None:
    """Referral, emergency and conversion multipliers of every practice for this month.

    A practice refers a patient with a referable need with probability
    min(1, base x its persistent propensity x its group's referral multiplier).

    Recomputed only when they can change: after membership, a group's levers or practices'
    propensities change (``membership_version``, ``levers_version``), in a new year (demand
    growth) and under a new configuration (a dated timeline).
    """
    key = (model.membership_version, model.levers_version, model.month // 12, model.cfg)
    done = model.practice_levers_key
    if done is None or done[:3] != key[:3] or done[3] is not model.cfg:
        model.levers = levers_of(model)
        model.practice_levers_key = key


def levers_of(model: CommissioningModel) -> PracticeLevers:
    """Every practice's levers from its group's multipliers and its own propensity.

    Demand per patient grows by ``[population] demand_growth`` a year (referral probability
    and emergency risk). ``refer_free`` and ``conversion_free`` are the levers without the
    group's referral multiplier and procedure restrictions: need they hold back may return as
    an emergency admission (``[emergency] deferred_need_emergency``).
    """
    # a closed practice has no patients: any group's levers will do for its row
    refer_mult, emergency_mult, conversion_mult, hospital = model.member_levers()
    growth = (1.0 + model.cfg.population.demand_growth) ** (model.month // 12)
    free = growth * model.cfg.referral.refer_probability * model.practice_arrays.propensity
    base_conversion = model.cfg.hospital.elective_conversion
    return PracticeLevers(
        refer=np.minimum(1.0, free * refer_mult),
        emergency=growth * emergency_mult,
        conversion=np.minimum(1.0, base_conversion * conversion_mult),
        hospital=hospital,
        refer_free=np.minimum(1.0, free * np.maximum(refer_mult, 1.0)),
        conversion_free=np.minimum(1.0, base_conversion * np.maximum(conversion_mult, 1.0)),
    )


def treatment_cutoffs(model: CommissioningModel) -> None:
    """Each hospital's cut-off: who on its waiting list is treated this month
    (``Hospital.treatment_cutoff``, for every hospital at once)."""
    hospitals = model.hospitals
    model.cutoffs = hospital_cutoffs(model.waiting_hists,
                                     np.array([h.monthly_capacity for h in hospitals]))


def patients(model: CommissioningModel) -> None:
    """Every patient's month (the compiled kernel); counts go to the practices."""
    cuts, shares = model.cutoffs
    arrays = model.practice_arrays
    result = model.population.step(
        model.month,
        arrays.list_size,
        model.levers,
        cuts,
        shares,
        len(model.hospitals),
    )
    model.month_result = result
    counts = result.counts
    arrays.year_counts += counts
    arrays.list_size[:] = counts[:, Counter.LIST_END]
    arrays.referrals_last_year += counts[:, Counter.REFERRALS]
    model.waiting_hists = result.waiting_hist.copy()
    for hospital in model.hospitals:
        hospital.waiting_hist = model.waiting_hists[hospital.index]
    model.registrations_total += int(counts[:, Counter.REGISTRATIONS].sum())
    model.deaths_total += int(counts[:, Counter.DEATHS].sum())
    model.quintiles_year += result.quintiles


def billing(model: CommissioningModel) -> None:
    """Activity is charged to each patient's group at unit costs (less what the emergency
    payment rules in force take off, ``emergency_contract_discount``) and paid to its hospital;
    groups pay a month of community and other services, running costs and the ring-fenced
    pooled budget, and behaviours their own lines."""
    counts = model.month_result.counts
    # outpatient, day case, elective inpatient and emergency counts (the order of unit_costs)
    activity = counts[:, ACTIVITY_COUNTERS].astype(np.float64) @ model.unit_costs
    groups, bins = model.billing_rows()
    # closed practices and those of ended groups fall in the last bin, left off
    billed = np.bincount(bins, weights=activity, minlength=len(groups) + 1)[:len(groups)]
    member_of = np.where(bins < len(groups), bins, -1)
    discount = emergency_contract_discount(model, groups, member_of, counts[:, Counter.EMERGENCY])
    if discount is not None:
        billed = billed - discount
        activity = activity - _practice_shares(model, member_of, discount,
                                               counts[:, Counter.EMERGENCY])
    income, costs = model.hooks("monthly_income"), model.hooks("monthly_costs")
    allocations = model.board.allocations
    pooled = model.cfg.finance.pooled_budget_share
    for group, cost in zip(groups, billed.tolist(), strict=True):
        group.pay(cost, "activity")
        group.hospital.bill(cost)
        allocation = allocations.get(group.code, 0.0)
        for hook in income:
            hook(group, allocation)
        group.pay(group.community_services_cost / 12.0, "community_services")
        group.pay(group.other_services_cost / 12.0, "other_services")
        group.pay(group.running_cost / 12.0, "running_costs")
        if pooled > 0:  # the ring-fenced share of the allocation, paid into the pooled budget
            group.pay(pooled * allocation / 12.0, "pooled_budget")
        for hook in costs:
            hook(group, allocation)
    model.practice_arrays.spend_year += activity


def emergency_contract_discount(model: CommissioningModel, groups: list[CommissioningGroup],
                                member_of: np.ndarray, emergency: np.ndarray) -> np.ndarray | None:
    """What each group does not pay of this month's emergency admissions at full tariff, under
    the emergency payment rules in force (``[costs] emergency_payment``; None at full tariff).

    Each group's admissions are set against the baseline of its member practices (a month's
    share of it). ``marginal_rate`` (the marginal rate emergency tariff): admissions above the
    baseline over the period so far are charged at ``emergency_marginal_rate`` of the tariff,
    the discount trued up each month (so that month-to-month noise in small counts does not add
    to it); a period is the financial year, or its part since the rate or rule last changed; the
    baseline is each practice's first-year admissions times ``emergency_baseline_share``.
    ``blended`` (blended payment; block contracts at rate 0): the group pays for its baseline,
    last year's admissions, plus ``emergency_marginal_rate`` of the tariff for admissions above
    or below it.
    """
    costs = model.cfg.costs
    rate, mode = costs.emergency_marginal_rate, costs.emergency_payment
    baseline = _emergency_baseline(model)
    if rate >= 1.0 or baseline is None:
        return None
    inside = member_of >= 0
    admitted = np.bincount(member_of[inside], weights=emergency[inside], minlength=len(groups))
    expected = np.bincount(member_of[inside], weights=baseline[inside], minlength=len(groups))
    tariff = (1.0 - rate) * model.unit_costs[3]
    if mode == "blended":
        return tariff * (admitted - expected)
    period = (model.month // 12, rate, mode)
    tariff = float(tariff)
    discount = []
    for group, month_admitted, month_expected in zip(groups, admitted.tolist(), expected.tolist(),
                                                     strict=True):
        ytd = group.emergency_year_to_date  # [period, admitted, baseline, discount]
        if ytd is None or ytd[0] != period:
            ytd = group.emergency_year_to_date = [period, 0.0, 0.0, 0.0]
        ytd[1] += month_admitted
        ytd[2] += month_expected
        owed = tariff * max(ytd[1] - ytd[2], 0.0) - ytd[3]
        ytd[3] += owed
        discount.append(owed)
    return np.array(discount)


def _emergency_baseline(model: CommissioningModel) -> np.ndarray | None:
    """Each practice's monthly emergency baseline under the payment rule in force: the first
    year's (marginal rate) or last year's (blended payment); None before there is one."""
    if model.cfg.costs.emergency_payment == "marginal_rate":
        return model.emergency_baseline
    return model.emergency_last_year


def _practice_shares(model: CommissioningModel, member_of: np.ndarray, discount: np.ndarray,
                     emergency: np.ndarray) -> np.ndarray:
    """Each group's ``discount`` shared among its open member practices by their emergency
    admissions this month plus their baselines (so that practices' activity spend adds up to
    what their groups pay)."""
    weight = np.where(member_of >= 0, emergency + _emergency_baseline(model), 0.0)
    inside = member_of >= 0
    total = np.bincount(member_of[inside], weights=weight[inside], minlength=len(discount))
    share = np.zeros(len(member_of))
    rows = member_of[inside]
    share[inside] = np.divide(weight[inside], total[rows], out=np.zeros(int(inside.sum())),
                              where=total[rows] > 0)
    return np.where(inside, share * discount[np.maximum(member_of, 0)], 0.0)


def year_accounts(model: CommissioningModel) -> None:
    """Groups close the year's accounts; the annual panels are recorded."""
    year = model.month // 12
    arrays = model.practice_arrays
    behaviours = list(model.behaviours.values())
    group_columns, year_closed = model.hooks("group_year_columns"), model.hooks("year_closed")
    if year == 0:
        model.first_year_activity = sum(g.year_spent["activity"] for g in model.active_groups)
        # each practice's monthly emergency baseline, for the marginal rate emergency tariff
        model.emergency_baseline = (arrays.year_counts[:, Counter.EMERGENCY] / 12.0
                                    * model.cfg.costs.emergency_baseline_share)
    # each practice's emergency admissions a month this year: next year's blended-payment baseline
    model.emergency_last_year = arrays.year_counts[:, Counter.EMERGENCY] / 12.0
    for group in model.active_groups:
        row = group.close_year()
        row.update(year=year, group=group.code, need_weight=group.need_weight,
                   allocation=model.board.allocations.get(group.code, 0.0))
        for columns in group_columns:
            row.update(columns(group))
        model.datacollector.add_row("group_year", row)
        if row["in_year_result"] < 0:
            model.record(Event.DEFICIT, group=group.code, value=row["in_year_result"])
        for closed in year_closed:
            closed(group)
    idx = np.flatnonzero(arrays.open)  # open practices, by index
    # numeric columns as arrays (copies), read as their values would be (int64, float64)
    counts = arrays.year_counts[idx]
    columns = {name: counts[:, c] for c, name in enumerate(COUNTER_NAMES)}
    columns.update(
        year=[year] * len(idx), practice=arrays.code[idx].tolist(),
        group=_group_codes(model, idx),
        imd=arrays.imd[idx], list_size=arrays.list_size[idx],
        referral_propensity=arrays.propensity[idx],
        need_weight=arrays.need_weight[idx], activity_spend=arrays.spend_year[idx],
    )
    for behaviour in behaviours:
        columns.update(behaviour.practice_year_columns(idx))
    model.datacollector.add_columns("practice_year", columns)
    for q in range(5):
        pm, em = model.quintiles_year[q]
        model.datacollector.add_row("quintile_year", {"year": year, "quintile": q + 1,
                                                 "person_months": int(pm), "emergency": int(em)})
    model.quintiles_year[:] = 0


def _group_codes(model: CommissioningModel, practices: np.ndarray) -> list[str]:
    """The code of each open practice's group (open practices belong to groups in play)."""
    groups, rows = model.member_rows()
    member_of = rows[practices]
    if (member_of < 0).any():
        raise ValueError("an open practice belongs to a group that has ended")
    codes = [g.code for g in groups]
    return [codes[r] for r in member_of.tolist()]


def record_month(model: CommissioningModel) -> None:
    """The month's row of the ``monthly`` series (Mesa's DataCollector model variables)."""
    # the counters' national totals (exact integer sums, as the reporters' Python ints)
    model.month_totals = np.einsum("ij->j", model.month_result.counts).tolist()
    model.datacollector.collect(model)


def monthly_reporters() -> dict:
    """Model reporters of the monthly series: one column each, in table order."""
    reporters = {"month": lambda m: m.month, "year": lambda m: m.month // 12}
    for i, name in enumerate(COUNTER_NAMES):
        reporters[name] = (lambda j: lambda m: m.month_totals[j])(i)
    reporters["n_groups"] = lambda m: len(m.agents_by_type[CommissioningGroup])
    reporters["spend"] = lambda m: float(sum([sum(g.spent.values()) for g in m.groups.values()]))
    reporters["balance_total"] = lambda m: float(sum([g.balance for g in m.groups.values()]))
    return reporters


def expected_referrals_per_practice(model: CommissioningModel) -> np.ndarray:
    """Expected referrals a month per practice from the starting population under the levers
    in force now (hospital capacity planning in year 0)."""
    return model.population.expected_referrals(levers_of(model).refer, month=0)
