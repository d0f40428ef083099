"""The start-up cache: a kept practice table and world give results identical to a fresh build,
and an entry that is missing, damaged or foreign is rebuilt, never trusted."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

import ccgabm.practice_table as practice_table
import ccgabm.world as world
import ccgabm.world_cache as world_cache
from ccgabm.config import load_config
from ccgabm.params import InputWarning
from ccgabm.simulate import run_simulation


def write_world(tmp_path, blank_imd=True):
    """A small practice table (one blank IMD score, filled with a warning) and its scenario."""
    rng = np.random.default_rng(5)
    rows = ["practice_code,ccg_code,postcode,registered_patients_2021_01_01,imd2019_score"]
    for i in range(18):
        imd = "" if blank_imd and i == 4 else f"{rng.uniform(5, 60):.2f}"
        rows.append(f"P{i:03d},C{i % 3},{'NE' if i % 2 else 'DH'}{i} 1AA,{int(rng.integers(1500, 4000))},"
                    f"{imd}")
    (tmp_path / "practices.csv").write_text("\n".join(rows) + "\n")
    cfg = tmp_path / "world.toml"
    cfg.write_text('[run]\nyears = 2\nseed = 11\n[world]\nkind = "table"\n'
                   'table_path = "practices.csv"\nscale = 0.5\n')
    return load_config(cfg)


def run(cfg):
    """A run with the in-process memo of the last table cleared (as in a new process)."""
    practice_table._last.clear()
    with pytest.warns(InputWarning, match="blank imd2019_score"):
        return run_simulation(cfg)


def assert_same(a, b):
    """Every figure, table and fate equal to the last bit (NaN equal to NaN)."""
    assert json.dumps(a.summary, sort_keys=True, default=str) == json.dumps(b.summary, sort_keys=True,
                                                                            default=str)
    assert a.tables.keys() == b.tables.keys()
    for name in a.tables:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name], check_exact=True)
    pd.testing.assert_frame_equal(a.group_fates, b.group_fates, check_exact=True)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("CCGABM_CACHE", str(folder))
    return folder / "worlds"


def count_reads(monkeypatch):
    calls = []
    read = practice_table._read

    def counted(*args):
        calls.append(args)
        return read(*args)

    monkeypatch.setattr(practice_table, "_read", counted)
    return calls


def test_results_are_identical_with_and_without_the_cache(tmp_path, cache, monkeypatch):
    cfg = write_world(tmp_path)
    monkeypatch.setenv("CCGABM_CACHE", "off")
    fresh = run(cfg)
    assert not cache.exists()
    monkeypatch.setenv("CCGABM_CACHE", str(cache.parent))
    reads = count_reads(monkeypatch)
    builds = []
    build = world.world_from_table
    monkeypatch.setattr(world, "world_from_table", lambda *a: builds.append(a) or build(*a))
    first = run(cfg)  # builds and keeps the table and the world
    assert len(reads) == 1 and len(builds) == 1
    assert sorted(p.name.split("-")[0] for p in cache.iterdir()) == ["table", "world"]
    kept = run(cfg)  # takes both from the cache: the CSV is neither parsed nor assembled again
    assert len(reads) == 1 and len(builds) == 1
    assert_same(fresh, first)
    assert_same(fresh, kept)


def test_a_damaged_or_foreign_entry_is_rebuilt(tmp_path, cache, monkeypatch):
    cfg = write_world(tmp_path)
    fresh = run(cfg)
    table = next(cache.glob("table-*.npz"))
    world = next(cache.glob("world-*.npz"))
    table.write_bytes(world.read_bytes())  # a valid entry under another entry's name
    world.write_bytes(world.read_bytes()[:200])  # cut short, as by a full disk
    reads = count_reads(monkeypatch)
    assert_same(fresh, run(cfg))
    assert len(reads) == 1  # the foreign table entry was not used
    assert_same(fresh, run(cfg))  # both entries were replaced by good ones
    assert len(reads) == 1


def test_a_changed_table_is_read_again(tmp_path, cache, monkeypatch):
    cfg = write_world(tmp_path)
    run(cfg)
    write_world(tmp_path, blank_imd=False)  # same path, other contents
    reads = count_reads(monkeypatch)
    practice_table._last.clear()
    result = run_simulation(cfg)
    assert len(reads) == 1
    assert len(list(cache.glob("world-*.npz"))) == 2
    monkeypatch.setenv("CCGABM_CACHE", "off")
    practice_table._last.clear()
    assert_same(run_simulation(cfg), result)


def test_a_failed_write_leaves_no_entry_and_no_temporary_file(tmp_path, cache, monkeypatch):
    cfg = write_world(tmp_path)

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(world_cache.np, "savez", full_disk)
    run(cfg)  # the run itself succeeds
    assert cache.is_dir() and not list(cache.iterdir())


def test_cache_can_be_turned_off_or_unwritable(tmp_path, monkeypatch):
    cfg = write_world(tmp_path)
    for value in ("off", "0", ""):
        monkeypatch.setenv("CCGABM_CACHE", value)
        assert world_cache.cache_folder() is None
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder would be")
    monkeypatch.setenv("CCGABM_CACHE", str(blocked))
    run(cfg)  # nothing kept, nothing refused
    monkeypatch.delenv("CCGABM_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert world_cache.cache_folder() == tmp_path / "xdg" / "ccgabm" / "worlds"


def test_entries_beyond_the_limit_are_pruned_oldest_first(tmp_path, cache, monkeypatch):
    monkeypatch.setattr(world_cache, "MAX_ENTRIES", 2)
    frame = pd.DataFrame({"a": [1, 2]})
    for i in range(4):
        world_cache.save_frame("world", f"k{i}", frame, {})
        path = cache / f"world-k{i}.npz"
        stamp = 1_000_000_000 + i
        os.utime(path, (stamp, stamp))
    world_cache.save_frame("world", "k9", frame, {})
    assert sorted(p.name for p in cache.iterdir()) == ["world-k3.npz", "world-k9.npz"]
    kept = world_cache.load_frame("world", "k9")
    assert kept is not None and kept[0].equals(frame)


def test_an_entry_with_a_malformed_header_is_rebuilt(tmp_path, cache, monkeypatch):
    cfg = write_world(tmp_path)
    fresh = run(cfg)
    entry = next(cache.glob("world-*.npz"))
    key = entry.stem.split("-", 1)[1]
    world_cache.save_frame("world", key, pd.DataFrame({"code": ["P000"]}), {"scale": "x"})
    builds = []
    build = world.world_from_table
    monkeypatch.setattr(world, "world_from_table", lambda *a: builds.append(a) or build(*a))
    assert_same(fresh, run(cfg))
    assert len(builds) == 1


def test_trust_matrices_are_kept_from_the_second_request(tmp_path, cache, monkeypatch):
    """A starting trust matrix is written the second time its key is asked for, read back
    from the third, and every run's results are identical."""
    import ccgabm.behaviours.trust as trust

    monkeypatch.setattr(trust, "BACKGROUND_ENTRIES", 0)  # this small world counts as large
    cfg = write_world(tmp_path)
    monkeypatch.setenv("CCGABM_CACHE", "off")
    fresh = run(cfg)
    monkeypatch.setenv("CCGABM_CACHE", str(cache.parent))
    builds = []
    build = trust.starting_trust
    monkeypatch.setattr(trust, "starting_trust",
                        lambda *a, **k: builds.append(a) or build(*a, **k))
    results = []
    for expected_builds, kept in ((1, []), (2, ["trust"]), (2, ["trust"])):
        results.append(run(cfg))
        assert len(builds) == expected_builds
        assert [p.name.split("-")[0] for p in cache.glob("*.npy")] == kept
    assert len(list(cache.glob("trust-*.seen"))) == 1
    for result in results:
        assert_same(fresh, result)
    entry = next(cache.glob("trust-*.npy"))
    entry.write_bytes(entry.read_bytes()[:150])  # cut short: rebuilt, not trusted
    assert_same(fresh, run(cfg))
    assert len(builds) == 3


