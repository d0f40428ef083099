"""Finding 1 — the dilemma (Pulse, 2012): stay, join the affluent group, or negotiate both in.

A deprived practice next to an affluent, successful group can stay with its historic partners,
join the affluent group alone, or negotiate itself and its closest partner in. For join and
negotiate the affluent group's members vote on accepting the newcomers and the Board approves
the move; if either refuses, nobody moves (``ccgabm.behaviours.dilemma``). Outcomes are measured
over the ``dilemma.outcome_years`` (3) financial years from the decision, for the practice's
patients and its old neighbours', with the risk of each organisational event for the affluent
and deprived groups. The sweep crosses the choice with the deprivation gap and initial trust.

    python experiments/dilemma.py [--quick] [--out DIR] [--jobs N]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from ccgabm.findings import (
    PUBLISHED,
    Estimate,
    Experiment,
    Report,
    md_table,
    mean_interval,
    newcombe_difference,
    parse_args,
    proportion,
)
from ccgabm.findings.figures import plt, save

ROOT = Path(__file__).resolve().parents[1]  # the repository: configs/ and results/
NAME = "dilemma"
CHOICE = "dilemma.choice"
GAP = "region.deprivation_gap"
TRUST = "behaviour.initial_trust"
CELL = ["replication", GAP, TRUST]
CHOICES = ("stay", "join", "negotiate")
QUICK = {
    "replications": 1,
    "axes": {GAP: [0.0, 30.0], TRUST: [0.6]},
    "fixed": {"region.target_population": 40000, "region.practices_per_group": 5, "run.years": 4,
              "world.scale": 1.0},
}
# (figure, label, scale): outcomes of each cohort over the window
OUTCOMES = (
    ("budget_per_need", "budget per need (GBP allocated per GBP of capitation need)", 1.0),
    ("spend_per_need", "activity spend per need (GBP per GBP of need)", 1.0),
    ("mean_wait_months", "mean wait of patients treated (months)", 1.0),
    ("restricted_share", "share of patient-time under procedure (PLCV) restrictions", 1.0),
    ("emergency_per_1000", "emergency admissions per 1,000 a year", 1.0),
)
COHORTS = (("focal", "the practice"), ("neighbours", "its old neighbours"))
RISKS = ("fracture", "defection", "return", "merger", "dissolved")


def _numeric(runs: pd.DataFrame, col: str) -> pd.Series:
    """A summary column as floats (flags: 1/0; undefined, written as null: NaN)."""
    return runs[col].map(lambda v: np.nan if v is None else float(v)).astype(float)


def _level(runs: pd.DataFrame, choice: str, col: str, scale: float = 1.0) -> Estimate:
    """Mean of ``col`` under ``choice``: averaged over the gap x trust cells of each replication,
    then a t-interval over replications (the independent units)."""
    df = runs[runs[CHOICE] == choice]
    per_rep = (scale * _numeric(df, col)).groupby(df["replication"]).mean()
    return mean_interval(per_rep)


def _paired(runs: pd.DataFrame, col: str, baseline: str, scenario: str, scale: float = 1.0,
            relative: bool = False) -> Estimate:
    """Scenario minus baseline in each (replication, gap, trust) cell (common random numbers),
    averaged over the cells of each replication, t-interval over replications; x ``scale``, or
    in % of the baseline when ``relative``."""
    a = runs[runs[CHOICE] == baseline].set_index(CELL)
    b = runs[runs[CHOICE] == scenario].set_index(CELL)
    x, y = _numeric(a, col), _numeric(b, col)
    x, y = x.align(y, join="inner")
    d = 100.0 * (y - x) / x if relative else scale * (y - x)
    d = d.replace([np.inf, -np.inf], np.nan)
    per_rep = d.groupby(level="replication").mean()
    est = mean_interval(per_rep)
    return Estimate(est.value, est.low, est.high, est.n, "paired t (common random numbers)")


def _share(df: pd.DataFrame, col: str) -> Estimate:
    """Proportion of runs where the flag ``col`` is true (runs where it is undefined left out),
    with its Wilson interval."""
    x = _numeric(df, col).dropna()
    return proportion(int((x == 1).sum()), len(x))


def _trend(runs: pd.DataFrame, choice: str, axis: str, col: str):
    """P(``col``) at the highest minus the lowest level of ``axis`` (pooled), Newcombe."""
    df = runs[runs[CHOICE] == choice]
    lo, hi = df[axis].min(), df[axis].max()
    a = _numeric(df[df[axis] == lo], col).dropna()
    b = _numeric(df[df[axis] == hi], col).dropna()
    return newcombe_difference(int(b.sum()), len(b), int(a.sum()), len(a)), lo, hi


def _fmt(est: Estimate, digits: int = 3) -> str:
    if not np.isfinite(est.value):
        return "n/a"
    if not (np.isfinite(est.low) and np.isfinite(est.high)):
        return f"{est.value:.{digits}g} (n={est.n})"
    return f"{est.value:.{digits}g} ({est.low:.{digits}g} to {est.high:.{digits}g})"


def main(argv: list[str] | None = None):
    args = parse_args(NAME, __doc__.splitlines()[0], argv, root=ROOT)
    exp = Experiment(NAME, args, quick=QUICK)
    outcome = exp.run()
    runs = outcome.runs.copy()
    window = int(_numeric(runs, "dilemma_window_years").max())
    n_reps = runs["replication"].nunique()
    cells = runs.groupby([GAP, TRUST]).ngroups

    budget = _paired(runs, "dilemma_focal_budget_per_need", "stay", "join", relative=True)
    spend = _paired(runs, "dilemma_spend_per_need_gap", "stay", "join", scale=100.0)
    gap_trend, gap_lo, gap_hi = _trend(runs, "join", GAP, "dilemma_affluent_fracture")
    trust_trend, trust_lo, trust_hi = _trend(runs, "join", TRUST, "dilemma_affluent_fracture")

    report = Report(exp, "The dilemma: stay, join the affluent group, or negotiate both in",
                    "Does the affluent group take the practice in, and does the Board allow it? "
                    f"Over the {window} financial years from the decision, what happens to the "
                    "practice's patients, to its old deprived neighbours', and to the affluent and "
                    "deprived groups, as the deprivation gap and trust vary?")
    report.outcomes.append(outcome)
    report.add(f"budget per need of the practice's patients over the {window} years from the "
               "decision, join vs stay (%, paired, pooled over gap x trust; refusals count as "
               "choosing to join)", budget, PUBLISHED["dilemma_budget"], "%")
    report.add("spend per need of the practice vs its old neighbours, join minus stay "
               "(percentage points): inequality", spend, PUBLISHED["dilemma_inequality"], "pp")
    report.add(f"P(affluent group fractures within the window | join): gap {gap_hi:g} minus gap "
               f"{gap_lo:g}", gap_trend, PUBLISHED["dilemma_gap"], digits=3)
    report.add(f"P(affluent group fractures within the window | join): trust {trust_hi:g} minus "
               f"trust {trust_lo:g}", trust_trend, PUBLISHED["dilemma_trust"], digits=3)

    # ---- the decision -----------------------------------------------------------------------
    rows = []
    for choice in ("join", "negotiate"):
        df = runs[runs[CHOICE] == choice]
        accepted = _share(df, "dilemma_group_accepted")
        approved = _share(df, "dilemma_board_approved")
        moved = _share(df, "dilemma_moved")
        rows.append({"choice": choice, "runs": len(df),
                     "affluent group accepts": accepted.format(2),
                     "Board approves (if accepted)": approved.format(2),
                     "practices moved": moved.format(2),
                     "mean dilution of budget per need (%)":
                         100 * float(_numeric(df, "dilemma_dilution").mean())})
    decision = pd.DataFrame(rows)
    by_gap = (runs[runs[CHOICE] != "stay"].assign(moved=lambda d: _numeric(d, "dilemma_moved"))
              .groupby([CHOICE, GAP])["moved"].mean().unstack(GAP))
    by_gap.columns = [f"moved, gap {c:g}" for c in by_gap.columns]
    report.section("The decision: the affluent group's vote and the Board (share of runs, 95% "
                   "Wilson CI)", md_table(decision) + "\n\n" + md_table(by_gap.reset_index()))

    # ---- outcomes by choice -----------------------------------------------------------------
    rows = []
    for key, label, scale in OUTCOMES:
        for cohort, who in COHORTS:
            col = f"dilemma_{cohort}_{key}"
            row = {"outcome": label, "patients of": who}
            for choice in CHOICES:
                row[choice] = _fmt(_level(runs, choice, col, scale))
            for choice in ("join", "negotiate"):
                row[f"{choice} - stay"] = _fmt(_paired(runs, col, "stay", choice, scale))
            rows.append(row)
    report.section(f"Outcomes over the {window} financial years from the decision (mean over "
                   f"replications, 95% t-interval; differences paired by common random numbers; "
                   f"{n_reps} replications x {cells} gap x trust cells)",
                   md_table(pd.DataFrame(rows)))

    # ---- event risks --------------------------------------------------------------------------
    rows = []
    for side in ("affluent", "deprived"):
        for kind in RISKS:
            col = f"dilemma_{side}_{kind}"
            row = {"group": side, "event within the window": kind}
            for choice in CHOICES:
                row[choice] = _share(runs[runs[CHOICE] == choice], col).format(3)
            rows.append(row)
    for col, label in (("dilemma_focal_in_affluent_end", "practice in the affluent group at the "
                        "end of the window"),
                       ("dilemma_focal_returned", "practice went back (a return)")):
        row = {"group": "practice", "event within the window": label}
        for choice in CHOICES:
            row[choice] = _share(runs[runs[CHOICE] == choice], col).format(3)
        rows.append(row)
    results = []
    for side in ("affluent", "deprived"):
        row = {"group": side}
        for choice in CHOICES:
            row[choice] = _fmt(_level(runs, choice, f"dilemma_{side}_result_share", 100.0))
        results.append(row)
    report.section("Risk of each event within the window (share of runs, 95% Wilson CI; pooled "
                   "over gap x trust)", md_table(pd.DataFrame(rows)) + "\n\nA return is a "
                   "practice going back to a group it belonged to (for the affluent group: a "
                   "newcomer going home); a defection is a move to a group it never belonged to; "
                   "a practice placed by the Board when its group is dissolved does neither.\n\n"
                   "In-year results of each group over the window, % of its allocations (the "
                   "years it was in play; negative: deficits; mean over replications, 95% "
                   "t-interval):\n\n" + md_table(pd.DataFrame(results)))

    # ---- cells ------------------------------------------------------------------------------
    rows = []
    for (choice, gap, trust), df in runs.groupby([CHOICE, GAP, TRUST]):
        rows.append({"choice": choice, "gap": gap, "trust": trust, "n": len(df),
                     "moved": float(_numeric(df, "dilemma_moved").mean()),
                     "budget_gap_%": 100 * float(_numeric(df, "dilemma_budget_per_need_gap").mean()),
                     "spend_gap_%": 100 * float(_numeric(df, "dilemma_spend_per_need_gap").mean()),
                     "emergency_gap_per_1000":
                         float(_numeric(df, "dilemma_emergency_gap_per_1000").mean()),
                     "P_affluent_fracture": float(_numeric(df, "dilemma_affluent_fracture").mean()),
                     "P_affluent_dissolved":
                         float(_numeric(df, "dilemma_affluent_dissolved").mean()),
                     "P_deprived_fracture": float(_numeric(df, "dilemma_deprived_fracture").mean()),
                     "P_in_affluent_end":
                         float(_numeric(df, "dilemma_focal_in_affluent_end").mean())})
    report.section("By choice, deprivation gap and trust (gaps: the practice vs its old "
                   "neighbours, % of the neighbours' figure; P: share of runs)",
                   md_table(pd.DataFrame(rows)))

    # ---- interpretation ------------------------------------------------------------------------
    join = runs[runs[CHOICE] == "join"]
    negotiate = runs[runs[CHOICE] == "negotiate"]
    moved_join, moved_neg = _share(join, "dilemma_moved"), _share(negotiate, "dilemma_moved")
    stayed = _share(join[_numeric(join, "dilemma_moved") == 1], "dilemma_focal_in_affluent_end")
    returned = _share(join[_numeric(join, "dilemma_moved") == 1], "dilemma_focal_returned")
    moved_runs = join[_numeric(join, "dilemma_moved") == 1]
    no_dilution = proportion(int((_numeric(moved_runs, "dilemma_dilution") <= 0).sum()),
                             len(moved_runs))
    approved_join = _share(join, "dilemma_board_approved")
    approved_neg = _share(negotiate, "dilemma_board_approved")
    dissolved = {c: _share(runs[runs[CHOICE] == c], "dilemma_affluent_dissolved") for c in CHOICES}
    budget_moved = _paired(runs[(runs[CHOICE] == "stay") | (_numeric(runs, "dilemma_moved") == 1)],
                           "dilemma_focal_budget_per_need", "stay", "join", relative=True)
    report.section("Interpretation", f"""
