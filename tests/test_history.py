"""The history experiment: the published record, the model's year figures, the comparison and
the report (``ccgabm.history``, ``experiments/history.py``)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from support import ROOT
from test_experiments import load_script

from ccgabm.config import load_config
from ccgabm.history.compare import COMPARISONS, ModelFigure, compare, disagreements, disagrees
from ccgabm.history.measures import MEASURES, year_measures
from ccgabm.history.record import (
    FITTED,
    GROUP_COUNTS,
    MERGERS,
    RecordPoint,
    absorbed_by_year,
    fy_label,
    record_series,
    registered_at,
)
from ccgabm.simulate import run_simulation


# ---- the record ----------------------------------------------------------------------------
def test_group_counts_fall_only_by_the_merger_arithmetic():
    counts = {f.fy: int(f.value) for f in GROUP_COUNTS}
    assert counts[2013] == 211 and counts[2021] == 106
    absorbed = {m.effective_fy: m.absorbed for m in MERGERS}
    assert absorbed == {2015: 2, 2017: 2, 2018: 12, 2019: 4, 2020: 56, 2021: 29}
    for fy in range(2014, 2022):
        assert counts[fy] == counts[fy - 1] - absorbed.get(fy, 0), fy_label(fy)
    # the absorbed series is dated to the year before each merger took effect
    assert absorbed_by_year() == {2013: 0, 2014: 2, 2015: 0, 2016: 2, 2017: 12, 2018: 4,
                                  2019: 56, 2020: 29}
    assert sum(absorbed_by_year().values()) == counts[2013] - counts[2021]


def test_record_points_are_complete_and_labelled():
    series = record_series()
    assert set(series) >= FITTED
    assert {c.record for c in COMPARISONS} <= set(series)
    for name, points in series.items():
        assert points, name
        assert len({p.fy for p in points}) == len(points), f"{name}: one figure a year"
        for p in points:
            assert 2012 <= p.fy <= 2021 and math.isfinite(p.value), (name, p)
            assert p.unit and p.definition and p.source, (name, p)
    share = {p.fy: p for p in series["deficit_share"]}
    assert share[2017].value == pytest.approx(75 / 207) and share[2017].basis == "in_year"
    assert share[2015].basis == "cumulative"
    assert {p.fy: p.value for p in series["qp_paid_share"]}[2013] == pytest.approx(86.3 / 269)
    index = {p.fy: p.value for p in series["emergency_index"]}
    assert index[2013] == pytest.approx(1.0) and index[2016] == pytest.approx(1.093)


def test_registered_patients_interpolate_between_published_counts():
    assert registered_at(2013.25) == pytest.approx(56.0)
    assert registered_at(2014.75) == pytest.approx(56.79)
    assert registered_at(2014.0) == pytest.approx((56.0 + 56.79) / 2)
    mid = registered_at(2020.0)
    assert 60.0 < mid < 60.6
    per_head = {p.fy: p.value for p in record_series()["allocation_per_head"]}
    assert per_head[2013] == pytest.approx(63.4e9 / (registered_at(2013.75) * 1e6))


# ---- the comparison ------------------------------------------------------------------------
def _runs(values: dict[str, list[list[float]]]) -> pd.DataFrame:
    """A run table: ``values[measure][replicate][year]``."""
    cols = {}
    for name, reps in values.items():
        for y in range(len(reps[0])):
            cols[f"h.{name}.{y}"] = [r[y] for r in reps]
    return pd.DataFrame(cols)


def test_disagreement_rules():
    assert disagrees(10.0, ModelFigure(9.0, 8.0, 11.0, 5)) is False
    assert disagrees(12.0, ModelFigure(9.0, 8.0, 11.0, 5)) is True
    assert disagrees(10.0, ModelFigure(9.5, math.nan, math.nan, 1)) is False  # within 10%
    assert disagrees(10.0, ModelFigure(8.9, math.nan, math.nan, 1)) is True
    assert disagrees(0.0, ModelFigure(0.0, math.nan, math.nan, 1)) is False
    assert disagrees(10.0, ModelFigure(math.nan, math.nan, math.nan, 0)) is None


def test_disagreements_found_on_a_hand_made_case():
    record = {
        "groups": [RecordPoint(2013, 10.0, "groups", "d", "s"),
                   RecordPoint(2014, 10.0, "groups", "d", "s"),
                   RecordPoint(2015, 7.0, "groups", "d", "s")],
        "deficit_share": [RecordPoint(2013, 0.5, "share", "d", "s", basis="in_year"),
                          RecordPoint(2014, 0.2, "share", "d", "s", basis="cumulative")],
        "qp_paid_share": [RecordPoint(2013, 0.3, "share", "d", "s")],
    }
    runs = _runs({
        "groups": [[10, 10, 10], [10, 9, 9], [10, 10, 9]],  # 2015/16 record 7 is below 9-9
        "deficit_share": [[0.1, 0.9, 0.0], [0.2, 0.9, 0.0], [0.3, 0.9, 0.0]],
        "deficit_cumulative_share": [[0.0, 0.1, 0.0], [0.0, 0.3, 0.0], [0.0, 0.2, 0.0]],
    })
    table = compare(runs, 2013, 3, record=record)
    verdicts = dict(zip(zip(table["series"], table["fy"], strict=True), table["verdict"],
                        strict=True))
    assert verdicts == {
        ("groups", "2013/14"): "agrees", ("groups", "2014/15"): "agrees",
        ("groups", "2015/16"): "disagrees",
        ("deficit_share", "2013/14"): "disagrees",  # 0.5 above the in-year 0.1-0.3
        ("deficit_share", "2014/15"): "agrees",  # cumulative basis: 0.2 inside 0.1-0.3
        ("qp_paid_share", "2013/14"): "not modelled in this run",
    }
    lines = disagreements(table)
    assert len(lines) == 2
    assert any("2015/16" in x and "below" in x and "[fitted]" in x for x in lines)
    assert any("2013/14" in x and "above" in x and "[out of sample]" in x for x in lines)
    # a single run: judged within 10%
    one = compare(runs.iloc[:1], 2013, 3, record=record)
    assert one.loc[(one["series"] == "groups") & (one["fy"] == "2015/16"), "verdict"].item() \
        == "disagrees"
    assert "one run" in " ".join(disagreements(one))


# ---- the model's year figures --------------------------------------------------------------
@pytest.fixture(scope="module")
def tables():
    cfg = load_config(ROOT / "configs" / "baseline.toml").with_overrides(
        {"run.years": 3, "world.scale": 0.05})
    return run_simulation(cfg, 3).tables


def test_year_measures_cover_every_year(tables):
    m = year_measures(tables)
    assert set(m["groups"]) == {"0", "1", "2"}
    assert "qp_paid_share" in m
    without = dict(tables)
    without["group_year"] = tables["group_year"].drop(columns=["qp_potential", "qp_paid"])
    assert "qp_paid_share" not in year_measures(without)  # tables without a premium pot
    assert set(m) <= set(MEASURES)
    assert m["emergency_index"]["0"] == pytest.approx(1.0)
    gy = tables["group_year"]
    assert m["groups"]["0"] == gy[gy["year"] == 0]["group"].nunique()
    assert m["deficit_share"]["1"] == pytest.approx((gy[gy["year"] == 1]["in_year_result"] < 0).mean())


def test_quality_premium_columns_are_used_when_present(tables):
    t = dict(tables)
    gy = t["group_year"].copy()
    gy["qp_potential"] = 100.0
    gy["qp_paid"] = np.where(gy["group"] == gy["group"].iloc[0], 0.0, 50.0)
    t["group_year"] = gy
    m = year_measures(t)
    n = gy[gy["year"] == 0]["group"].nunique()
    assert m["qp_paid_share"]["0"] == pytest.approx(50.0 * (n - 1) / (100.0 * n))
    assert m["qp_paid_nothing"]["0"] == 1.0
    assert m["qp_paid_nothing_share"]["0"] == pytest.approx(1 / n)


# ---- the experiment ------------------------------------------------------------------------
def test_history_quick_report_has_every_section(tmp_path: Path):
    module = load_script("history")
    out = tmp_path / "history"
    path = module.main(["--quick", "--scale-check", "--out", str(out)])
    text = Path(path).read_text()
    for heading in ["## Model vs published", "## Where the model disagrees",
                    "## Commissioning groups at the start of the year: model vs record",
                    "## Share of groups in deficit: model vs record",
                    "## Quality premium paid, share of the pot: model vs record",
                    "## Waiting list per 1,000 registered: model vs record",
                    "## The model's figures each year", "## Formation of the groups",
                    "## Scale check", "## Reading the comparison", "## Figures"]:
        assert heading in text, heading
    assert "2013/14" in text and "2021/22" in text
    assert "fitted" in text and "out of sample" in text
    table_lines = [ln for ln in text.splitlines() if ln.startswith("|")]
    assert table_lines
    for ln in table_lines:
        assert not re.search(r"\b(nan|inf)\b", ln, re.IGNORECASE), ln
    for png in ["group_count.png", "deficits.png", "quality_premium.png", "emergency_index.png",
                "waiting_list.png"]:
        assert (out / png).stat().st_size > 0, png


def test_missing_scenario_is_a_clear_error(tmp_path: Path):
    module = load_script("history")
    with pytest.raises(SystemExit, match="not found; pass --config"):
        module.main(["--quick", "--config", str(tmp_path / "absent.toml"), "--out",
                     str(tmp_path / "o")])


def test_formation_summary_is_reported_when_the_model_has_one(monkeypatch):
    import sys
    import types

    from ccgabm.history.measures import formation_figures

    fake = types.ModuleType("ccgabm.formation")
    fake.formation_summary = lambda world: pd.DataFrame({"size_band": ["<100k", "100k+"],
                                                        "groups": [12, 199]})
    monkeypatch.setitem(sys.modules, "ccgabm.formation", fake)
    figures = formation_figures(object())
    assert set(figures) == {"table"}
    runs = pd.DataFrame({"formation.table": [figures["table"]] * 2,
                         "formation.mean_size": [210_000.0, 230_000.0]})
    text = load_script("history")._formation_section(runs)
    assert "<100k" in text and "199" in text and "mean_size" in text and "220,000.00" in text
    fake.formation_summary = lambda world: {"groups": 211, "median_population": 226_000}
    assert formation_figures(object()) == {"groups": 211.0, "median_population": 226_000.0}
