"""Run one simulation to the horizon and gather its results."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from ccgabm.config import Config
from ccgabm.metrics import extra_figures, group_fates, run_summary
from ccgabm.model import CommissioningModel


@dataclass
class RunResult:
    """Headline figures, tidy tables and the fate of every group of one run."""

    summary: dict
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    group_fates: pd.DataFrame = field(default_factory=pd.DataFrame)


def run_simulation(
    config: Config,
    seed: int | None = None,
    *,
    progress: bool = False,
    check_invariants: bool = False,
    force: bool = False,
) -> RunResult:
    """Build the model, run every month to the horizon, and summarise.

    Raises ``ConfigError`` before anything is built when ``config`` is not a ``Config``, the
    seed is not an integer 0 <= seed < 2**63, or the run would need more memory than is
    available (``force`` overrides that last refusal; ``ccgabm.world.check_size``).
    """
    model = CommissioningModel(config, seed=seed, force=force)
    model.run(progress=progress, check_invariants=check_invariants)
    tables = model.datacollector.frames()
    fates = group_fates(model)
    return RunResult(summary=run_summary(model, tables, fates), tables=tables, group_fates=fates)


def run_with_extras(config: Config, seed: int) -> RunResult:
    """One run with the ``x_*`` figures (``ccgabm.metrics.extra_figures``) added to its summary.

    What the findings' sweeps run: it returns the summary and the group fates only (tables
    dropped), so workers send little back. A module-level function, it pickles to loky and
    dask workers.
    """
    result = run_simulation(config, seed)
    summary = dict(result.summary)
    summary.update(extra_figures(result.tables, config))
    return RunResult(summary=summary, group_fates=result.group_fates)