The Pulse report makes qualitative claims, so "inside" means the model's effect has the
published sign with a 95% interval that excludes zero. Every figure is measured over the
{window} financial years from the decision (`dilemma.outcome_years`; years after the window do
not count), in whichever group each practice was in each year.

**What is put in and what comes out.** Put in (cited or assumed parameters): need-weighted
capitation with 30% of each group's distance from target closed a year
(`finance.pace_of_change`), starting distances with SD 5% (`finance.initial_distance_sd`), the
affluent group's 3% head start (`dilemma.affluent_head_start`, assumed), the acceptance rule
(`dilemma.acceptance_trust` 0.45 and `dilemma.acceptance_dilution` 1%, assumed), the welcome of
accepted newcomers (`dilemma.welcome`, assumed), the Board's minimum viable population
(`behaviour.min_group_population`, NHS CB 2012) and 2% budget pressure (the scenario). The
baseline activity rates behind spend, waits and emergency admissions are calibrated to
published ranges (tests/test_calibration.py). Everything in the tables above emerges: whether
the affluent group accepts, the budget and spend the practice's patients get, waits and
restrictions, and the events that happen to the two groups.

**The decision.** Money follows practices, so newcomers bring their old group's budget per need
and dilute the affluent group's. A member accepts when it trusts the newcomers at least 0.45 or
the dilution is at most 1%; members start trusting practices of other groups at 0.3, so at the
default trust the vote turns on the dilution. The affluent group took the practice in, and the
Board approved, in {moved_join.format(2)} of 'join' runs and in {moved_neg.format(2)} of
'negotiate' runs (two newcomers dilute the budget per need about twice as much as one, so
near the threshold negotiating both in is refused where joining alone is not). The Board
refuses only when the deprived group would fall below the minimum viable population; it
approved {approved_join.format(2)} of the accepted 'join' moves and
{approved_neg.format(2)} of the accepted 'negotiate' moves.

