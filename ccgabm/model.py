"""CommissioningModel: the monthly order of play.

One step is one month; month 0 is April of the first financial year.

Order of play each month (the single place it is defined):

1. April only: the dilemma choice (if configured, in its decision year); co-commissioning
   adoption; the Board allocates each group its programme budget (need-weighted capitation,
   money following practices, pace of change) and running-cost allowance (cut from the
   running-cost cut year); groups set their policy levers; hospitals plan capacity.
2. October (``policy.forecast_month``): groups forecasting overspend propose a cut
   (procedures of limited clinical value or community services); members vote by list size;
   outvoted practices lose trust in the winners.
3. Practices set their referral probability (propensity x group policy and budget pressure).
4. Hospitals set which waiters they treat this month (longest waits first, within capacity).
5. Patients (vectorised kernel): deaths, new long-term conditions, elective treatment
   from the waiting list, emergency admissions, need and referral; new registrations.
6. Billing: each activity is charged to the patient's group at unit costs and paid to the
   group's hospital; groups pay a month of other services, running costs, referral
   management and community investment (co-commissioning groups receive delegated funds).
7. March only: groups close their accounts (surplus or deficit carried), the Board pays the
   quality premium to groups that did not overspend; annual panels are recorded; then the
   year-end rounds: trust updates, core-stability check, practice choices (switches and
   fractures, with Board approval), group fate (dissolution, mergers), practice closures.
8. The month's series row is recorded.
"""

from __future__ import annotations

import mesa
import numpy as np

from ccgabm.agents import CommissioningBoard, CommissioningGroup, Hospital, Practice
from ccgabm.agents.board import initial_distances
from ccgabm.config import Config
from ccgabm.dilemma import Dilemma
from ccgabm.dynamics import annual
from ccgabm.dynamics.trust import TrustNetwork
from ccgabm.kernels import (
    AGE_MAX,
    DAY_CASE,
    DEATHS,
    EMERGENCY,
    INPATIENT,
    LIST_END,
    N_COUNTERS,
    OUTPATIENT,
    REFERRALS,
    REGISTRATIONS,
)
from ccgabm.population import MonthResult, Population, PracticeLevers
from ccgabm.recorder import Recorder
from ccgabm.rng import Streams
from ccgabm.timing import PhaseClock
from ccgabm.world import build_world


class InvariantError(AssertionError):
    """A conservation law or structural rule of the model was broken."""


