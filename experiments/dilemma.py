"""Finding 1 — the dilemma (Pulse, 2014): stay, join the affluent group, or negotiate both in.

A practice joining the affluent group gains budget per need; inequality between it and its old
deprived neighbours widens; the joined group's fracture risk rises with the deprivation gap and
falls with trust. The sweep crosses the choice with the deprivation gap and initial trust.

    python experiments/dilemma.py [--quick] [--out DIR] [--jobs N]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from ccgabm.findings import (
    PUBLISHED,
    Experiment,
    Report,
    md_table,
    newcombe_difference,
    paired_difference,
    parse_args,
    proportion,
)
from ccgabm.findings.figures import plt, save

ROOT = Path(__file__).resolve().parents[1]  # the repository: configs/ and results/
NAME = "dilemma"
CHOICE = "dilemma.choice"
GAP = "region.deprivation_gap"
TRUST = "behaviour.initial_trust"
QUICK = {
    "replications": 1,
    "axes": {GAP: [0.0, 30.0], TRUST: [0.6]},
    "fixed": {"region.target_population": 40000, "region.practices_per_group": 5, "run.years": 3,
              "world.scale": 1.0},
}


def _pooled_paired(runs, metric, baseline, scenario, scale=100.0):
    """join/negotiate minus stay per (replication, gap, trust) cell, pooled; x ``scale``."""
    keys = ["replication", GAP, TRUST]
    a = runs[runs[CHOICE] == baseline].set_index(keys)[metric].astype(float)
    b = runs[runs[CHOICE] == scenario].set_index(keys)[metric].astype(float)
    a, b = a.align(b, join="inner")
    d = (scale * (b - a)).reset_index()
    # average over the gap x trust cells of each replication: replications are the independent
    # units (common random numbers make cells of one replication correlated)
    per_rep = d.groupby("replication")[metric].mean()
    from ccgabm.findings import mean_interval

    return mean_interval(per_rep)


def _trend(runs, choice, axis):
    """P(affluent group fractures): highest minus lowest level of ``axis`` (pooled)."""
    df = runs[runs[CHOICE] == choice]
    lo, hi = df[axis].min(), df[axis].max()
    a = df.loc[df[axis] == lo, "dilemma_affluent_fractured"].astype(bool)
    b = df.loc[df[axis] == hi, "dilemma_affluent_fractured"].astype(bool)
    return newcombe_difference(int(b.sum()), len(b), int(a.sum()), len(a)), lo, hi


def main(argv: list[str] | None = None):
    args = parse_args(NAME, __doc__.splitlines()[0], argv, root=ROOT)
    exp = Experiment(NAME, args, quick=QUICK)
    outcome = exp.run()
    runs = outcome.runs.copy()
    runs["dilemma_affluent_fractured"] = runs["dilemma_affluent_fractured"].astype(bool)

    budget = _pooled_paired(runs, "dilemma_budget_per_need_gap", "stay", "join")
    spend = _pooled_paired(runs, "dilemma_spend_per_need_gap", "stay", "join")
    budget_neg = _pooled_paired(runs, "dilemma_budget_per_need_gap", "stay", "negotiate")
    spend_neg = _pooled_paired(runs, "dilemma_spend_per_need_gap", "stay", "negotiate")
    default_gap, default_trust = 15.0, 0.6
    at_default = runs[(runs[GAP] == default_gap) & (runs[TRUST] == default_trust)]
    budget_default = (paired_difference(at_default, CHOICE, "stay", "join",
                                        "dilemma_budget_per_need_gap", relative=False)
                      if len(at_default) else None)
    gap_trend, gap_lo, gap_hi = _trend(runs, "join", GAP)
    trust_trend, trust_lo, trust_hi = _trend(runs, "join", TRUST)

    report = Report(exp, "The dilemma: stay, join the affluent group, or negotiate both in",
                    "What happens to the practice's patients, to its old deprived neighbours, and "
                    "to the joined group's fracture risk as the deprivation gap and trust vary?")
    report.outcomes.append(outcome)
    report.add("budget per need of the practice vs its old neighbours, join minus stay "
               "(percentage points, pooled over gap x trust)", budget, PUBLISHED["dilemma_budget"],
               "pp")
    report.add("spend per need of the practice vs its old neighbours, join minus stay "
               "(percentage points): inequality", spend, PUBLISHED["dilemma_inequality"], "pp")
    report.add(f"P(affluent group fractures within the run | join): gap {gap_hi:g} minus gap "
               f"{gap_lo:g}", gap_trend, PUBLISHED["dilemma_gap"], digits=3)
    report.add(f"P(affluent group fractures within the run | join): trust {trust_hi:g} minus "
               f"trust {trust_lo:g}", trust_trend, PUBLISHED["dilemma_trust"], digits=3)

    rows = []
    for (choice, gap, trust), df in runs.groupby([CHOICE, GAP, TRUST]):
        p = proportion(int(df["dilemma_affluent_fractured"].sum()), len(df))
        rows.append({"choice": choice, "gap": gap, "trust": trust, "n": len(df),
                     "budget_gap_%": 100 * df["dilemma_budget_per_need_gap"].mean(),
                     "spend_gap_%": 100 * df["dilemma_spend_per_need_gap"].mean(),
                     "emergency_gap_per_1000": df["dilemma_emergency_gap_per_1000"].mean(),
                     "P_affluent_fractured": p.value, "ci_low": p.low, "ci_high": p.high,
                     "P_deprived_fractured": df["dilemma_deprived_fractured"].astype(bool).mean()})
    cells = pd.DataFrame(rows)
    report.section("By choice, deprivation gap and trust (gaps: practice vs its old neighbours, "
                   "% of the neighbours' figure; fracture with 95% Wilson CI)", md_table(cells))
    lines = [
        f"- negotiate minus stay, budget per need gap: {budget_neg.format(2, 'pp')}",
        f"- negotiate minus stay, spend per need gap: {spend_neg.format(2, 'pp')}",
    ]
    if budget_default is not None:
        lines.append(f"- join minus stay, budget per need gap at the default gap 15 / trust 0.6: "
                     f"{100 * budget_default.value:.2f} pp (95% CI {100 * budget_default.low:.2f} "
                     f"to {100 * budget_default.high:.2f})")
    for choice in ("stay", "join", "negotiate"):
        df = runs[runs[CHOICE] == choice]
        p = proportion(int(df["dilemma_affluent_fractured"].sum()), len(df))
        lines.append(f"- P(affluent group fractures), {choice}, pooled: {p.format(3)}")
    report.section("Other comparisons", "\n".join(lines))
    report.section("Interpretation", f"""
