"""The dilemma (Pulse, 2012): a deprived practice next to an affluent, successful group.

Choices (``[dilemma] choice``): ``stay`` with its historic deprived partners; ``join`` the
affluent group alone; ``negotiate`` both it and its closest partner into the affluent group.
The focal practice is the deprived group's practice nearest the affluent group's centre; its
partner is its nearest fellow member; its *old neighbours* are the deprived group's other
starting members (the partner left out, so that the comparison set is the same under every
choice). The affluent group starts ``affluent_head_start`` above its capitation target.

**The decision** (start of financial year ``decision_year``, before the Board allocates). For
``join`` and ``negotiate`` two parties must agree before anybody moves:

1. *the affluent group's consent*: its members vote, weighted by list size. A member accepts
   the newcomers when its list-size-weighted mean trust in them is at least
   ``acceptance_trust``, or when they do not dilute the group's budget per need by more than
   ``acceptance_dilution``. Money follows practices (``CommissioningBoard.allocate``): the
   newcomers bring their own group's budget per need, so the dilution is

       1 - [(R_a N_a + sum_i r_i n_i) / (N_a + sum_i n_i)] / R_a

   with ``R_a`` the affluent group's budget per need last year, ``N_a`` its members' need,
   ``r_i`` each newcomer's group's budget per need last year and ``n_i`` its need (capitation
   need weights of the patients registered now). Before the first allocation (decision year
   0) every group is taken at its target rate and the affluent group at ``1 +
   affluent_head_start`` times it. The vote passes with more than ``behaviour.vote_majority``
   of the list-size-weighted vote (the rule of decommissioning votes);
2. *the Board's approval* (``CommissioningBoard.approve_switch``): the affluent group must be an
   active neighbour and the group left behind must keep the minimum viable population
   (``behaviour.min_group_population`` x ``world.scale``) unless it is below it already.

Each decision is an event (``dilemma_decision``: who decided what). If either refuses, nobody
moves. If both agree, the newcomers move with their share of their group's balance, and the
relation between them and the members who voted to accept them starts ``welcome`` of the way
from its current trust towards ``behaviour.initial_trust`` (the level co-members' trust drifts
to; ``ccgabm.behaviours.trust``): a group that votes a practice in treats it as a member.

**The outcomes** are measured over the ``outcome_years`` financial years starting at the
decision year (fewer when the run ends first; ``dilemma_window_years`` says how many), for the
focal practice's patients and for its old neighbours' patients, in whichever group each
practice was that year (``outcomes``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ccgabm.behaviours.base import Behaviour
from ccgabm.events import MERGERS, Event
from ccgabm.params import ASSUMED, ConfigError, param
from ccgabm.schedule import Phase, When


@dataclass(frozen=True)
class DilemmaParams:
    choice: str = param(
        "none", choices=("none", "stay", "join", "negotiate"),
        source="Pulse: stay with deprived partners, join the affluent group, or negotiate both "
        "practices into it",
    )
    decision_year: int = param(1, lo=0, hi=50, unit="financial year index", source=ASSUMED)
    affluent_head_start: float = param(
        0.03, lo=-0.5, hi=0.5, unit="share above capitation target",
        source="Pulse: the affluent group is 'successful' (assumed 3% above target)",
    )
    acceptance_trust: float = param(
        0.45, lo=0.0, hi=1.0, unit="trust (0..1)",
        source=ASSUMED + ": a member accepts newcomers it trusts at least this much (midway "
        "between the defaults of trust_outside, 0.3, and initial_trust, 0.6)",
    )
    acceptance_dilution: float = param(
        0.01, lo=0.0, hi=1.0, unit="share of the group's budget per need",
        source=ASSUMED + ": a member accepts newcomers who dilute the group's budget per need "
        "by no more than the 0.5%-1% surplus NHS England's business rules ask CCGs to plan",
    )
    welcome: float = param(
        1.0, lo=0.0, hi=1.0, unit="share of the way to initial_trust",
        source=ASSUMED + ": newcomers and the members who voted to accept them start as "
        "co-members (0: they start as outsiders)",
    )
    outcome_years: int = param(
        3, lo=1, hi=50, unit="financial years",
        source=ASSUMED + ": outcomes are measured over this many years from the decision year",
    )


@dataclass
class Sides:
    """Who decides (focal practice and partner), between which groups, and the old neighbours
    (the deprived group's other starting members, partner excluded)."""

    focal: str
    partner: str
    deprived: str
    affluent: str
    neighbours: tuple[str, ...] = ()


@dataclass
class Decision:
    """What the affluent group and the Board decided (NaN: not asked)."""

    acceptance_share: float = float("nan")  # list-size-weighted share of members accepting
    dilution: float = float("nan")  # of the affluent group's budget per need
    accepted: bool | float = float("nan")
    approved: bool | float = float("nan")
    moved: bool = False

    def figures(self) -> dict[str, Any]:
        return {"dilemma_acceptance_share": self.acceptance_share,
                "dilemma_dilution": self.dilution,
                "dilemma_group_accepted": self.accepted,
                "dilemma_board_approved": self.approved,
                "dilemma_moved": self.moved}


# What a cohort's practice-years got (``cohort_figures``).
COHORT_FIGURES = ("budget_per_need", "spend_per_need", "mean_wait_months", "restricted_share",
                  "emergency_per_1000")
# Event kinds whose risk within the window is reported for the affluent and deprived groups.
RISK_KINDS: dict[str, tuple[Event, ...]] = {
    "fracture": (Event.FRACTURE,),
    "defection": (Event.DEFECTION,),
    "return": (Event.RETURN,),
    "merger": MERGERS,
    "dissolved": (Event.DISSOLVED,),
}


class Dilemma(Behaviour):
    name = "dilemma"
    params = {"dilemma": DilemmaParams}
    events = (Event.DILEMMA_CHOICE, Event.DILEMMA_DECISION, Event.JOIN, Event.LEAVE)
    phases = (Phase("dilemma", When.YEAR_START, 10, "decide",
                    "in the decision year, the focal practice's choice ([dilemma] choice; off by "
                    "default): for join or negotiate the affluent group votes on accepting the "
                    "newcomers and the Board approves the move, or nobody moves"),)
    requires = ("trust", "decommissioning")
    figures = (
        "dilemma_acceptance_share", "dilemma_dilution", "dilemma_group_accepted", "dilemma_board_approved",
        "dilemma_moved", "dilemma_window_years", "dilemma_budget_per_need_gap",
        "dilemma_spend_per_need_gap", "dilemma_emergency_gap_per_1000", "dilemma_wait_gap_months",
        *(f"dilemma_{who}_{k}" for who in ("focal", "neighbours") for k in COHORT_FIGURES),
        *(f"dilemma_{side}_{k}" for side in ("affluent", "deprived") for k in (*RISK_KINDS, "result_share")),
        "dilemma_focal_in_affluent_end", "dilemma_focal_returned",
    )

    @classmethod
    def check_config(cls, cfg) -> None:
        if cfg.dilemma.choice != "none" and cfg.dilemma.decision_year >= cfg.run.years:
            raise ConfigError(
                f"[dilemma] decision_year = {cfg.dilemma.decision_year} is not allowed with "
                f"[run] years = {cfg.run.years}: the decision must fall within the run "
                f"(0 to {cfg.run.years - 1})"
            )

    @property
    def on(self) -> bool:
        return self.cfg.dilemma.choice != "none"

    def setup(self) -> None:
        """Focal: the deprived group's practice nearest the affluent group; partner: its nearest."""
        self.sides: Sides | None = None
        self.decision = Decision()
        if not self.on:
            return
        model = self.model
        groups = list(model.groups.values())
        if len(groups) < 2:
            raise ConfigError(f"[dilemma] choice = {self.cfg.dilemma.choice!r} needs a world of at "
                              f"least 2 groups (this one has {len(groups)})")
        mean_imd = {g.code: np.average([p.imd for p in g.members],
                                       weights=[p.list_size for p in g.members]) for g in groups}
        affluent = min(mean_imd, key=mean_imd.get)
        deprived = max(mean_imd, key=mean_imd.get)
        if mean_imd[affluent] == mean_imd[deprived]:
            raise ConfigError(f"[dilemma] choice = {self.cfg.dilemma.choice!r} needs groups that "
                              "differ in deprivation: every group has the same mean IMD score")
        if len(model.groups[deprived].members) < 2:
            raise ConfigError(f"[dilemma] choice = {self.cfg.dilemma.choice!r} needs at least 2 "
                              f"practices in the most deprived group ({deprived} has "
                              f"{len(model.groups[deprived].members)})")
        centre = np.mean([p.position for p in model.groups[affluent].members], axis=0)
        candidates = model.groups[deprived].members
        focal = min(candidates, key=lambda p: float(np.hypot(*(np.array(p.position) - centre))))
        others = [p for p in candidates if p is not focal]
        partner = min(others, key=lambda p: float(np.hypot(*(np.array(p.position) -
                                                               np.array(focal.position)))))
        model.groups[deprived].neighbours.add(affluent)
        model.groups[affluent].neighbours.add(deprived)
        neighbours = tuple(p.code for p in others if p is not partner)
        self.sides = Sides(focal.code, partner.code, deprived, affluent, neighbours)

    def adjust_initial_distances(self, draws: dict[str, float]) -> None:
        if self.sides is not None:
            draws[self.sides.affluent] += self.cfg.dilemma.affluent_head_start

    # ---- the decision ------------------------------------------------------------------------
    def decide(self) -> None:
        """In the decision year: the affluent group's consent, the Board's approval, the move."""
        model, sides = self.model, self.sides
        if sides is None or model.month // 12 != self.cfg.dilemma.decision_year:
            return
        choice = self.cfg.dilemma.choice
        model.record(Event.DILEMMA_CHOICE, group=sides.deprived, practice=sides.focal,
                     detail=choice)
        if choice == "stay":
            return
        by_code = {p.code: p for p in model.practices}
        codes = [sides.focal] if choice == "join" else [sides.focal, sides.partner]
        target = model.groups[sides.affluent]
        movers = [by_code[c] for c in codes if by_code[c].open and by_code[c].group is not target]
        if movers:  # one source group: the focal practice's (or the partner's if it closed)
            movers = [p for p in movers if p.group is movers[0].group]
        if not target.active or not target.members or not movers:
            why = ("the affluent group is no longer in play" if not target.active or
                   not target.members else "no practice left to move (closed, or in the affluent group "
                   "already)")
            model.record(Event.DILEMMA_DECISION, group=sides.affluent, practice=sides.focal,
                         detail=f"not decided: {why}; nobody moves")
            return
        source = movers[0].group
        share, dilution, yes = self.consent(target, movers)
        accepted = share > model.cfg.behaviour.vote_majority
        self.decision = Decision(acceptance_share=share, dilution=dilution, accepted=accepted)
        vote = (f"affluent group: {'accepted' if accepted else 'refused'} {share:.2f} "
                f"(dilution {100 * dilution:.2f}%)")
        if not accepted:
            model.record(Event.DILEMMA_DECISION, group=sides.affluent, practice=sides.focal,
                         value=share, detail=f"{vote}; Board: not asked; nobody moves")
            return
        beh = model.cfg.behaviour
        minimum = beh.min_group_population * model.world.scale
        approved = model.board.approve_switch(source, target, sum(p.list_size for p in movers),
                                              minimum)
        self.decision.approved = approved
        if not approved:
            model.record(Event.DILEMMA_DECISION, group=sides.affluent, practice=sides.focal,
                         value=share, detail=f"{vote}; Board: refused (not a neighbour, or "
                         f"{source.code} would fall below the minimum viable population); "
                         "nobody moves")
            return
        model.record(Event.DILEMMA_DECISION, group=sides.affluent, practice=sides.focal,
                     value=share, detail=f"{vote}; Board: approved; "
                     f"{', '.join(p.code for p in movers)} move")
        self.welcome([p.index for p in movers], [p.index for p in yes])
        model.move_practices(movers, target, reason="dilemma")
        self.decision.moved = True

    def consent(self, target, movers: list) -> tuple[float, float, list]:
        """The affluent group's vote: (list-size-weighted share accepting, dilution, members
        accepting)."""
        model = self.model
        cfg = self.cfg.dilemma
        trust = model.behaviours["trust"].network.trust
        need = model.population.need_weights(model.month)  # what this April's allocation uses
        members = list(target.members)
        rate = self.rates(members + movers)
        member_idx = np.array([p.index for p in members])
        mover_idx = np.array([p.index for p in movers])
        n_a, n_new = float(need[member_idx].sum()), float(need[mover_idx].sum())
        r_a = float(np.dot(rate[:len(members)], need[member_idx]) / n_a) if n_a > 0 else 0.0
        brought = float(np.dot(rate[len(members):], need[mover_idx]))
        ok = r_a > 0 and n_a + n_new > 0
        dilution = 1.0 - (r_a * n_a + brought) / (n_a + n_new) / r_a if ok else 0.0
        sizes = np.maximum([p.list_size for p in movers], 1).astype(float)
        trust_in_newcomers = trust[np.ix_(member_idx, mover_idx)].astype(float) @ sizes / sizes.sum()
        accepts = (trust_in_newcomers >= cfg.acceptance_trust) | (dilution <= cfg.acceptance_dilution)
        weights = np.array([p.list_size for p in members], dtype=float)
        share = float(weights[accepts].sum() / weights.sum()) if weights.sum() > 0 else 0.0
        return share, float(dilution), [p for p, a in zip(members, accepts, strict=True) if a]

    def rates(self, practices: list) -> np.ndarray:
        """Each practice's group budget per need last year (the rate it brings to the next
        allocation); before the first allocation, its group's target times (1 + the head
        start, for the affluent group)."""
        board = self.model.board
        if all(p.index in board.practice_rate for p in practices):
            return np.array([board.practice_rate[p.index] for p in practices])
        head = self.cfg.dilemma.affluent_head_start
        return np.array([1.0 + head if p.group.code == self.sides.affluent else 1.0
                         for p in practices])

    def welcome(self, newcomers: list[int], accepting: list[int]) -> None:
        """Newcomers and the members who voted them in move ``welcome`` of the way towards
        ``initial_trust`` in each other (both directions; trust above it is kept)."""
        w = self.cfg.dilemma.welcome
        if w <= 0 or not newcomers or not accepting:
            return
        network = self.model.behaviours["trust"].network
        network.raise_towards_members(np.array(newcomers), np.array(accepting), w)
        network.raise_towards_members(np.array(accepting), np.array(newcomers), w)

    # ---- results -----------------------------------------------------------------------------
    def summary(self, tables: dict[str, pd.DataFrame], fates: pd.DataFrame) -> dict[str, Any]:
        if self.sides is None:
            return {}
        figures = self.decision.figures()
        figures.update(outcomes(tables["practice_year"], tables["group_year"], tables["events"],
                                self.sides, self.cfg.dilemma.decision_year,
                                self.cfg.dilemma.outcome_years))
        return figures


def cohort_figures(rows: pd.DataFrame, group_year: pd.DataFrame) -> dict[str, float]:
    """A cohort's practice-years (``practice_year`` rows): what their patients got.

    - ``budget_per_need``: need-weighted mean of the budget per need of the group each practice
      was in that year (allocation / need weight, from ``group_year``);
    - ``spend_per_need``: activity spend per unit of need;
    - ``mean_wait_months``: mean wait of the patients treated (outpatient first treatment);
    - ``restricted_share``: share of person-months in a group with a procedure (PLCV)
      restriction in force at the year's close; NaN when no behaviour records restrictions;
    - ``emergency_per_1000``: emergency admissions per 1,000 person-years.
    """
    nan = float("nan")
    if rows.empty:
        return dict.fromkeys(COHORT_FIGURES, nan)
    cols = ["year", "group", "allocation", "need_weight"]
    if "plcv_restrictions" in group_year.columns:
        cols.append("plcv_restrictions")
    groups = group_year[cols].rename(columns={"need_weight": "group_need_weight"})
    merged = rows.merge(groups, on=["year", "group"], how="left")
    need = merged["need_weight"].astype(float)
    rate = merged["allocation"] / merged["group_need_weight"].where(merged["group_need_weight"] > 0)
    ok = rate.notna() & (need > 0)
    budget = float((rate[ok] * need[ok]).sum() / need[ok].sum()) if ok.any() else nan

    def ratio(num: float, den: float, scale: float = 1.0) -> float:
        return float(scale * num / den) if den > 0 else nan

    pm = float(merged["person_months"].sum())
    if "plcv_restrictions" in merged.columns:
        restricted = merged["plcv_restrictions"].fillna(0) > 0
        restricted_share = ratio(float(merged.loc[restricted, "person_months"].sum()), pm)
    else:
        restricted_share = nan
    return {
        "budget_per_need": budget,
        "spend_per_need": ratio(float(merged["activity_spend"].sum()), float(need.sum())),
        "mean_wait_months": ratio(float(merged["wait_months_treated"].sum()),
                                  float(merged["outpatient"].sum())),
        "restricted_share": restricted_share,
        "emergency_per_1000": ratio(float(merged["emergency"].sum()), pm, 12000.0),
    }


def group_at(events: pd.DataFrame, practice: str, start: str, before_month: int) -> str | None:
    """The group ``practice`` was in just before ``before_month`` (``start``: its first group),
    following its join events; None when it closed before then."""
    mine = events[(events["practice"] == practice) & (events["month"] < before_month)]
    if (mine["kind"] == str(Event.PRACTICE_CLOSED)).any():
        return None
    joins = mine[mine["kind"] == str(Event.JOIN)].sort_index(kind="stable")
    return str(joins["group"].iloc[-1]) if len(joins) else start


def outcomes(practice_year: pd.DataFrame, group_year: pd.DataFrame, events: pd.DataFrame,
             sides: Sides, decision_year: int, outcome_years: int) -> dict[str, Any]:
    """Outcomes over the window: financial years ``decision_year`` to ``decision_year +
    outcome_years - 1`` (those the run reached), months ``12 decision_year`` to ``12 (decision_year
    + outcome_years) - 1``.

    For the focal practice's patients and for its old neighbours' (``cohort_figures``, prefixed
    ``dilemma_focal_`` and ``dilemma_neighbours_``) and the gaps between them: budget and spend
    per need (relative, focal / neighbours - 1), emergency admissions per 1,000 and mean wait
    (differences). For the affluent and the deprived group, whether each kind of event of
    ``RISK_KINDS`` happened to it within the window, and its in-year results over the window
    as a share of its allocations (``dilemma_<side>_result_share``, the years it was in play;
    negative: deficits). Whether the focal practice was in the
    affluent group at the end of the window, and whether it went back (a ``return``) within it.
    NaN where a figure is undefined (no old neighbour left, the practice closed).
    """
    nan = float("nan")
    first_year = int(practice_year["year"].min()) if len(practice_year) else decision_year
    last_year = int(practice_year["year"].max()) if len(practice_year) else decision_year - 1
    end_year = min(decision_year + outcome_years, last_year + 1)  # first year after the window
    start_month, end_month = 12 * decision_year, 12 * end_year
    window = practice_year[(practice_year["year"] >= decision_year)
                           & (practice_year["year"] < end_year)]
    focal = cohort_figures(window[window["practice"] == sides.focal], group_year)
    neighbours = cohort_figures(window[window["practice"].isin(sides.neighbours)], group_year)

    def rel(a: float, b: float) -> float:
        return a / b - 1.0 if b and np.isfinite(a) and np.isfinite(b) else nan

    out: dict[str, Any] = {
        "dilemma_focal": sides.focal,
        "dilemma_window_years": max(end_year - decision_year, 0),
        "dilemma_budget_per_need_gap": rel(focal["budget_per_need"], neighbours["budget_per_need"]),
        "dilemma_spend_per_need_gap": rel(focal["spend_per_need"], neighbours["spend_per_need"]),
        "dilemma_emergency_gap_per_1000": focal["emergency_per_1000"]
        - neighbours["emergency_per_1000"],
        "dilemma_wait_gap_months": focal["mean_wait_months"] - neighbours["mean_wait_months"],
    }
    out.update({f"dilemma_focal_{k}": v for k, v in focal.items()})
    out.update({f"dilemma_neighbours_{k}": v for k, v in neighbours.items()})
    inside = events[(events["month"] >= start_month) & (events["month"] < end_month)]
    years = group_year[(group_year["year"] >= decision_year) & (group_year["year"] < end_year)]
    for side, code in (("affluent", sides.affluent), ("deprived", sides.deprived)):
        theirs = inside.loc[inside["group"] == code, "kind"]
        for name, kinds in RISK_KINDS.items():
            out[f"dilemma_{side}_{name}"] = bool(theirs.isin([str(k) for k in kinds]).any())
        rows = years[years["group"] == code]
        allocated = float(rows["allocation"].sum())
        out[f"dilemma_{side}_result_share"] = (
            float(rows["in_year_result"].sum()) / allocated
            if "in_year_result" in rows.columns and allocated > 0 else nan)
    start_group = practice_year.loc[(practice_year["year"] == first_year)
                                    & (practice_year["practice"] == sides.focal), "group"]
    start = str(start_group.iloc[0]) if len(start_group) else sides.deprived
    at_end = group_at(events, sides.focal, start, end_month)
    out["dilemma_focal_in_affluent_end"] = nan if at_end is None else at_end == sides.affluent
    returns = inside[(inside["kind"] == str(Event.JOIN)) & (inside["practice"] == sides.focal)
                     & inside["detail"].astype(str).str.startswith(str(Event.RETURN))]
    out["dilemma_focal_returned"] = bool(len(returns))
    return out
