"""Worlds from a practice table (the shared NHS Digital file) and a synthetic England."""

from __future__ import annotations

import pytest

from ccgabm.config import Config, ConfigError
from ccgabm.model import CommissioningModel
from ccgabm.params import InputWarning
from ccgabm.practice_table import load_practice_table


def test_load_shared_table(shared_table):
    with pytest.warns(InputWarning, match="113 blank imd2019_score values .* filled"):
        df = load_practice_table(shared_table)
    assert len(df) == 6658
    assert df["group"].nunique() == 135
    assert df["list_size"].sum() == pytest.approx(60.6e6, rel=0.01)
    assert df["imd"].notna().all()


def test_england_table_at_small_scale_keeps_every_practice(shared_table):
    cfg = Config().with_overrides({
        "world.kind": "table", "world.table_path": str(shared_table), "world.scale": 0.002,
        "run.years": 1,
    })
    model = CommissioningModel(cfg, seed=1)
    assert len(model.practices) == 6658
    assert len(model.groups) == 135
    assert model.patients_start == pytest.approx(60.6e6 * 0.002, rel=0.05)
    model.run()
    model.check_invariants()
    assert all(g.neighbours for g in model.groups.values())


def test_synthetic_england_has_the_table_statistics():
    cfg = Config().with_overrides({"world.kind": "england", "world.scale": 0.001, "run.years": 1})
    model = CommissioningModel(cfg, seed=1)
    sizes = model.world.practices["list_size"] / 0.001
    assert len(model.practices) == 6658 and len(model.groups) == 135
    assert sizes.median() == pytest.approx(7931, rel=0.15)
    assert model.world.practices["imd"].mean() == pytest.approx(23.4, abs=2.0)


def test_bad_tables_get_clear_errors(tmp_path):
    missing = tmp_path / "t.csv"
    missing.write_text("practice_code,ccg_code\nA1,X\n")
    with pytest.raises(ConfigError, match="missing columns"):
        load_practice_table(missing)
    with pytest.raises(ConfigError, match="does not exist"):
        load_practice_table(tmp_path / "nope.csv")
    neg = tmp_path / "neg.csv"
    neg.write_text(
        "practice_code,ccg_code,ons_ccg_code,postcode,registered_patients_2021_01_01,imd2019_score\n"
        "A1,X,E1,NE1 1AA,-5,20\n"
    )
    with pytest.raises(ConfigError, match="row 1 .practice A1.: -5 is not allowed: must be a whole"):
        load_practice_table(neg)
