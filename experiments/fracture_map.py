"""Finding 6 — fracture map: P(a group fractures within 5 and 10 years) and the cumulative
incidence of every organisational event across budget pressure x deprivation spread within
groups x trust inside groups, with the traced cause of each fracture and defection.

Runs the sweep, then ``ccgabm.analysis.analyze`` (tables, heatmaps, cumulative incidence
under competing risks) and adds the directional checks and a table of causes: how many
fractures followed lost decommissioning votes, how many followed the Board placing members
of a group it dissolved or merged by force into the group that fractured.

    python experiments/fracture_map.py [--quick] [--replications N] [--out DIR] [--jobs N]
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from ccgabm.analysis import analyze, fracture_indicators
from ccgabm.findings import (
    PUBLISHED,
    Experiment,
    Report,
    md_table,
    newcombe_difference,
    parse_args,
)

ROOT = Path(__file__).resolve().parents[1]  # the repository: configs/ and results/
NAME = "fracture_map"
PRESSURE = "finance.budget_pressure"
SPREAD = "region.imd_sd_within_group"
TRUST = "behaviour.initial_trust"
QUICK = {
    "replications": 1,
    "axes": {PRESSURE: [0.0, 0.02], SPREAD: [4.0, 20.0], TRUST: [0.4, 0.8]},
    "fixed": {"region.target_population": 600000, "world.scale": 0.05, "run.years": 4},
}
FULL_RUNS = 2700
# run-level counts of each event kind and of the traced causes (``ccgabm.metrics``)
COUNTS = {
    "fractures": "fractures", "fractures_after_lost_votes": "fractures after lost votes",
    "fractures_after_placement": "fractures after Board placement",
    "defections": "defections", "defections_after_lost_votes": "defections after lost votes",
    "returns": "returns", "voluntary_mergers": "voluntary mergers",
    "forced_mergers": "forced mergers", "groups_dissolved": "dissolutions",
    "departures_refused": "departures the Board refused",
    "decommissioning_votes": "decommissioning votes",
    "decommissioning_votes_rejected": "votes rejected",
}


def main(argv: list[str] | None = None):
    args = parse_args(NAME, __doc__.splitlines()[0], argv, root=ROOT)
    exp = Experiment(NAME, args, quick=QUICK)
    outcome = exp.run()
    runs, fates = outcome.runs, outcome.fates
    horizon = float(runs["years_simulated"].max()) if len(runs) else 10.0
    years = (5.0, 10.0) if horizon >= 10 else (max(1.0, horizon // 2), horizon)
    result = analyze(outcome.folder, years=years)
    last = years[-1]
    hit = fracture_indicators(runs, fates, last) if len(fates) else pd.Series(False, index=runs.index)
    df = runs.assign(hit=hit.to_numpy())

    report = Report(exp, "Fracture map: budget pressure x deprivation spread x trust",
                    f"How likely is a group to fracture within {years[0]:g} and {last:g} years, "
                    "what else happens to groups instead (defections, returns, mergers, "
                    "dissolution), and does the risk move with budget pressure, the deprivation "
                    "spread inside groups and trust inside groups as the mechanism implies?")
    report.outcomes.append(outcome)
    for axis, key in ((PRESSURE, "fracture_pressure"), (SPREAD, "fracture_spread"),
                      (TRUST, "fracture_trust")):
        lo, hi = df[axis].min(), df[axis].max()
        a, b = df.loc[df[axis] == lo, "hit"], df.loc[df[axis] == hi, "hit"]
        est = newcombe_difference(int(b.sum()), len(b), int(a.sum()), len(a))
        report.add(f"P(any group fractures within {last:g} y): {axis} {hi:g} minus {lo:g} "
                   "(pooled over the other axes)", est, PUBLISHED[key], digits=3)

    fp = pd.read_csv(result.folder / "fracture_probability.csv")
    run_level = fp[fp["level"] == "run"]
    cols = [PRESSURE, SPREAD, TRUST, "years", "n", "x", "p", "ci_low", "ci_high"]
    report.section("P(any group fractures within N years), run level, Wilson 95% CI",
                   md_table(run_level[cols]))
    present = [c for c in COUNTS if c in df.columns]
    for axis in (PRESSURE, SPREAD, TRUST):
        means = df.groupby(axis)[present].mean().rename(columns=COUNTS)
        report.section(f"Events per run by {axis} (mean over runs, pooled over the other axes)",
                       md_table(means.reset_index(), digits=2))
    causes = df[present].sum().rename(index=COUNTS).to_frame("total over all runs")
    report.section("What the fractures and defections followed (traced, all runs)",
                   md_table(causes.reset_index(names="count"), digits=0))
    report.section("Interpretation", interpretation(df, present))
    for path in sorted(result.folder.glob("*.png")):
        report.figure(f"ccgabm.analysis: {path.stem.replace('_', ' ')}", path)
    if exp.size != "quick" and len(runs) and "wall_seconds" in runs:
        # Each run's own time (stored with it), so a resumed sweep still projects honestly.
        per_run = float(runs["wall_seconds"].mean()) / max(outcome.jobs, 1)
        report.notes.append(
            f"projected full-size runtime: {FULL_RUNS} runs x {per_run:.2f} s per run (mean run "
            f"time over {outcome.jobs} workers) = {FULL_RUNS * per_run / 3600:.2f} h")
    report.notes += result.notes
    return report.write()


def interpretation(df: pd.DataFrame, present: list[str]) -> str:
    """The mechanism, and what the traced counts say about it in this sweep."""
    total = df[present].sum()
    fractures = int(total.get("fractures", 0))
    after_votes = int(total.get("fractures_after_lost_votes", 0))
    after_placement = int(total.get("fractures_after_placement", 0))
    rejected = int(total.get("decommissioning_votes_rejected", 0))
    votes = int(total.get("decommissioning_votes", 0))
    share = f"{after_votes / fractures:.0%}" if fractures else "none"
    passing = (": cuts pass, and the losers are the minority that bears them"
               if votes and rejected < 0.1 * votes else "")
    upstream = ("Most fractures therefore have a dissolution upstream: a group fails for years "
                "running, the Board dissolves it and places its members with the neighbours they "
                "trust most, and the enlarged host, holding practices its members do not trust "
                "and still cutting, loses a coalition of its own members. "
                if fractures and after_placement > 0.8 * fractures else "")
    return f"""