class CommissioningModel(mesa.Model):
    """GP practices, hospitals, commissioning groups and the Board over monthly steps."""

    def __init__(self, config: Config, seed: int | None = None) -> None:
        seed = config.run.seed if seed is None else int(seed)
        super().__init__(rng=seed)
        self.cfg = config
        self.seed = seed
        self.streams = Streams(seed)
        self.world = build_world(config, self.streams)
        self.month = 0
        self.horizon = config.run.years * 12
        self.recorder = Recorder()
        self.timings: dict[str, float] = {}

        self.board = CommissioningBoard(self, config.finance, self.world.scale)
        self.hospitals = [
            Hospital(self, h, name, config.hospital.capacity_ratio)
            for h, name in enumerate(self.world.hospital_names)
        ]
        self.groups: dict[str, CommissioningGroup] = {}
        for code in self.world.group_codes:
            group = CommissioningGroup(self, code, self.hospitals[self.world.group_hospital[code]])
            group.neighbours = set(self.world.neighbours.get(code, ()))
            self.groups[code] = group
        table = self.world.practices
        sd = config.referral.practice_variation_sd
        propensity = self.streams.get("practice.propensity").lognormal(-sd * sd / 2, sd, len(table))
        self.practices: list[Practice] = []
        for i, row in enumerate(table.itertuples(index=False)):
            practice = Practice(self, i, row.code, row.list_size, row.imd, propensity[i],
                                (float(row.x), float(row.y)))
            self.groups[row.group].add_member(practice)
            self.practices.append(practice)

        self._propensity = np.array([p.referral_propensity for p in self.practices])
        self.population = Population(
            config, table["list_size"].to_numpy(), table["imd"].to_numpy(), self.streams
        )
        self.patients_start = int(self.population.alive.sum())
        self.registrations_total = 0
        self.deaths_total = 0
        self._unit_costs = np.array([
            config.costs.outpatient, config.costs.day_case,
            config.costs.elective_inpatient, config.costs.non_elective,
        ])
        self._referrals_last_year = self._expected_referrals_per_practice() * 12.0
        self._quintiles_year = np.zeros((5, 2), dtype=np.int64)
        self._practice_spend_year = np.zeros(len(self.practices))
        self._activity_last_year: float | None = None
        self.practice_year_counts = np.zeros((len(self.practices), N_COUNTERS), dtype=np.int64)
        group_ids = np.array([self.world.group_codes.index(p.group.code) for p in self.practices])
        self.trust = TrustNetwork(group_ids, config.behaviour, self.streams.get("behaviour.trust"))
        self.votes_lost = np.zeros(len(self.practices), dtype=np.int64)
        self.core_stability: dict[tuple[int, str], bool] = {}
        self.dilemma = Dilemma.setup(self) if config.dilemma.choice != "none" else None
        for code in self.groups:
            self.recorder.event(0, "group_created", group=code)

    # ---- the monthly order of play -------------------------------------------------------
    def step(self) -> None:
        """Advance one month (see the module docstring for the order of play)."""
        clock = PhaseClock(self.timings)
        month = self.month
        if month % 12 == 0:
            self._start_financial_year(month // 12)
        if month % 12 == self.cfg.policy.forecast_month:
            annual.decommissioning_round(self)
        clock.lap("board")
        levers = self._practice_levers()
        clock.lap("practices")
        cutoffs = [h.treatment_cutoff() for h in self.hospitals]
        clock.lap("hospitals")
        result = self.population.step(
            month,
            np.array([p.list_size for p in self.practices], dtype=np.int64),
            levers,
            np.array([c[0] for c in cutoffs]),
            np.array([c[1] for c in cutoffs]),
            len(self.hospitals),
        )
        clock.lap("patients")
        self._account(result)
        if month % 12 == 11:
            self._close_financial_year(month // 12)
        clock.lap("groups")
        self._record_month(result)
        clock.lap("data")
        self.month += 1
        if self.month >= self.horizon:
            self.running = False

    def _practice_levers(self) -> PracticeLevers:
        """Referral, emergency and conversion multipliers set by practices and their groups.

        A practice refers a patient with a referable need with probability
        min(1, base x its persistent propensity x its group's referral multiplier).
        """
        groups = list(self.groups.values())
        index = {g.code: i for i, g in enumerate(groups)}
        member_of = np.array([index[p.group.code] for p in self.practices])
        refer_mult = np.array([g.referral_multiplier for g in groups])[member_of]
        base_refer = self.cfg.referral.refer_probability
        base_conversion = self.cfg.hospital.elective_conversion
        return PracticeLevers(
            refer=np.minimum(1.0, base_refer * self._propensity * refer_mult),
            emergency=np.array([g.emergency_multiplier for g in groups])[member_of],
            conversion=np.minimum(
                1.0, base_conversion * np.array([g.conversion_multiplier for g in groups])[member_of]
            ),
            hospital=np.array([g.hospital.index for g in groups])[member_of],
        )

    def run(self, months: int | None = None, progress: bool = False,
            check_invariants: bool = False) -> None:
        """Run to the horizon (or ``months`` more steps), optionally with a progress bar and
        a check of every conservation law after each month."""
        n = self.horizon - self.month if months is None else months
        steps = range(n)
        if progress:
            from tqdm import tqdm

            steps = tqdm(steps, desc="simulating", unit="month")
        if check_invariants:
            self.check_invariants()
        for _ in steps:
            self.step()
            if check_invariants:
                self.check_invariants()

    # ---- phases ---------------------------------------------------------------------------
    def _start_financial_year(self, year: int) -> None:
        beh = self.cfg.behaviour
        if self.dilemma is not None and year == self.cfg.dilemma.decision_year:
            self.dilemma.decide(self)
        annual.co_commissioning_round(self, year)
        weights = self.population.need_weights(self.month)
        for practice in self.practices:
            practice.need_weight = float(weights[practice.index])
        for group in self.active_groups:
            group.need_weight = float(sum(p.need_weight for p in group.members))
        draws = {}
        if year == 0:
            draws = initial_distances(
                list(self.groups), self.cfg.finance.initial_distance_sd,
                self.streams.get("board.initial_distance"),
            )
            if self.dilemma is not None:
                draws[self.dilemma.affluent] += self.cfg.dilemma.affluent_head_start
        cut = beh.running_cost_cut if year >= beh.running_cost_cut_year else 0.0
        self.board.allocate(self.active_groups, draws, allowance_cut=cut,
                            activity_last_year=self._activity_last_year)
        for group in self.active_groups:
            group.set_policy_levers(self.cfg.policy, beh.co_commissioning_investment)
        served_by = np.array([p.group.hospital.index for p in self.practices])
        referrals = np.bincount(served_by, weights=self._referrals_last_year,
                                minlength=len(self.hospitals))
        for hospital in self.hospitals:
            hospital.plan_capacity(float(referrals[hospital.index]))
        self._referrals_last_year = np.zeros(len(self.practices))

    def _account(self, result: MonthResult) -> None:
        counts = result.counts
        self.practice_year_counts += counts
        for practice, size in zip(self.practices, counts[:, LIST_END].tolist(), strict=True):
            practice.list_size = size
        activity = counts[:, [OUTPATIENT, DAY_CASE, INPATIENT, EMERGENCY]] @ self._unit_costs
        groups = self.active_groups
        index = {g.code: i for i, g in enumerate(groups)}
        member_of = np.array([index.get(p.group.code, -1) if p.open else -1 for p in self.practices])
        billed = np.bincount(member_of[member_of >= 0], weights=activity[member_of >= 0],
                             minlength=len(groups))
        for group, cost in zip(groups, billed.tolist(), strict=True):
            group.pay(cost, "activity")
            group.hospital.bill(cost)
            allocation = self.board.allocations.get(group.code, 0.0)
            co_investment = self.cfg.behaviour.co_commissioning_investment
            self.board.pay_delegated(group, group.delegated_budget(co_investment, allocation))
            group.pay_monthly_fixed_costs(self.cfg.policy, allocation, co_investment)
        self._practice_spend_year += activity
        for hospital in self.hospitals:
            hospital.waiting_hist = result.waiting_hist[hospital.index].copy()
        self._referrals_last_year += counts[:, REFERRALS]
        self.registrations_total += int(counts[:, REGISTRATIONS].sum())
        self.deaths_total += int(counts[:, DEATHS].sum())
        self._quintiles_year += result.quintiles

    def _close_financial_year(self, year: int) -> None:
        self._activity_last_year = sum(g.year_spent["activity"] for g in self.active_groups)
        for group in self.active_groups:
            row = group.close_year()
            row.update(year=year, group=group.code, need_weight=group.need_weight,
                       allocation=self.board.allocations.get(group.code, 0.0),
                       plcv_restricted=group.plcv_restricted, community_cuts=group.community_cuts,
                       co_commissioning=group.co_commissioning)
            self.recorder.group_year(row)
            if row["in_year_result"] < 0:
                self.recorder.event(self.month, "deficit", group=group.code,
                                    value=row["in_year_result"])
            premium = self.board.pay_quality_premium(group)
            if premium > 0:
                self.recorder.event(self.month, "quality_premium", group=group.code, value=premium)
        for practice in self.practices:
            if not practice.open:
                continue
            row = practice.close_year()
            row.update(year=year, practice=practice.code, group=practice.group.code,
                       imd=practice.imd, list_size=practice.list_size,
                       referral_propensity=practice.referral_propensity,
                       need_weight=practice.need_weight,
                       activity_spend=float(self._practice_spend_year[practice.index]),
                       votes_lost=int(self.votes_lost[practice.index]))
            self.recorder.practice_year(row)
        self.practice_year_counts[:] = 0
        for q in range(5):
            pm, em = self._quintiles_year[q]
            self.recorder.quintile_year({"year": year, "quintile": q + 1, "person_months": int(pm),
                                         "emergency": int(em)})
        self._quintiles_year[:] = 0
        annual.update_trust(self, self._practice_spend_year)
        view = annual.year_end_view(self)
        annual.record_core_stability(self, year, view)
        annual.practice_choices(self, view)
        annual.group_fate(self, year)
        annual.practice_closures(self, year)
        self._practice_spend_year[:] = 0.0

    def _record_month(self, result: MonthResult) -> None:
        totals = result.counts.sum(axis=0)
        from ccgabm.kernels import COUNTER_NAMES

        row = {"month": self.month, "year": self.month // 12}
        row.update({name: int(v) for name, v in zip(COUNTER_NAMES, totals, strict=True)})
        row["n_groups"] = len(self.active_groups)
        row["spend"] = float(sum(sum(g.spent.values()) for g in self.groups.values()))
        row["balance_total"] = float(sum(g.balance for g in self.groups.values()))
        self.recorder.month(row)

    # ---- organisational change ----------------------------------------------------------
    def move_practices(self, practices: list[Practice], target: CommissioningGroup,
                       reason: str) -> None:
        """Practices leave their group and join ``target`` (events: leave, join)."""
        for practice in practices:
            source = practice.group
            if source is target:
                continue
            target.add_member(practice)
            self.recorder.event(self.month, "leave", group=source.code, practice=practice.code,
                                detail=f"{reason} -> {target.code}")
            self.recorder.event(self.month, "join", group=target.code, practice=practice.code,
                                detail=f"{reason} <- {source.code}")

    def form_group(self, parent: CommissioningGroup, practices: list[Practice]) -> CommissioningGroup:
        """A coalition of ``parent``'s members leaves to form a new group."""
        n = sum(1 for code in self.groups if code.startswith(parent.code + "."))
        group = CommissioningGroup(self, f"{parent.code}.{n + 1}", parent.hospital)
        group.created_month = self.month + 1
        group.parent = parent.code
        group.neighbours = set(parent.neighbours) | {parent.code}
        for code in group.neighbours:
            if code in self.groups:
                self.groups[code].neighbours.add(group.code)
        self.groups[group.code] = group
        self.recorder.event(self.month, "group_created", group=group.code, value=len(practices),
                            detail=f"fracture of {parent.code}")
        share = sum(p.list_size for p in practices) / max(parent.population, 1)
        self._transfer(parent, group, parent.balance * share)  # debts and surpluses follow members
        self.move_practices(practices, group, reason="new group")
        return group

    def end_group(self, group: CommissioningGroup, fate: str,
                  receivers: list[CommissioningGroup]) -> None:
        """Retire a group: members go to ``receivers`` (one per member); balance follows them."""
        members = list(group.members)
        population = max(group.population, 1)
        for practice, receiver in zip(members, receivers, strict=True):
            share = group.balance * practice.list_size / population if receivers else 0.0
            self._transfer(group, receiver, share)
            self.move_practices([practice], receiver, reason=fate)
        if abs(group.balance) > 0 and receivers:
            self._transfer(group, receivers[0], group.balance)
        group.active = False
        group.fate = fate
        if fate == "fractured" and group.fracture_month is None:
            group.fracture_month = self.month
        group.ended_month = self.month + 1
        self.recorder.event(self.month, fate, group=group.code, value=len(members))

    def merge_groups(self, absorbed: CommissioningGroup, into: CommissioningGroup,
                     forced: bool) -> None:
        """``absorbed`` merges into ``into`` (Board-forced or voluntary)."""
        into.neighbours |= absorbed.neighbours - {into.code}
        self.recorder.event(self.month, "merger", group=into.code,
                            detail=f"{absorbed.code} ({'forced' if forced else 'voluntary'})")
        self.end_group(absorbed, "merged", [into] * len(absorbed.members))

    def close_practice(self, practice: Practice, rng: np.random.Generator) -> None:
        """A practice closes; its patients are dispersed among the group's other practices."""
        group = practice.group
        others = [p for p in group.members if p is not practice and p.open]
        moved = practice.list_size
        self.population.reassign(practice.index, np.array([p.index for p in others]), rng)
        sizes = self.population.list_sizes()
        for p in others + [practice]:
            p.list_size = int(sizes[p.index])
        group.members.remove(practice)
        practice.open = False
        practice.group = group  # keeps its last group for the record; no longer a member
        self.recorder.event(self.month, "practice_closed", group=group.code, practice=practice.code,
                            value=moved)

    def _transfer(self, source: CommissioningGroup, target: CommissioningGroup, amount: float) -> None:
        if source is target or amount == 0:
            return
        source.pay(amount, "transfer_out")
        target.receive(amount, "transfer_in")

    # ---- helpers -------------------------------------------------------------------------
    @property
    def active_groups(self) -> list[CommissioningGroup]:
        return [g for g in self.groups.values() if g.active]

    def list_sizes(self) -> np.ndarray:
        """Each practice's current list size (closed practices: 0)."""
        return np.array([p.list_size for p in self.practices], dtype=np.int64)

    def _expected_referrals_per_practice(self) -> np.ndarray:
        """Expected referrals a month per practice at the start (hospital capacity planning)."""
        pop = self.population
        alive = pop.alive == 1
        age = np.minimum((0 - pop.birth_month[alive].astype(np.int64)) // 12, AGE_MAX)
        need = pop.tables.need[age, pop.ltc[alive]]
        refer = self._practice_levers().refer
        practice = pop.practice[alive]
        return np.bincount(practice, weights=need * refer[practice], minlength=len(self.practices))

    def check_invariants(self) -> None:
        """Raise ``InvariantError`` if money, patients or membership are not conserved."""
        groups = list(self.groups.values())
        received = sum(sum(g.received.values()) for g in groups)
        transfers_in = sum(g.received["transfer_in"] for g in groups)
        transfers_out = sum(g.spent["transfer_out"] for g in groups)
        if abs(transfers_in - transfers_out) > 1e-6 * max(1.0, abs(received)):
            raise InvariantError(f"transfers in {transfers_in} != transfers out {transfers_out}")
        spent = sum(sum(g.spent.values()) for g in groups)
        balances = sum(g.balance for g in groups)
        scale = max(1.0, abs(received))
        if abs(self.board.paid_total - (received - transfers_in)) > 1e-9 * scale:
            raise InvariantError(f"Board paid {self.board.paid_total} but groups got {received}")
        if abs(received - spent - balances) > 1e-9 * scale:
            raise InvariantError(f"received {received} != spent {spent} + balances {balances}")
        activity = sum(g.spent["activity"] for g in groups)
        if any(p.open and not p.group.active for p in self.practices):
            raise InvariantError("a practice belongs to a group that no longer exists")
        income = sum(h.income for h in self.hospitals)
        if abs(activity - income) > 1e-9 * scale:
            raise InvariantError(f"groups paid {activity} for activity, hospitals got {income}")
        alive = int(self.population.alive.sum())
        expected = self.patients_start + self.registrations_total - self.deaths_total
        if alive != expected:
            raise InvariantError(f"patients: start + registrations - deaths = {expected}, "
                                 f"alive = {alive}")
        if sum(p.list_size for p in self.practices) != alive:
            raise InvariantError("practice list sizes do not add up to the registered population")
        member_of = [p.code for g in self.active_groups for p in g.members]
        if sorted(member_of) != sorted(p.code for p in self.practices if p.open):
            raise InvariantError("a practice is in no group or in more than one")
        if any(p.group is None or p not in p.group.members for p in self.practices if p.open):
            raise InvariantError("a practice's group does not list it as a member")
        if any((h.waiting_hist < 0).any() or h.monthly_capacity < 0 for h in self.hospitals):
            raise InvariantError("negative waiting list or capacity")
        if any(p.list_size < 0 for p in self.practices):
            raise InvariantError("negative list size")
        if any(v < 0 for g in groups for k, v in g.received.items() if k != "transfer_in"):
            raise InvariantError("negative allocation")
