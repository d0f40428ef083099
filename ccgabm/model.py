"""CommissioningModel: organisations as Mesa agents, patients as arrays, a declared schedule.

One step is one month; month 0 is April of the first financial year. ``step`` walks the order of
play declared in ``ccgabm.schedule`` (core phases in ``ccgabm.core``, behaviour phases in
``ccgabm.behaviours``); ``ccgabm schedule`` prints it.

Organisations are Mesa agents: ``model.agents_by_type[CommissioningGroup]`` holds the groups
in play and ``model.agents_by_type[Practice]`` the open practices; a group that ends and a
practice that closes leave with ``remove()``. ``model.groups`` keeps every group that ever
existed (by code, for their fates) and ``model.practices`` every practice by index (its row in
``model.practice_arrays``). ``model.datacollector`` is the record (Mesa's DataCollector).
"""

from __future__ import annotations

import dataclasses

import mesa
import numpy as np

from ccgabm import core
from ccgabm.agents import CommissioningBoard, CommissioningGroup, Hospital, Practice
from ccgabm.agents.group import CORE_INCOME_KINDS, CORE_SPEND_KINDS, TRANSFER_IN, TRANSFER_OUT
from ccgabm.agents.practice import PracticeArrays
from ccgabm.behaviours import REGISTERED, Behaviour
from ccgabm.config import Config
from ccgabm.events import Event
from ccgabm.invariants import check_invariants
from ccgabm.params import ConfigError
from ccgabm.patients import Population
from ccgabm.recorder import Recorder
from ccgabm.rng import Streams
from ccgabm.schedule import ScheduledPhase, bind
from ccgabm.timing import PhaseClock
from ccgabm.world import build_world, check_size


