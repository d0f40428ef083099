"""Helpers shared by the tests: paths and small configs that run in seconds."""

from __future__ import annotations

from pathlib import Path

from ccgabm.config import Config

ROOT = Path(__file__).resolve().parents[1]
SHARED_TABLE = ROOT.parent / "shared" / "data" / "gp_practices_jan2021_listsize_imd2019.csv"


def small_config(**overrides) -> Config:
    """Two groups, eight practices, ~20,000 patients, two years."""
    base = {
        "run.years": 2,
        "region.n_groups": 2,
        "region.practices_per_group": 4,
        "region.target_population": 20_000,
    }
    base.update(overrides)
    return Config().with_overrides(base)
