"""The overview figure a researcher looks at first.

Drawn on a ``matplotlib.figure.Figure`` of its own and saved by the Agg renderer: no pyplot,
no global backend choice, and matplotlib is imported only to draw it. What it shows
(``overview_data``: plain arrays and titles taken from the run's tables) is kept apart from the
drawing (``draw_overview``, which needs neither pandas nor the model), so that a process started
before the model is imported can draw it (``ccgabm.figure_process``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

# (column of the monthly table, its label in the activity panel)
ACTIVITY = (("emergency", "emergency admissions"), ("referrals", "referrals"),
            ("outpatient", "first outpatient (treated)"))
LEGEND_MAX = 12  # groups named in a legend; more are drawn unnamed


@dataclass(frozen=True)
class OverviewData:
    """What the four panels show."""

    years: np.ndarray  # the activity panel's x: each month in years
    activity: list[tuple[str, np.ndarray]]  # (label, per 1,000 patients a year)
    balances: list[tuple[str, np.ndarray, np.ndarray]]  # (group, year, balance in GBP million)
    quintiles: np.ndarray  # deprivation quintiles
    quintile_rates: np.ndarray  # emergency admissions per 1,000 a year in each
    member_years: np.ndarray
    members: np.ndarray  # [group, year]: member practices
    member_groups: list[str]
    gradient_title: str
    membership_title: str
    title: str


def overview_data(tables: dict[str, pd.DataFrame], summary: dict[str, Any]) -> OverviewData:
    """The overview's data from a run's tables and summary figures (NaN where undefined)."""
    monthly, groups = tables["monthly"], tables["group_year"]
    person_months = monthly["person_months"]
    quint = tables["quintile_year"].groupby("quintile")[["person_months", "emergency"]].sum()
    members = groups.pivot_table(index="year", columns="group", values="members", aggfunc="sum")
    members = members.fillna(0)
    return OverviewData(
        years=(monthly["month"] / 12.0).to_numpy(),
        activity=[(label, (12000 * monthly[col] / person_months).to_numpy())
                  for col, label in ACTIVITY],
        balances=[(str(code), (g["year"] + 1).to_numpy(), (g["balance"] / 1e6).to_numpy())
                  for code, g in groups.groupby("group")],
        quintiles=quint.index.to_numpy(),
        quintile_rates=(12000 * quint["emergency"] / quint["person_months"]).to_numpy(),
        member_years=(members.index + 1).to_numpy(),
        members=members.to_numpy().T,
        member_groups=[str(c) for c in members.columns],
        gradient_title=(f"Emergency admissions by deprivation quintile "
                        f"(Q5/Q1 = {summary['emergency_gradient_q5_q1']:.2f})"),
        membership_title=f"Group membership (groups at end: {summary['n_groups_end']})",
        title=(f"ccgabm overview — {summary['population_start']:,} patients, "
               f"{summary['years_simulated']} years; emergency "
               f"{summary['emergency_admissions_per_1000']:.0f}/1,000, referred "
               f"{100 * summary['share_referred_per_year']:.1f}%/yr"),
    )


def new_figure() -> tuple[Figure, np.ndarray]:
    """The overview's figure and its 2 x 2 axes, empty (fixed margins: a constrained layout
    measures every label first, about 0.15 s a figure)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 8))
    fig.subplots_adjust(left=0.065, right=0.985, bottom=0.07, top=0.91, wspace=0.2, hspace=0.3)
    return fig, fig.subplots(2, 2)


def draw_overview(data: OverviewData, path: str | Path,
                  prepared: tuple[Figure, np.ndarray] | None = None) -> None:
    """Four panels: activity rates, group balances, deprivation gradient, membership; saved as
    PNG at ``path``. ``prepared``: ``new_figure()``'s result, made beforehand."""
    fig, axes = prepared if prepared is not None else new_figure()
    ax = axes[0, 0]
    for label, rate in data.activity:
        ax.plot(data.years, rate, label=label)
    ax.set(title="Activity per 1,000 patients a year", xlabel="year", ylabel="per 1,000 a year")
    ax.legend(fontsize=8)
    ax = axes[0, 1]
    for code, year, balance in data.balances:
        ax.plot(year, balance, marker="o", label=code)
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(title="Group balances at year end (carried)", xlabel="year", ylabel="£ million")
    if len(data.balances) <= LEGEND_MAX:
        ax.legend(fontsize=8)
    ax = axes[1, 0]
    ax.bar(data.quintiles, data.quintile_rates, color="tab:red")
    ax.set(title=data.gradient_title, xlabel="deprivation quintile (5 = most deprived)",
           ylabel="per 1,000 a year")
    ax = axes[1, 1]
    ax.stackplot(data.member_years, data.members, labels=data.member_groups, linewidth=0)
    if len(data.member_groups) <= LEGEND_MAX:
        ax.legend(title="group")
    ax.set_ylim(0, None)
    ax.set(title=data.membership_title, xlabel="year", ylabel="member practices")
    fig.suptitle(data.title)
    fig.savefig(path, dpi=110)