class CommissioningModel(mesa.Model):
    """GP practices, hospitals, commissioning groups and the Board over monthly steps."""

    def __init__(self, config: Config, seed: int | None = None, *, force: bool = False) -> None:
        """Build the world and organisations of ``config``; ``seed`` (default ``[run] seed``)
        is an integer 0 <= seed < 2**63. Raises ``ConfigError`` for a config or seed it cannot
        use, and for a run whose estimated memory exceeds what is available unless ``force``
        (``ccgabm.world.check_size``)."""
        if not isinstance(config, Config):
            raise ConfigError(
                "config must be a ccgabm.config.Config (from load_config or Config()), "
                f"got {type(config).__name__}"
            )
        if seed is not None:
            if isinstance(seed, bool | np.bool_) or not isinstance(seed, int | np.integer):
                raise ConfigError(
                    f"seed = {seed!r} is not allowed: must be an integer between 0 and 2**63 - 1"
                )
            if not 0 <= int(seed) < 2**63:
                raise ConfigError(f"seed = {seed} is out of range: must be between 0 and 2**63 - 1")
        seed = config.run.seed if seed is None else int(seed)
        check_size(config, force=force)
        super().__init__(rng=seed)
        # The scenario as given, and the configuration in force now: with a dated timeline,
        # the scenario's values until the timeline's first phase (month 0) applies its states.
        self.scenario_cfg = config
        self.timeline_states = config.timeline_states() if config.timeline else {}
        self.cfg = dataclasses.replace(config, timeline=()) if config.timeline else config
        self.seed = seed
        self.streams = Streams(seed)
        self.world = build_world(config, self.streams)
        self.horizon = config.run.years * 12
        # Mesa's step wrapper counts the step before running it: refuse a step past the horizon
        # before it counts one, so the clock never passes the horizon
        self._mesa_step, self.step = self.step, self._step_within_horizon
        self._in_step = False
        self.timings: dict[str, float] = {}
        self.membership_version = 0  # changes whenever a group or a membership does
        self.levers_version = 0  # changes whenever a group sets its levers or propensities change
        self.practice_levers_key: tuple | None = None  # what ``model.levers`` were set under
        self._member_rows: tuple[int, list, np.ndarray, np.ndarray] | None = None
        self._member_levers: tuple[tuple[int, int], tuple[np.ndarray, ...]] | None = None
        self._hooks: dict[str, list] = {}
        self.behaviours: dict[str, Behaviour] = {cls.name: cls(self) for cls in REGISTERED}
        spend = [k for b in REGISTERED for k in b.spend_kinds]
        income = [k for b in REGISTERED for k in b.income_kinds]
        self.ledger_kinds = ((*CORE_SPEND_KINDS, *spend, TRANSFER_OUT),
                             (*CORE_INCOME_KINDS, *income, TRANSFER_IN))

        self.board = CommissioningBoard(self, self.world.scale)
        self.hospitals = [
            Hospital(self, h, name, config.hospital.capacity_ratio)
            for h, name in enumerate(self.world.hospital_names)
        ]
        # every hospital's waiting list (months waited), one row each: the hospitals' views
        self.waiting_hists = np.array([h.waiting_hist for h in self.hospitals])
        for hospital in self.hospitals:
            hospital.waiting_hist = self.waiting_hists[hospital.index]
        self.groups: dict[str, CommissioningGroup] = {}
        for code in self.world.group_codes:
            group = CommissioningGroup(self, code, self.hospitals[self.world.group_hospital[code]])
            group.neighbours = set(self.world.neighbours.get(code, ()))
            self.groups[code] = group
        table = self.world.practices
        sd = config.referral.practice_variation_sd
        propensity = self.streams.get("practice.propensity").lognormal(-sd * sd / 2, sd, len(table))
        self.practice_arrays = PracticeArrays.build(
            table["code"].to_numpy(), table["list_size"].to_numpy(), table["imd"].to_numpy(),
            propensity, table["x"].to_numpy(dtype=float), table["y"].to_numpy(dtype=float),
        )
        if "footprint" in table:
            for code, footprint in zip(table["group"].tolist(), table["footprint"].tolist(),
                                       strict=True):
                self.groups[code].footprint = str(footprint)
        self.practices: list[Practice] = []
        for i, code in enumerate(table["group"].tolist()):
            practice = Practice(self, i, self.practice_arrays)
            self.groups[code].add_member(practice)
            self.practices.append(practice)
        # every group each practice has belonged to (a move back to one is a return)
        self.member_of_before: list[set[str]] = [{p.group.code} for p in self.practices]
        self.joined_month = np.zeros(len(self.practices), dtype=np.int64)  # current membership
        # practices whose list sizes closures changed and nobody has counted yet (None: count
        # at once; see close_practice)
        self.stale_list_sizes: list[Practice] | None = None

        self.population = Population(
            config, table["list_size"].to_numpy(), table["imd"].to_numpy(), self.streams
        )
        self.patients_start = int(self.population.alive.sum())
        self.registrations_total = 0
        self.deaths_total = 0
        self.unit_costs = np.array([
            config.costs.outpatient, config.costs.day_case,
            config.costs.elective_inpatient, config.costs.non_elective,
        ])
        self.quintiles_year = np.zeros((5, 2), dtype=np.int64)
        self.first_year_activity = 0.0  # the national activity bill of the first year
        # practices' monthly emergency baselines: the first year's (set when it closes) and
        # last year's (each year end), for the emergency payment rules
        self.emergency_baseline: np.ndarray | None = None
        self.emergency_last_year: np.ndarray | None = None
        self.datacollector = Recorder(core.monthly_reporters())
        for behaviour in self.behaviours.values():
            behaviour.setup()
        self.schedule: list[ScheduledPhase] = bind(self)
        for code in self.groups:
            self.record(Event.GROUP_CREATED, group=code)

    # ---- the clock ---------------------------------------------------------------------------
    @property
    def month(self) -> int:
        """The month being played during a step, the next to play between steps (0 = April of
        year 0). Mesa's ``steps`` is the one clock; it counts a step before running it."""
        return self.steps - 1 if self._in_step else self.steps

    def _step_within_horizon(self) -> None:
        if self.steps >= self.horizon:
            raise ConfigError(
                f"the run has reached its horizon of {self.horizon} months "
                f"([run] years = {self.cfg.run.years}); build a new model to run longer"
            )
        self._mesa_step()

    # ---- the monthly order of play -----------------------------------------------------------
    def step(self) -> None:
        """Advance one month: every phase of ``self.schedule`` due this month, in order."""
        self._in_step = True
        try:
            month = self.month
            forecast_month = self.cfg.policy.forecast_month
            clock = PhaseClock(self.timings)
            for entry in self.schedule:
                if entry.phase.when.due(month, forecast_month):
                    entry.call()
                    clock.lap(entry.phase.name)
            if month + 1 >= self.horizon:
                self.running = False
        finally:
            self._in_step = False

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

    def check_invariants(self) -> None:
        """Raise ``InvariantError`` if money, patients or membership are not conserved."""
        check_invariants(self)

    # ---- what behaviours and views read --------------------------------------------------------
    @property
    def active_groups(self) -> list[CommissioningGroup]:
        """Groups in play, in order of creation (Mesa's AgentSet of CommissioningGroup)."""
        return list(self.agents_by_type[CommissioningGroup])

    def member_rows(self) -> tuple[list[CommissioningGroup], np.ndarray]:
        """Groups in play (``active_groups``) and each practice's row among them (-1: its group
        has ended); recomputed only after membership or the groups in play change."""
        if self._member_rows is None or self._member_rows[0] != self.membership_version:
            groups = self.active_groups
            index = {g.code: i for i, g in enumerate(groups)}
            rows = np.array([index.get(p.group.code, -1) for p in self.practices], dtype=np.int64)
            bins = np.where(self.practice_arrays.open & (rows >= 0), rows, len(groups))
            self._member_rows = (self.membership_version, groups, rows, bins)
        return self._member_rows[1], self._member_rows[2]

    def billing_rows(self) -> tuple[list[CommissioningGroup], np.ndarray]:
        """Groups in play (``active_groups``) and each practice's row among them for billing:
        ``len(groups)`` for a closed practice and one whose group has ended; recomputed only
        after membership or the groups in play change."""
        groups, _ = self.member_rows()
        return groups, self._member_rows[3]

    def member_levers(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Each practice's group's referral, emergency and conversion multipliers and hospital
        index (a closed practice whose group has ended: the first group's); recomputed only
        after membership changes or a group sets its levers."""
        key = (self.membership_version, self.levers_version)
        if self._member_levers is None or self._member_levers[0] != key:
            groups, rows = self.member_rows()
            member_of = np.maximum(rows, 0)
            self._member_levers = (key, tuple(
                np.array([getattr(g, name) for g in groups])[member_of]
                for name in ("referral_multiplier", "emergency_multiplier",
                             "conversion_multiplier")) + (
                np.array([g.hospital.index for g in groups])[member_of],))
        return self._member_levers[1]

    def hooks(self, name: str) -> list:
        """The behaviours' ``name`` hooks that do something (those overriding
        ``Behaviour``'s no-op), bound, in registration order."""
        if name not in self._hooks:
            self._hooks[name] = [getattr(b, name) for b in self.behaviours.values()
                                 if getattr(type(b), name) is not getattr(Behaviour, name)]
        return self._hooks[name]

    def list_sizes(self) -> np.ndarray:
        """Each practice's current list size (closed practices: 0)."""
        return self.practice_arrays.list_size.copy()

    def record(self, kind: Event, group: str = "", practice: str = "",
               value: float = float("nan"), detail: str = "") -> None:
        """Record an event this month."""
        self.datacollector.event(self.month, kind, group=group, practice=practice, value=value,
                                 detail=detail)

    # ---- organisational change ----------------------------------------------------------------
    def move_practices(self, practices: list[Practice], target: CommissioningGroup,
                       reason: str, carry_balance: bool = True) -> None:
        """Practices leave their group and join ``target`` (events: leave, join).

        Each takes its share of its old group's balance (surplus or debt, by list size) unless
        ``carry_balance`` is false (a group that ends places its balance itself).
        """
        if carry_balance:
            leaving: dict[str, int] = {}
            for practice in practices:
                if practice.group is not target:
                    leaving[practice.group.code] = leaving.get(practice.group.code, 0) + \
                        practice.list_size
            for code, size in leaving.items():
                source = self.groups[code]
                population = source.population
                if population > 0:
                    self.transfer(source, target, source.balance * size / population)
        for practice in practices:
            source = practice.group
            if source is target:
                continue
            target.add_member(practice)
            self.member_of_before[practice.index].add(target.code)
            self.joined_month[practice.index] = self.month
            self.record(Event.LEAVE, group=source.code, practice=practice.code,
                        detail=f"{reason} -> {target.code}")
            self.record(Event.JOIN, group=target.code, practice=practice.code,
                        detail=f"{reason} <- {source.code}")

    def form_group(self, parent: CommissioningGroup, practices: list[Practice]) -> CommissioningGroup:
        """A coalition of ``parent``'s members leaves to form a new group.

        The new group takes the founders' share of the parent's balance and inherits the
        parent's decisions and record (each behaviour's ``group_formed``: cuts in force,
        failing years); it applies for delegated budgets afresh.
        """
        n = sum(1 for code in self.groups if code.startswith(parent.code + "."))
        group = CommissioningGroup(self, f"{parent.code}.{n + 1}", parent.hospital)
        group.created_month = self.month + 1
        group.parent = parent.code
        group.footprint = parent.footprint
        group.neighbours = set(parent.neighbours) | {parent.code}
        group.community_factor = parent.community_factor
        for code in group.neighbours:
            if code in self.groups:
                self.groups[code].neighbours.add(group.code)
        self.groups[group.code] = group
        for behaviour in self.behaviours.values():
            behaviour.group_formed(group, parent)
        self.record(Event.GROUP_CREATED, group=group.code, value=len(practices),
                    detail=f"fracture of {parent.code}")
        self.move_practices(practices, group, reason="new group")
        return group

    def end_group(self, group: CommissioningGroup, fate: Event,
                  receivers: list[CommissioningGroup], detail: str = "") -> None:
        """Retire a group: members go to ``receivers`` (one per member); balance follows them."""
        members = list(group.members)
        population = max(group.population, 1)
        balance = group.balance  # shared out by list size as it stands before any transfer
        for practice, receiver in zip(members, receivers, strict=True):
            share = balance * practice.list_size / population
            self.transfer(group, receiver, share)
            self.move_practices([practice], receiver, reason=fate, carry_balance=False)
        if abs(group.balance) > 0 and receivers:
            self.transfer(group, receivers[0], group.balance)
        group.retire(fate, self.month)
        self.record(fate, group=group.code, value=len(members), detail=detail)

    def merge_groups(self, absorbed: CommissioningGroup, into: CommissioningGroup,
                     fate: Event) -> None:
        """``absorbed`` merges into ``into`` (``fate``: one of ``ccgabm.events.MERGERS``)."""
        into.neighbours |= absorbed.neighbours - {into.code}
        self.end_group(absorbed, fate, [into] * len(absorbed.members), detail=into.code)

    def close_practice(self, practice: Practice, rng: np.random.Generator) -> None:
        """A practice closes; its patients are dispersed among the group's other practices.

        Their list sizes are counted now, or, while ``stale_list_sizes`` is a list, added to
        it for ``recount_list_sizes`` (so that several closures share one count).
        """
        group = practice.group
        others = [p for p in group.members if p is not practice and p.open]
        moved = practice.list_size
        self.population.reassign(practice.index, np.array([p.index for p in others]), rng)
        if self.stale_list_sizes is None:
            self._count_list_sizes(others + [practice])
        else:
            self.stale_list_sizes += others + [practice]
        group.remove_member(practice)
        practice.close()  # keeps its last group for the record; no longer a member
        self.record(Event.PRACTICE_CLOSED, group=group.code, practice=practice.code, value=moved)

    def recount_list_sizes(self) -> None:
        """Count the list sizes ``stale_list_sizes`` holds, and empty it."""
        if self.stale_list_sizes:
            self._count_list_sizes(self.stale_list_sizes)
            self.stale_list_sizes = []

    def _count_list_sizes(self, practices: list[Practice]) -> None:
        sizes = self.population.list_sizes()
        for p in practices:
            p.list_size = int(sizes[p.index])

    def transfer(self, source: CommissioningGroup, target: CommissioningGroup, amount: float) -> None:
        """Move money between groups (a balance following practices)."""
        if source is target or amount == 0:
            return
        source.pay(amount, TRANSFER_OUT)
        target.receive(amount, TRANSFER_IN)
