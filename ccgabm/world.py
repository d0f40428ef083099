"""Build a world: practices, groups, hospitals and neighbourhoods.

Three kinds: a synthetic region from the config, a practice table read from a file
(``--scale`` keeps every practice and samples patients), and a synthetic England with
the statistics of the January 2021 practice table. A world from a table is kept in the
start-up cache (``ccgabm.world_cache``) and taken from there by later runs with the same
table contents, world parameters and seed. A world from a table either takes each practice's
group from the table or, with ``[world] formation``, forms the groups of 2013 inside the
table's groups (``ccgabm.formation``); every world keeps each practice's footprint (its table
group; its group where nothing was formed).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ccgabm.config import MAX_PRACTICES, Config
from ccgabm.formation import form_groups
from ccgabm.params import ConfigError
from ccgabm.practice_table import IMD_MAX, IMD_MIN, load_practice_table
from ccgabm.rng import Streams
from ccgabm.world_cache import entry_key, file_digest, load_frame, save_frame

__all__ = [
    "World", "SizeEstimate", "build_world", "estimate_size", "check_size", "available_memory",
    "IMD_MIN", "IMD_MAX",
]

# Memory of a run, measured (peak resident size of runs from 40 to 8,000 practices and from
# 0.3 to 100 million patients) and rounded up:
BYTES_PER_SLOT = 9  # patient arrays: two 16-bit and five 8-bit fields per patient slot
# the starting population's ages, deprivation codes and birth months, held while their
# conditions are drawn (4 bytes), doubled
BYTES_PER_PATIENT = 8
BYTES_PER_PRACTICE_PAIR = 24  # trust between practices: practices^2 float32, with ample margin
# the libraries loaded, compiled kernels, record tables, organisations (the baseline region's
# 300,000 patients peaked at 320 MB with the figure drawn)
BYTES_FIXED = 384 * 2**20
TABLE_STREAM = "world.table"  # the random stream a world from a table draws from


@dataclass(frozen=True)
class SizeEstimate:
    """Expected size of a run, from its config alone (nothing allocated)."""

    practices: int
    patients: int  # expected registered patients at the start (simulated)
    slots: int  # patient slots: each list plus headroom for growth
    bytes: int  # expected peak memory of the model

    def describe(self) -> str:
        return (f"{self.practices:,} practices, ~{self.patients:,} patients in "
                f"~{self.slots:,} patient slots: about {_gib(self.bytes)}")


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


def estimate_size(cfg: Config) -> SizeEstimate:
    """Practices, patients and peak memory a run of ``cfg`` will need.

    Patients: the target population, or the expected sum of the log-normal list sizes, or the
    table's lists, times ``[world] scale`` (at least one per practice). Slots: each list plus
    the larger of ``[world] headroom`` and the growth the population rates imply over the
    horizon (as ``ccgabm.patients.Population`` sizes them). Memory: slots, start-up draws and
    the practices x practices trust matrices (``BYTES_PER_*``).
    """
    kind, reg, scale = cfg.world.kind, cfg.region, cfg.world.scale
    mean_size = math.exp(reg.list_size_log_mean + reg.list_size_log_sd**2 / 2)
    if kind == "region":
        n = reg.n_groups * reg.practices_per_group
        total = reg.target_population if reg.target_population > 0 else n * mean_size
    elif kind == "england":
        n = cfg.england.n_practices
        total = n * mean_size
    else:
        table = _table(cfg)
        n, total = len(table), float(table["list_size"].sum()) * cfg.world.list_size_factor
    patients = max(total * scale, n)
    pop = cfg.population
    growth = 1.0 + pop.birth_rate / 1000 + pop.in_registration_rate / 1000
    spare = max(cfg.world.headroom, growth**cfg.run.years - 1.0 + 0.05)
    slots = patients * (1.0 + spare) + 5 * n
    memory = (BYTES_FIXED + BYTES_PER_SLOT * slots + BYTES_PER_PATIENT * patients
              + BYTES_PER_PRACTICE_PAIR * float(n) ** 2)
    return SizeEstimate(practices=int(n), patients=int(patients), slots=int(slots),
                        bytes=int(memory))


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation now (None when it cannot be read).

    Linux's own figure (``MemAvailable`` in /proc/meminfo, which psutil reports there too),
    else psutil's.
    """
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # psutil missing or unable to read
        pass
    return None


