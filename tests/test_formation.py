"""Formation of the 2013 groups inside the 2021 footprints (``[world] formation``)."""

from __future__ import annotations

import pandas as pd
import pytest

import ccgabm.world as world_module
from ccgabm.config import Config
from ccgabm.formation import district, district_key, form_groups, formation_summary
from ccgabm.params import ConfigError
from ccgabm.practice_table import load_practice_table
from ccgabm.rng import Streams
from ccgabm.world import build_world

# A hand-built table (formation_population 90,000, min_group_population 60,000):
# footprint F: AB1 (two practices, 30k, mean IMD 20), AB2 (95k, IMD 30), AB5 (40k, IMD 20),
#              CD1 (20k, IMD 25);
# footprint G: XY1 (10k): alone, left below the minimum;
# footprint H: AB3 and AB9 (100k each): both at the target, no merger (and no merger with F's
#              AB districts: footprints are never crossed).
TINY = [
    ("P1", "F", "AB1 1AA", 10_000, 14.0),
    ("P2", "F", "AB1 2BB", 20_000, 23.0),
    ("P3", "F", "AB2 1AA", 95_000, 30.0),
    ("P4", "F", "AB5 1AA", 40_000, 20.0),
    ("P5", "F", "CD1 1AA", 20_000, 25.0),
    ("P6", "G", "XY1 1AA", 10_000, 40.0),
    ("P7", "H", "AB3 1AA", 100_000, 10.0),
    ("P8", "H", "AB9 1AA", 100_000, 12.0),
]
# Worked by hand (tie = 4 x shared area + 2 / (1 + district gap) + 1 / (1 + IMD gap / 10)):
# 1. F's smallest, CD1 (20k), shares no area; IMD gap 5 to each of AB1, AB2, AB5 -> all tie at
#    0.667; the smallest partner wins: AB1 (30k) -> {AB1, CD1} 50k, IMD (30x20 + 20x25)/50 = 22.
# 2. Smallest below 90k: AB5 (40k). With {AB1, CD1}: 4 + 2/(1+4) + 1/(1+0.2) = 5.233; with AB2:
#    4 + 2/(1+3) + 1/(1+1) = 5.0 -> {AB1, CD1, AB5} 90k.
# 3. Every group of F at 90k or more: stop. F-1 = {AB1, CD1, AB5}, F-2 = {AB2}.
EXPECTED = ["F-1", "F-1", "F-2", "F-1", "F-1", "G-1", "H-1", "H-2"]


def tiny_columns():
    codes, fps, postcodes, sizes, imd = map(list, zip(*TINY, strict=True))
    return codes, fps, postcodes, sizes, imd


def write_tiny(tmp_path, **world) -> Config:
    rows = ["practice_code,ccg_code,postcode,registered_patients_2021_01_01,imd2019_score"]
    rows += [f"{c},{f},{p},{n},{i}" for c, f, p, n, i in TINY]
    (tmp_path / "tiny.csv").write_text("\n".join(rows) + "\n")
    values = {"kind": "table", "table_path": "tiny.csv", "formation_population": 90_000, **world}
    return Config.from_dict({"world": values}, base_dir=tmp_path)


def test_hand_built_merge_order():
    _, fps, postcodes, sizes, imd = tiny_columns()
    formed = form_groups(fps, postcodes, sizes, imd, target=90_000, minimum=60_000)
    assert formed.group == EXPECTED
    assert formed.populations == {"F-1": 90_000, "F-2": 95_000, "G-1": 10_000,
                                  "H-1": 100_000, "H-2": 100_000}
    assert formed.below_minimum == ["G-1"]
    assert (formed.pathfinders, formed.merges) == (7, 2)
    # a minimum above the target keeps groups merging: F becomes one group
    higher = form_groups(fps, postcodes, sizes, imd, target=90_000, minimum=150_000)
    assert higher.group[:5] == ["F-1"] * 5 and higher.populations["F-1"] == 185_000


def test_districts_and_their_order():
    assert district("NE65 7UW") == "NE65" and district(" ec1a  1bb ") == "EC1A"
    assert district("NE657UW") == "NE65" and district("") == ""
    assert sorted(["NE10", "NE9", "DH1", "NE1"], key=district_key) == ["DH1", "NE1", "NE9", "NE10"]