**Staying.** An accepted newcomer starts as a co-member of the members who voted it in
(`dilemma.welcome` = 1: trust between them starts at `behaviour.initial_trust`); with
`welcome` = 0 it would trust its new partners as outsiders (0.3) and its old ones as partners,
and go home at the first year end (even in a calm world; tests/test_dilemma.py). Of 'join'
runs where the practice moved, it was still in the
affluent group at the end of the window in {stayed.format(2)} and went back in
{returned.format(2)}. A practice also leaves the affluent group when the Board dissolves it
and places its members.

**The 'successful' group.** The affluent group starts 3% above its capitation target (the pace
of change erodes the head start), but its patients' activity costs more, relative to their
capitation need weights, than the deprived group's: under 'stay' its in-year results over the
window were
{_fmt(_level(runs, 'stay', 'dilemma_affluent_result_share', 100.0), 2)} % of its allocations,
against {_fmt(_level(runs, 'stay', 'dilemma_deprived_result_share', 100.0), 2)} % for the
deprived group (mean, 95% CI). At 2% budget pressure the Board dissolves a group after 3 failing
years (`behaviour.dissolve_after_years`), and it dissolved the affluent group within the window
in {dissolved['stay'].format(2)} of 'stay' runs, {dissolved['join'].format(2)} of 'join' runs
and {dissolved['negotiate'].format(2)} of 'negotiate' runs. In this model, joining the affluent
group means joining the group more likely to fail, and the practice is usually placed back with
its old partners when it does; this is emergent (need weights and activity are calibrated
separately) and is the main reason the choices differ little over the window.