def check_size(cfg: Config, force: bool = False) -> SizeEstimate:
    """Refuse (``ConfigError``) a run that cannot fit, before anything is allocated.

    More than ``MAX_PRACTICES`` practices is always refused. A run whose estimated memory
    (``estimate_size``) exceeds the memory available now is refused unless ``force``.
    """
    size = estimate_size(cfg)
    what = {
        "region": "[region] n_groups x practices_per_group",
        "england": "[england] n_practices",
        "table": f"[world] table_path = {cfg.world.table_path!r}",
    }[cfg.world.kind]
    if size.practices > MAX_PRACTICES:
        raise ConfigError(
            f"{what} gives {size.practices:,} practices: a run holds at most {MAX_PRACTICES:,}"
        )
    available = available_memory()
    if not force and available is not None and size.bytes > available:
        keys = {
            "region": "[region] target_population or [world] scale",
            "england": "[england] n_practices or [world] scale",
            "table": "[world] scale",
        }[cfg.world.kind]
        raise ConfigError(
            f"the run needs {size.describe()}, more than the {_gib(available)} of memory "
            f"available: lower {keys} (or [run] years, [world] headroom), or force the run "
            "(ccgabm run --force)"
        )
    return size


def _table_path(cfg: Config) -> Path:
    if not cfg.world.table_path:
        raise ConfigError(
            "[world] table_path = '' is not allowed when kind = 'table': name a CSV file"
        )
    return cfg.resolve_path(cfg.world.table_path)


def _table(cfg: Config) -> pd.DataFrame:
    return load_practice_table(_table_path(cfg))


@dataclass
class World:
    """Practices (one row each) and the groups, hospitals and neighbourhoods around them."""

    practices: pd.DataFrame  # code, group, postcode, list_size, imd, footprint, x, y
    group_codes: list[str]
    group_hospital: dict[str, int]
    hospital_names: list[str]
    neighbours: dict[str, set[str]]
    scale: float
    formed: dict[str, Any] | None = field(default=None)  # ``Formation.record`` of formed groups


def build_world(cfg: Config, streams: Streams) -> World:
    """The world the config asks for."""
    kind = cfg.world.kind
    if kind == "region":
        world = synthetic_region(cfg, streams)
    elif kind == "table":
        world = _kept_world_from_table(cfg, streams)
    else:
        world = synthetic_england(cfg, streams)
    return world