def test_world_from_a_tiny_table(tmp_path):
    cfg = write_tiny(tmp_path, formation=True)
    world = build_world(cfg, Streams(3))
    assert world.practices["group"].tolist() == EXPECTED
    assert world.practices["footprint"].tolist() == [row[1] for row in TINY]
    assert world.group_codes == ["F-1", "F-2", "G-1", "H-1", "H-2"]
    assert world.formed["below_minimum"] == ["G-1"]
    summary = formation_summary(world)
    assert summary["count"] == 5 and summary["min"] == 10_000 and summary["max"] == 100_000
    assert summary["below_min_group_population"] == 1 and summary["share_150k_300k"] == 0.0
    # the list-size factor shrinks every list before forming: F-1 at 0.5 x 90k is below target
    halved = build_world(write_tiny(tmp_path, formation=True, list_size_factor=0.5), Streams(3))
    assert halved.practices["list_size"].tolist() == [n // 2 for *_, n, _ in TINY]
    assert halved.practices["group"].tolist()[:5] == ["F-1"] * 5


def test_formation_off_keeps_the_table_groups(tmp_path):
    cfg = write_tiny(tmp_path)
    world = build_world(cfg, Streams(3))
    assert world.practices["group"].tolist() == [row[1] for row in TINY]
    assert world.practices["footprint"].equals(world.practices["group"])
    assert world.formed is None
    region = build_world(Config(), Streams(3))
    assert region.practices["footprint"].equals(region.practices["group"])


@pytest.mark.parametrize("kind", ["region", "england"])
def test_refused_without_a_table(kind):
    with pytest.raises(ConfigError, match=r"^\[world\] formation = true is not allowed with kind"):
        Config().with_overrides({"world.kind": kind, "world.formation": True})
    with pytest.raises(ConfigError, match=r"^\[world\] list_size_factor = 0.9 is not allowed"):
        Config().with_overrides({"world.kind": kind, "world.list_size_factor": 0.9})


def test_formed_world_round_trips_through_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CCGABM_CACHE", str(tmp_path / "cache"))
    cfg = write_tiny(tmp_path, formation=True, scale=0.5)
    builds = []
    build = world_module.world_from_table
    monkeypatch.setattr(world_module, "world_from_table", lambda *a: builds.append(a) or build(*a))
    fresh = build_world(cfg, Streams(3))
    kept = build_world(cfg, Streams(3))
    assert len(builds) == 1
    pd.testing.assert_frame_equal(fresh.practices, kept.practices, check_exact=True)
    assert kept.formed == fresh.formed and kept.group_codes == fresh.group_codes
    # another minimum group size forms other groups: not taken from the cache
    other = cfg.with_overrides({"behaviour.min_group_population": 150_000})
    assert build_world(other, Streams(3)).practices["group"].tolist()[:5] == ["F-1"] * 5
    assert len(builds) == 2


def england(table, **world) -> Config:
    values = {"kind": "table", "table_path": str(table), "formation": True, **world}
    return Config.from_dict({"world": values})


@pytest.mark.filterwarnings("ignore::ccgabm.params.InputWarning")
def test_england_forms_about_211_groups_nested_in_footprints(shared_table):
    world = build_world(england(shared_table, scale=0.01), Streams(1))
    table = load_practice_table(shared_table)
    practices = world.practices
    assert practices["code"].tolist() == table["code"].tolist()
    assert (practices["footprint"] == table["group"]).all()
    assert practices["group"].str.len().gt(0).all()  # every practice in exactly one group
    assert (practices["group"].str.rsplit("-", n=1).str[0] == practices["footprint"]).all()
    assert practices.groupby("group")["footprint"].nunique().max() == 1
    assert sorted(practices["group"].unique()) == world.group_codes
    summary = formation_summary(world)
    assert 200 <= summary["count"] <= 225
    assert summary["below_min_group_population"] == 0
    pops = table.groupby(practices["group"])["list_size"].sum()
    assert pops.to_dict() == world.formed["populations"]


@pytest.mark.filterwarnings("ignore::ccgabm.params.InputWarning")
def test_england_groups_do_not_depend_on_scale_or_seed(shared_table, monkeypatch):
    monkeypatch.setenv("CCGABM_CACHE", "off")
    groups = [build_world(england(shared_table, scale=scale), Streams(seed)).practices["group"]
              for scale, seed in ((1.0, 1), (0.1, 1), (0.01, 1), (0.01, 2))]
    for other in groups[1:]:
        assert other.equals(groups[0])


@pytest.mark.filterwarnings("ignore::ccgabm.params.InputWarning")
def test_england_without_formation_reads_the_table_groups(shared_table):
    world = build_world(england(shared_table, scale=0.01, formation=False), Streams(1))
    table = load_practice_table(shared_table)
    assert world.practices["group"].tolist() == table["group"].tolist()
    assert world.practices["footprint"].equals(world.practices["group"])
    assert len(world.group_codes) == 135