**Budget per need.** A practice that joins takes its need weight with it, and its budget per
need becomes the affluent group's blend, which then moves 30% a year towards target. Choosing
to join (refusals included, where nothing changes): {budget.format(2, '%')}; in the cells where
the move happened: {budget_moved.format(2, '%')} (selected worlds: the move is accepted when
the dilution is small, i.e. when the two groups' budgets per need are close). The vote
selects against the practice: members accept most readily when the newcomers bring at least the
group's own budget per need (no dilution: {no_dilution.format(2)} of the accepted 'join'
moves), which is when joining gains the practice least, and refuse where the gain would be
largest. The random starting distances (SD 5% each) outweigh the 3% head start in many worlds.

**Inequality.** Spend per need reflects the activity of the practice's own patients, which
depends on its group's policies (decommissioning cuts and procedure restrictions voted under
deficit, referral restraint). Join minus stay, spend per need of the practice relative to its
old neighbours: {spend.format(2, 'pp')}.

**Fracture risk of the joined group.** A fracture needs a coalition of members that prefers a
group of its own (trust lost in decommissioning votes and in deficit years of unfair spend) and
that the Board's rules allow; within a {window}-year window few groups fracture, and the
differences across gap and trust are estimated from {len(join)}
'join' runs with wide intervals. Gap {gap_hi:g} vs {gap_lo:g}: {gap_trend.value:+.3f}; trust
{trust_hi:g} vs {trust_lo:g}: {trust_trend.value:+.3f} (Newcombe 95% intervals in the table
above). Replications share seeds across points (common random numbers), so proportions at
different points are not independent; the Newcombe and Wilson intervals treat runs as
independent, which is conservative for differences of positively correlated outcomes.
""")

    # ---- figures ------------------------------------------------------------------------------
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    colours = {"stay": "tab:grey", "join": "tab:blue", "negotiate": "tab:green"}
    for ax, side in zip(axes, ("affluent", "deprived"), strict=True):
        x = np.arange(len(RISKS))
        for k, choice in enumerate(CHOICES):
            df = runs[runs[CHOICE] == choice]
            ps = [_share(df, f"dilemma_{side}_{kind}") for kind in RISKS]
            ax.errorbar(x + (k - 1) * 0.2, [p.value for p in ps],
                        yerr=[[max(p.value - p.low, 0) for p in ps],
                              [max(p.high - p.value, 0) for p in ps]],
                        fmt="o", capsize=3, color=colours[choice], label=choice)
        ax.set_xticks(x, RISKS)
        ax.set_title(f"{side} group")
        ax.set_ylim(-0.02, 1.02)
    axes[0].set_ylabel(f"P(event within {window} years), 95% Wilson CI")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    report.figure("Risk of each event for the affluent and deprived groups within the window, by "
                  "choice (pooled over gap and trust)", save(fig, exp.out / "event_risks.png"))

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, axis in zip(axes, (GAP, TRUST), strict=True):
        for choice in CHOICES:
            df = runs[runs[CHOICE] == choice]
            flags = _numeric(df, "dilemma_affluent_fracture")
            g = flags.groupby(df[axis]).agg(["sum", "count"])
            ps = [proportion(int(s), int(n)) for s, n in zip(g["sum"], g["count"], strict=True)]
            ax.errorbar(np.asarray(g.index, float), [p.value for p in ps],
                        yerr=[[max(p.value - p.low, 0) for p in ps],
                              [max(p.high - p.value, 0) for p in ps]],
                        marker="o", capsize=3, color=colours[choice], label=choice)
        ax.set_xlabel(axis)
        ax.set_ylim(-0.02, 1.02)
    axes[0].set_ylabel("P(affluent group fractures), 95% Wilson CI")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Fracture risk of the affluent group within {window} years of the decision")
    fig.tight_layout()
    report.figure("Fracture risk of the affluent group by deprivation gap and trust (pooled over "
                  "the other axis)", save(fig, exp.out / "fracture_risk.png"))

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, col, label in ((axes[0], "dilemma_budget_per_need_gap", "budget per need gap (%)"),
                           (axes[1], "dilemma_spend_per_need_gap", "spend per need gap (%)")):
        data = [100 * _numeric(runs[runs[CHOICE] == c], col).dropna() for c in CHOICES]
        ax.boxplot(data, tick_labels=list(CHOICES))
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_ylabel(label)
    fig.suptitle(f"The practice vs its old deprived neighbours ({window} years from the decision)")
    fig.tight_layout()
    report.figure("Budget and spend per need of the practice relative to its old neighbours",
                  save(fig, exp.out / "gaps.png"))
    return report.write()


if __name__ == "__main__":
    print(main(sys.argv[1:]))
