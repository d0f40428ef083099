"""Run one simulation to the horizon and gather its results."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ccgabm.config import Config
from ccgabm.dilemma import dilemma_outcomes
from ccgabm.model import CommissioningModel
from ccgabm.summary import headline_figures


@dataclass
class RunResult:
    """Headline figures, tidy tables and the fate of every group of one run."""

    summary: dict
    tables: dict[str, pd.DataFrame]
    group_fates: pd.DataFrame


def group_fates(model: CommissioningModel) -> pd.DataFrame:
    """One row per group that ever existed: lifetime and how it ended."""
    rows = []
    for g in model.groups.values():
        rows.append({
            "group_id": g.code,
            "start_month": g.created_month,
            "end_month": g.ended_month if g.ended_month is not None else model.month,
            "fractured": g.fate == "fractured" or g.fracture_month is not None,
            "fracture_month": float(g.fracture_month) if g.fracture_month is not None else np.nan,
            "dissolved": g.fate == "dissolved",
            "merged": g.fate == "merged",
        })
    return pd.DataFrame(rows)


def run_simulation(
    config: Config,
    seed: int | None = None,
    *,
    progress: bool = False,
    check_invariants: bool = False,
) -> RunResult:
    """Build the model, run every month to the horizon, and summarise."""
    model = CommissioningModel(config, seed=seed)
    model.run(progress=progress, check_invariants=check_invariants)
    tables = model.recorder.tables()
    fates = group_fates(model)
    summary = headline_figures(tables, n_groups_end=len(model.active_groups))
    summary.update(stability_figures(fates, tables, model))
    if model.dilemma is not None:
        summary.update(dilemma_outcomes(tables["practice_year"], tables["group_year"], fates,
                                        model.dilemma, config.dilemma.decision_year))
    summary.update(seed=model.seed, config_digest=config.digest())
    return RunResult(summary=summary, tables=tables, group_fates=fates)


def stability_figures(fates: pd.DataFrame, tables: dict[str, pd.DataFrame],
                      model: CommissioningModel) -> dict:
    """Fractures, lifetimes, core stability and event counts of one run."""
    events = tables["events"]
    counts = events["kind"].value_counts() if not events.empty else pd.Series(dtype=int)
    original = fates[fates["start_month"] == 0]
    first = original["fracture_month"].min()
    stable = list(model.core_stability.values())
    return {
        "groups_fractured": int(original["fractured"].sum()),
        "any_fracture": bool(original["fractured"].any()),
        "first_fracture_month": float(first) if pd.notna(first) else float("nan"),
        "groups_dissolved": int(fates["dissolved"].sum()),
        "groups_merged": int(fates["merged"].sum()),
        "groups_created": int((fates["start_month"] > 0).sum()),
        "mean_group_lifetime_years": float(((fates["end_month"] - fates["start_month"]) / 12).mean()),
        "core_stable_share": float(np.mean(stable)) if stable else float("nan"),
        "decommissioning_votes": int(counts.get("vote", 0)),
        "decommissionings": int(counts.get("decommissioning", 0)),
        "practice_switches": int((events["kind"] == "leave").sum()) if not events.empty else 0,
        "practices_closed": int(counts.get("practice_closed", 0)),
        "groups_co_commissioning_end": int(sum(g.co_commissioning for g in model.active_groups)),
        "budget_per_need_gap": budget_per_need_gap(tables["group_year"]),
    }


def budget_per_need_gap(group_year: pd.DataFrame) -> float:
    """Final-year spread of allocation per need weight across groups (max / min - 1)."""
    last = group_year[group_year["year"] == group_year["year"].max()]
    per_need = last["allocation"] / last["need_weight"].clip(lower=1e-9)
    return float(per_need.max() / per_need.min() - 1.0) if len(per_need) else float("nan")
