"""Finding 6 — fracture map: P(group fractures within 5 and 10 years) across budget pressure x
deprivation gap x initial trust, with Wilson intervals and Kaplan-Meier survival curves.

Runs the sweep, then ``ccgabm.analysis.analyze`` (tables, heatmaps, survival) and adds the
directional checks: risk rises with pressure and with the gap, and falls with trust.

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
GAP = "region.deprivation_gap"
TRUST = "behaviour.initial_trust"
QUICK = {
    "replications": 1,
    "axes": {PRESSURE: [0.0, 0.04], GAP: [0.0, 30.0], TRUST: [0.2, 0.8]},
    "fixed": {"region.target_population": 30000, "region.practices_per_group": 4, "run.years": 4},
}
FULL_RUNS = 2700


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

    report = Report(exp, "Fracture map: budget pressure x deprivation gap x trust",
                    f"How likely is a group to fracture within {years[0]:g} and {last:g} years, "
                    "and how does the risk vary with budget pressure, the deprivation gap and "
                    "initial trust?")
    report.outcomes.append(outcome)
    for axis, key in ((PRESSURE, "fracture_pressure"), (GAP, "fracture_gap"),
                      (TRUST, "fracture_trust")):
        lo, hi = df[axis].min(), df[axis].max()
        a, b = df.loc[df[axis] == lo, "hit"], df.loc[df[axis] == hi, "hit"]
        est = newcombe_difference(int(b.sum()), len(b), int(a.sum()), len(a))
        report.add(f"P(any group fractures within {last:g} y): {axis} {hi:g} minus {lo:g} "
                   "(pooled over the other axes)", est, PUBLISHED[key], digits=3)

    fp = pd.read_csv(result.folder / "fracture_probability.csv")
    run_level = fp[fp["level"] == "run"]
    cols = [PRESSURE, GAP, TRUST, "years", "n", "x", "p", "ci_low", "ci_high"]
    report.section("P(any group fractures within N years), run level, Wilson 95% CI",
                   md_table(run_level[cols]))
    report.section("Interpretation", f"""
This map is the model's own prediction; no published figure exists to compare it with, so the
table above checks only the directions the mechanism (and the Pulse report) lead one to expect.
Fracture in the model follows a chain: a group forecasting an overspend at month 6 proposes a
cut; members whose share of the burden exceeds their trust-weighted tolerance vote against;
outvoted practices lose trust in the winners; at year end a coalition of at least two practices
that prefers a new group (or a neighbour) leaves. Budget pressure drives the first link (no
forecast deficit, no vote), the deprivation gap drives the unequal burden of cuts, and initial
trust sets the tolerance. Survival curves (Kaplan-Meier; event: fracture or dissolution;
censored at merger) and heatmaps are written by `ccgabm.analysis` under `sweep/analysis/`; its
report is `sweep/analysis/report.md`. Full size is {FULL_RUNS} runs; a partial run
(`--replications N`) projects the full runtime (see "How this was run").
""")
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


if __name__ == "__main__":
    print(main(sys.argv[1:]))