This map is the model's own prediction; no published figure exists to compare it with, so the
table at the top checks only the directions the mechanism (and the Pulse report) lead one to
expect. A **fracture** here is only a coalition of at least two practices leaving to form a new
group the Board authorises; practices joining an existing neighbour are **defections** (or
**returns** to a group they had belonged to), and mergers and dissolutions are events of their
own, so no event is counted as another.

The chain the model is built around: a group forecasting an overspend at month 6 weighs its
cuts on saving and on who bears them and proposes one; members whose share of the burden exceeds
their trust-weighted tolerance vote against; the losing side trusts the winners less; trust
also drifts towards the level each relation sustains, so it recovers when cuts stop; at year
end a coalition whose members trust each other more than the rest of the group leaves, if the
Board's rules allow it (a viable population, a viable group left behind). Budget pressure
drives the first link (no forecast deficit, no vote), the deprivation spread inside a group
makes the burden of a community cut unequal, and trust inside the group sets both the tolerance
of the vote and how much a coalition of fellow losers is worth to its members.

In this sweep, {fractures} fractures were carried out; {after_votes} ({share}) came after their
members had lost decommissioning votes in the group they left, and {after_placement} came from
groups into which the Board had placed members of a group it dissolved or merged by force (a
departure can be both). {upstream}Of {votes} decommissioning votes, {rejected} were
rejected{passing}. Where
pressure is highest, persistent deficits end groups by dissolution (a competing risk: a
dissolved group cannot fracture later), which is why the cumulative incidence of each event
kind (competing risks, in `sweep/analysis/`) matters more than the probability of a fracture
alone. Full size is {FULL_RUNS} runs; a partial run (`--replications N`) projects the full
runtime (see "How this was run").
"""


if __name__ == "__main__":
    print(main(sys.argv[1:]))