The Pulse report makes qualitative claims, so "inside" means the model's effect has the
published sign with a 95% interval that excludes zero.

**Budget per need.** The Board allocates by need-weighted capitation and moves each group 30% of
its distance from target a year (`finance.pace_of_change`). The affluent group starts 3% above
target (`dilemma.affluent_head_start`, an assumption), and every group draws a starting distance
with SD 5% (`finance.initial_distance_sd`). A practice that joins takes its need weight with it,
so its budget per need becomes the affluent group's. The average gain over the years after the
decision is therefore small and shrinks as allocations converge on target; in single worlds the
random starting distances can make the deprived group the better-funded one. Model: join minus
stay = {budget.value:.2f} pp (95% CI {budget.low:.2f} to {budget.high:.2f}).

**Inequality.** Spend per need reflects activity (referrals, admissions) of the practice's own
patients, which depends on its group's policies (decommissioning cuts, referral restraint under
deficit). Model: join minus stay = {spend.value:.2f} pp (95% CI {spend.low:.2f} to
{spend.high:.2f}).

**Fracture risk of the joined group.** Fracture needs a decommissioning vote that outvotes
members, lost trust, and a coalition that prefers leaving. Only groups forecasting an overspend
vote, so at the model's default budget pressure (0) votes are rare and fractures few; the
differences across gap and trust are estimated from {len(runs[runs[CHOICE] == 'join'])} 'join'
runs and their intervals are wide. Gap {gap_hi:g} vs {gap_lo:g}: {gap_trend.value:+.3f}; trust
{trust_hi:g} vs {trust_lo:g}: {trust_trend.value:+.3f} (Newcombe 95% intervals in the table).
Replications at one point share seeds across points (common random numbers), so proportions at
different points are not independent; the Newcombe interval treats them as independent and is
conservative for positively correlated outcomes.
""")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), sharey=True)
    for ax, axis in zip(axes, (GAP, TRUST), strict=True):
        for choice, colour in (("stay", "tab:grey"), ("join", "tab:blue"),
                               ("negotiate", "tab:green")):
            df = runs[runs[CHOICE] == choice]
            g = df.groupby(axis)["dilemma_affluent_fractured"].agg(["sum", "count"])
            ps = [proportion(int(s), int(n)) for s, n in zip(g["sum"], g["count"], strict=True)]
            x = np.asarray(g.index, float)
            ax.errorbar(x, [p.value for p in ps],
                        yerr=[[p.value - p.low for p in ps], [p.high - p.value for p in ps]],
                        marker="o", capsize=3, color=colour, label=choice)
        ax.set_xlabel(axis)
        ax.set_ylim(-0.02, 1.02)
    axes[0].set_ylabel("P(affluent group fractures), 95% Wilson CI")
    axes[0].legend(fontsize=8)
    fig.suptitle("Fracture risk of the affluent group by choice")
    fig.tight_layout()
    report.figure("Fracture risk of the affluent group by deprivation gap and trust (pooled over "
                  "the other axis)", save(fig, exp.out / "fracture_risk.png"))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, col, label in ((axes[0], "dilemma_budget_per_need_gap", "budget per need gap (%)"),
                           (axes[1], "dilemma_spend_per_need_gap", "spend per need gap (%)")):
        data = [100 * runs.loc[runs[CHOICE] == c, col].astype(float).dropna()
                for c in ("stay", "join", "negotiate")]
        ax.boxplot(data, tick_labels=["stay", "join", "negotiate"])
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_ylabel(label)
    fig.suptitle("The practice vs its old deprived neighbours (years after the decision)")
    fig.tight_layout()
    report.figure("Budget and spend per need of the practice relative to its old neighbours",
                  save(fig, exp.out / "gaps.png"))
    return report.write()


if __name__ == "__main__":
    print(main(sys.argv[1:]))
