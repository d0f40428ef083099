"""Run one simulation to the horizon and gather its results."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ccgabm.config import Config
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
    if check_invariants:
        model.check_invariants()
    steps = range(model.horizon)
    if progress:
        from tqdm import tqdm

        steps = tqdm(steps, desc="simulating", unit="month")
    for _ in steps:
        model.step()
        if check_invariants:
            model.check_invariants()
    tables = model.recorder.tables()
    summary = headline_figures(tables, n_groups_end=len(model.active_groups))
    summary.update(seed=model.seed, config_digest=config.digest())
    return RunResult(summary=summary, tables=tables, group_fates=group_fates(model))