def test_a_collected_networks_matrix_memory_is_reused_only_when_nothing_holds_it(cache):
    """A large starting matrix is built in (or read from the start-up cache into) the memory of
    the last one whose network was collected, with the same values as in fresh memory, as a
    model builds it (in the background); memory still held (the matrix itself, or a row viewing
    it) is left alone, and a matrix replaced through ``trust`` is not offered."""
    import gc

    import ccgabm.behaviours.trust as trust

    groups = np.repeat(np.arange(10), 100)  # 1,000 practices: a million entries, "large"
    cfg = trust.TrustParams()

    def network(seed: int, key: str | None = None) -> trust.TrustNetwork:
        built = trust.TrustNetwork(groups, cfg, np.random.default_rng(seed), background=True,
                                   keep_as=key)
        assert built.trust is not None  # waits for the background build
        return built

    expected = {seed: trust.starting_trust(groups, cfg, np.random.default_rng(seed))
                for seed in (1, 2)}
    gc.collect()
    trust._spare.clear()
    first = network(1)
    address = first.trust.ctypes.data
    del first
    gc.collect()
    assert [m.ctypes.data for m in trust._spare] == [address]  # offered once collected
    again = network(2)  # built into the collected network's memory
    assert trust._spare == [] and again.trust.ctypes.data == address
    assert np.array_equal(again.trust, expected[2])
    row = again.trust[3]  # a view keeps the memory from reuse
    del again
    gc.collect()
    other = network(1)
    assert other.trust.ctypes.data != address and np.array_equal(other.trust, expected[1])
    assert np.array_equal(row, expected[2][3])
    reused = other.trust.ctypes.data
    del other
    gc.collect()
    world_cache.save_array("trust", "k", expected[2])
    read = network(5, "k")  # read from the cache into the collected network's memory
    assert read.origin == "cache" and read.trust.ctypes.data == reused
    assert np.array_equal(read.trust, expected[2])
    read.trust = expected[1].copy()  # replaced: the starting matrix is not offered
    del read
    gc.collect()
    assert trust._spare == []


