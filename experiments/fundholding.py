"""Finding 2 — budget holding lowers elective use (Dusheiko, Gravelle, Jacobs & Smith 2006).

Removing the budget-holding incentive (``policy.budget_incentive = false``) raised elective
admissions by 3.5-5.1% with emergency admissions unchanged. The model runs both scenarios with
common random numbers and reports the paired % change in elective and emergency admissions.

    python experiments/fundholding.py [--quick] [--out DIR] [--jobs N]
"""

from __future__ import annotations

import sys
from pathlib import Path

from ccgabm.findings import PUBLISHED, Experiment, Report, md_table, paired_difference, parse_args
from ccgabm.findings.figures import effects_plot

ROOT = Path(__file__).resolve().parents[1]  # the repository: configs/ and results/
NAME = "fundholding"
AXIS = "policy.budget_incentive"
QUICK = {
    "replications": 2,
    "fixed": {"region.target_population": 30000, "region.practices_per_group": 4, "run.years": 3},
}


def main(argv: list[str] | None = None):
    args = parse_args(NAME, __doc__.splitlines()[0], argv, root=ROOT)
    exp = Experiment(NAME, args, quick=QUICK)
    outcome = exp.run()
    runs = outcome.runs
    metrics = {
        "elective admissions": "elective_admissions_per_1000",
        "emergency admissions": "emergency_admissions_per_1000",
        "referrals": "referrals_per_1000",
        "first outpatient attendances": "x_outpatients_per_1000",
    }
    est = {label: paired_difference(runs, AXIS, True, False, col) for label, col in metrics.items()}

    report = Report(exp, "Fundholding: removing the budget-holding incentive",
                    "Does removing the budget-holding incentive raise elective admissions by "
                    "3.5-5.1% while leaving emergency admissions unchanged?")
    report.outcomes.append(outcome)
    report.add("elective admissions, % change when the incentive is removed",
               est["elective admissions"], PUBLISHED["fundholding_elective"], "%")
    report.add("emergency admissions, % change when the incentive is removed",
               est["emergency admissions"], PUBLISHED["fundholding_emergency"], "%", margin=1.0)

    means = runs.groupby(AXIS)[list(metrics.values())].mean().reset_index()
    report.section("Scenario means (per 1,000 patients a year)", md_table(means))
    extra = "\n".join(f"- {k}: {v.format(2, '%')}" for k, v in est.items())
    report.section("Paired % changes (incentive off vs on)", extra)
    e = est["elective admissions"]
    report.section("Interpretation", f"""
The model's elective admissions rise by {e.value:.2f}% when the budget incentive is removed.
This is **not an independent test**: the model's `policy.budget_holding_effect` (0.043, a 4.3%
cut in referrals under budget holding) is itself set to the midpoint of Dusheiko et al.'s range,
so the experiment checks that the mechanism carries the calibrated referral effect through the
waiting list and hospital capacity to admissions (removing a 4.3% cut is a +4.5% rise in
referrals; the budget incentive also switches off the extra referral restraint of groups that
forecast a deficit, `policy.deficit_referral_response`, which can push the figure above 4.5%).
Elective admissions follow referrals one-for-one only when capacity keeps up: hospitals plan
capacity from last year's referrals, so in the first year of a change part of the extra demand
waits.

Emergency admissions are touched only through the waiting list (patients waiting longer carry
`emergency.waiting_rr` = 1.15), so the model predicts essentially no change, as published; the
"no change" verdict uses a +-1% equivalence margin of our choosing (the source gives none).
""")
    report.figure("Paired % change when the budget incentive is removed (95% CI); orange: published "
                  "range for elective admissions",
                  effects_plot(est, exp.out / "effects.png", "Removing the budget incentive",
                               "% change vs budget holding (paired, CRN)",
                               bands={"elective admissions": (3.5, 5.1)}))
    return report.write()


if __name__ == "__main__":
    print(main(sys.argv[1:]))
