"""The overview figure a researcher looks at first.

Drawn on a ``matplotlib.figure.Figure`` of its own and saved by the Agg renderer: no pyplot,
no global backend choice, and matplotlib is imported only when a figure is drawn.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def overview_figure(tables: dict[str, pd.DataFrame], summary: dict, path: Path) -> None:
    """Four panels: activity rates, group balances, deprivation gradient, membership."""
    from matplotlib.figure import Figure

    monthly, groups = tables["monthly"], tables["group_year"]
    # fixed margins: a constrained layout measures every label first (about 0.15 s a figure)
    fig = Figure(figsize=(12, 8))
    fig.subplots_adjust(left=0.065, right=0.985, bottom=0.07, top=0.91, wspace=0.2, hspace=0.3)
    axes = fig.subplots(2, 2)
    years = monthly["month"] / 12.0
    ax = axes[0, 0]
    for col, label in (("emergency", "emergency admissions"), ("referrals", "referrals"),
                       ("outpatient", "first outpatient (treated)")):
        ax.plot(years, 12000 * monthly[col] / monthly["person_months"], label=label)
    ax.set(title="Activity per 1,000 patients a year", xlabel="year", ylabel="per 1,000 a year")
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    for code, g in groups.groupby("group"):
        ax.plot(g["year"] + 1, g["balance"] / 1e6, marker="o", label=code)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(title="Group balances at year end (carried)", xlabel="year", ylabel="£ million")
    if groups["group"].nunique() <= 12:
        ax.legend(fontsize=8)
    ax = axes[1, 0]
    quint = tables["quintile_year"].groupby("quintile")[["person_months", "emergency"]].sum()
    ax.bar(quint.index, 12000 * quint["emergency"] / quint["person_months"], color="tab:red")
    ax.set(title=f"Emergency admissions by deprivation quintile "
                 f"(Q5/Q1 = {summary['emergency_gradient_q5_q1']:.2f})",
           xlabel="deprivation quintile (5 = most deprived)", ylabel="per 1,000 a year")
    ax = axes[1, 1]
    members = groups.pivot_table(index="year", columns="group", values="members", aggfunc="sum")
    members = members.fillna(0)
    ax.stackplot(members.index + 1, members.to_numpy().T, labels=members.columns.tolist(),
                 linewidth=0)
    if members.shape[1] <= 12:
        ax.legend(title="group")
    ax.set_ylim(0, None)
    ax.set(title=f"Group membership (groups at end: {summary['n_groups_end']})", xlabel="year",
           ylabel="member practices")
    fig.suptitle(
        f"ccgabm overview — {summary['population_start']:,} patients, "
        f"{summary['years_simulated']} years; emergency {summary['emergency_admissions_per_1000']:.0f}"
        f"/1,000, referred {100 * summary['share_referred_per_year']:.1f}%/yr"
    )
    fig.savefig(path, dpi=110)