def test_array_entries_are_checked_and_pruned_by_size(cache, monkeypatch):
    monkeypatch.setattr(world_cache, "MAX_ARRAY_BYTES", 3000)
    square = np.arange(100, dtype=np.float32).reshape(10, 10)  # 400 bytes + header
    assert not world_cache.second_request("trust", "k0")
    assert world_cache.second_request("trust", "k0")
    for i in range(8):
        world_cache.save_array("trust", f"k{i}", square + i)
        stamp = 1_000_000_000 + i
        os.utime(cache / f"trust-k{i}.npy", (stamp, stamp))
    world_cache.save_array("trust", "k9", square)
    kept = sorted(p.name for p in cache.glob("*.npy"))
    assert "trust-k9.npy" in kept and "trust-k0.npy" not in kept
    assert sum((cache / name).stat().st_size for name in kept) <= 3000
    loaded = world_cache.load_array("trust", "k9", (10, 10), np.float32)
    assert type(loaded) is np.ndarray and np.array_equal(loaded, square)
    loaded[0, 0] = 5.0  # a copy: the entry is unchanged
    assert world_cache.load_array("trust", "k9", (10, 10), np.float32)[0, 0] == 0.0
    assert world_cache.load_array("trust", "k9", (10, 11), np.float32) is None
    assert world_cache.load_array("trust", "k9", (10, 10), np.float64) is None
    assert world_cache.load_array("trust", "missing", (10, 10), np.float32) is None
    entry = cache / "trust-k9.npy"
    damaged = bytearray(entry.read_bytes())
    damaged[damaged.index(b"'fortran")] = 0x84  # one bad byte in the header: unreadable
    entry.write_bytes(bytes(damaged))
    assert world_cache.load_array("trust", "k9", (10, 10), np.float32) is None


def test_an_unusable_cache_folder_never_stops_a_run_or_leaks_files(tmp_path, monkeypatch):
    """A cache folder whose path the system refuses (too long a name) keeps nothing and
    refuses nothing; an old temporary file of a killed writer is deleted, a fresh one kept."""
    monkeypatch.setenv("CCGABM_CACHE", str(tmp_path / ("a" * 300)))
    assert not world_cache.second_request("trust", "k")
    world_cache.save_array("trust", "k", np.zeros(3, dtype=np.float32))
    assert world_cache.load_array("trust", "k", (3,), np.float32) is None
    monkeypatch.setenv("CCGABM_CACHE", str(tmp_path / "c"))
    folder = tmp_path / "c" / "worlds"
    folder.mkdir(parents=True)
    stale, fresh = folder / ".trust-old.x.tmp", folder / ".trust-new.y.tmp"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"being written")
    os.utime(stale, (1_000_000_000, 1_000_000_000))
    world_cache.save_array("trust", "k", np.zeros(3, dtype=np.float32))
    assert not stale.exists() and fresh.exists()
    assert (folder / "trust-k.npy").exists()