def synthetic_region(cfg: Config, streams: Streams) -> World:
    """Groups on a ring, practices scattered around each group's centre."""
    reg = cfg.region
    n_g, per = reg.n_groups, reg.practices_per_group
    rng = streams.get("world.region")
    sizes = rng.lognormal(reg.list_size_log_mean, reg.list_size_log_sd, n_g * per)
    if reg.target_population > 0:
        sizes *= reg.target_population / sizes.sum()
    sizes = np.maximum(np.rint(sizes * cfg.world.scale), 1).astype(np.int64)
    offsets = np.linspace(-0.5, 0.5, n_g) if n_g > 1 else np.zeros(1)
    group_means = reg.imd_mean + reg.deprivation_gap * offsets
    group_idx = np.repeat(np.arange(n_g), per)
    imd = np.clip(group_means[group_idx] + reg.imd_sd_within_group * rng.standard_normal(n_g * per),
                  IMD_MIN, IMD_MAX)
    angle = 2 * np.pi * group_idx / n_g
    radius = 1.0 if n_g > 1 else 0.0
    codes = [f"G{g:02d}" for g in range(n_g)]
    practices = pd.DataFrame({
        "code": [f"P{i:04d}" for i in range(n_g * per)],
        "group": [codes[g] for g in group_idx],
        "postcode": "",
        "list_size": sizes,
        "imd": imd,
        "footprint": [codes[g] for g in group_idx],
        "x": radius * np.cos(angle) + 0.3 * rng.standard_normal(n_g * per),
        "y": radius * np.sin(angle) + 0.3 * rng.standard_normal(n_g * per),
    })
    neighbours = {c: {codes[(g - 1) % n_g], codes[(g + 1) % n_g]} - {c} for g, c in enumerate(codes)}
    n_h = min(reg.n_hospitals, n_g)
    return World(
        practices=practices,
        group_codes=codes,
        group_hospital={c: g * n_h // n_g for g, c in enumerate(codes)},
        hospital_names=[f"H{h:02d}" for h in range(n_h)],
        neighbours=neighbours,
        scale=cfg.world.scale,
    )


def _kept_world_from_table(cfg: Config, streams: Streams) -> World:
    """``world_from_table`` through the start-up cache (``ccgabm.world_cache``): the world and
    the state of its random stream after the build are those of a fresh build."""
    rng = streams.get(TABLE_STREAM)
    try:
        digest = file_digest(_table_path(cfg))
    except OSError:
        return world_from_table(cfg, streams)  # reading the table reports the problem
    world_params = {k: v for k, v in dataclasses.asdict(cfg.world).items() if k != "table_path"}
    inputs = {
        "table_sha256": digest, "world": world_params, "england": dataclasses.asdict(cfg.england),
        "stream": rng.bit_generator.state,
    }
    if cfg.world.formation:  # formed groups also depend on the Board's minimum group size
        inputs["min_group_population"] = cfg.behaviour.min_group_population
    key = entry_key("world", inputs)
    kept = load_frame("world", key)
    if kept is not None:
        frame, meta = kept
        try:
            world = World(
                practices=frame,
                group_codes=list(meta["group_codes"]),
                group_hospital=dict(meta["group_hospital"]),
                hospital_names=list(meta["hospital_names"]),
                neighbours={code: set(codes) for code, codes in meta["neighbours"].items()},
                scale=float(meta["scale"]),
                formed=meta["formed"],
            )
            rng.bit_generator.state = meta["stream"]
        except (KeyError, TypeError, ValueError, AttributeError):
            pass  # a malformed entry: rebuilt below
        else:
            _table(cfg)  # the table's warnings, as a fresh build gives them
            return world
    world = world_from_table(cfg, streams)
    save_frame("world", key, world.practices, {
        "stream": rng.bit_generator.state,
        "group_codes": world.group_codes,
        "group_hospital": world.group_hospital,
        "hospital_names": world.hospital_names,
        "neighbours": {code: sorted(codes) for code, codes in world.neighbours.items()},
        "scale": world.scale,
        "formed": world.formed,
    })
    return world


def world_from_table(cfg: Config, streams: Streams) -> World:
    """Every practice of a table; lists times ``list_size_factor``; groups read or formed
    (``[world] formation``); patients sampled at ``scale``; neighbours by postcode area."""
    df = _table(cfg)
    rng = streams.get(TABLE_STREAM)
    if cfg.world.list_size_factor != 1.0:
        scaled = np.rint(df["list_size"].to_numpy(np.int64) * cfg.world.list_size_factor)
        df["list_size"] = np.maximum(scaled, 1).astype(np.int64)
    df["imd"] = df["imd"].clip(IMD_MIN, IMD_MAX)
    df["footprint"] = df["group"]
    formed = None
    if cfg.world.formation:  # on the lists before sampling: the same groups at every scale
        target, minimum = cfg.world.formation_population, cfg.behaviour.min_group_population
        formation = form_groups(df["footprint"].tolist(), df["postcode"].tolist(),
                                df["list_size"].to_numpy(np.int64), df["imd"].to_numpy(float),
                                target, minimum)
        df["group"] = formation.group
        formed = formation.record(target, minimum)
    if cfg.world.scale < 1.0:
        sampled = rng.binomial(df["list_size"].to_numpy(np.int64), cfg.world.scale)
        df["list_size"] = np.maximum(sampled, 1)
    world = _assemble(df, cfg, rng)
    world.formed = formed
    return world


def synthetic_england(cfg: Config, streams: Streams) -> World:
    """Practices and groups with the statistics of England's 2021 practice table."""
    eng, reg = cfg.england, cfg.region
    rng = streams.get("world.england")
    n, n_g = eng.n_practices, eng.n_groups
    z_size = rng.standard_normal(n)
    sizes = np.exp(reg.list_size_log_mean + reg.list_size_log_sd * z_size)
    group_weights = rng.lognormal(0.0, 0.6, n_g)
    group = rng.choice(n_g, size=n, p=group_weights / group_weights.sum())
    z_group = rng.standard_normal(n_g)
    rho = eng.corr_log_list_imd
    z_imd = rho * z_size + np.sqrt(1 - rho**2) * (0.6 * z_group[group] + 0.8 * rng.standard_normal(n))
    imd = np.clip(reg.imd_mean + eng.imd_sd * z_imd, IMD_MIN, IMD_MAX)
    codes = [f"E{g:03d}" for g in range(n_g)]
    df = pd.DataFrame({
        "code": [f"P{i:05d}" for i in range(n)],
        "group": [codes[g] for g in group],
        "postcode": [f"Z{g % 120:03d} 1AA" for g in group],
        "list_size": np.maximum(np.rint(sizes * cfg.world.scale), 1).astype(np.int64),
        "imd": imd,
    })
    return _assemble(df, cfg, rng)


def postcode_area(postcode: str) -> str:
    """The letters that open a postcode ('NE65 7UW' -> 'NE')."""
    match = re.match(r"[A-Za-z]+", postcode.strip())
    return match.group(0).upper() if match else ""


def _assemble(df: pd.DataFrame, cfg: Config, rng: np.random.Generator) -> World:
    """Positions on a grid of groups, hospitals by group order, neighbours by postcode area;
    a practice's footprint is its group unless one was given."""
    if "footprint" not in df.columns:
        df["footprint"] = df["group"]
    codes = sorted(df["group"].unique())
    index = {c: i for i, c in enumerate(codes)}
    side = int(np.ceil(np.sqrt(len(codes))))
    g = df["group"].map(index).to_numpy()
    df["x"] = (g % side) + 0.25 * rng.standard_normal(len(df))
    df["y"] = (g // side) + 0.25 * rng.standard_normal(len(df))
    df["list_size"] = df["list_size"].astype(np.int64)
    per_hospital = max(1, cfg.england.practices_per_hospital)
    n_h = max(1, int(np.ceil(len(df) / per_hospital)))
    n_h = min(n_h, len(codes))
    areas = df.assign(area=df["postcode"].map(postcode_area)).groupby("group")["area"].agg(set)
    neighbours: dict[str, set[str]] = {c: set() for c in codes}
    by_area: dict[str, set[str]] = {}
    for group, group_areas in areas.items():
        for a in group_areas:
            by_area.setdefault(a, set()).add(group)
    for members in by_area.values():
        for c in members:
            neighbours[c] |= members - {c}
    for i, c in enumerate(codes):  # groups adjacent on the grid are neighbours too
        for j in (i - 1, i + 1, i - side, i + side):
            if 0 <= j < len(codes) and j != i:
                neighbours[c].add(codes[j])
    return World(
        practices=df.reset_index(drop=True),
        group_codes=codes,
        group_hospital={c: i * n_h // len(codes) for i, c in enumerate(codes)},
        hospital_names=[f"H{h:03d}" for h in range(n_h)],
        neighbours=neighbours,
        scale=cfg.world.scale,
    )
