"""Sweep plans: the base config, every point's validated config and digest, and run seeds.

Building a plan checks the planned run count against the size limit (``MAX_RUNS``) first, then
every point against ``Config.with_overrides`` before anything runs or is written, so an
oversized spec, a misspelt axis or an out-of-range value fails fast as a ``SpecError``.

A plan's ``spec_digest`` names the runs it describes: the root seed, common random numbers,
kept outputs and the config digest of every point in order (which covers the base scenario's
values, ``[fixed]``, the axes and the design). Replications are left out: replication k of a
point has the same seed whatever the total, so a store may grow by more replications. Two
specs with the same digest plan the same runs, whatever their file names, paths or
descriptions; the sweep store records it and refuses to mix runs of different digests.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ccgabm.sweep.design import design_points
from ccgabm.sweep.seeds import RunSeed, run_seeds
from ccgabm.sweep.spec import MAX_RUNS, SpecError, SweepSpec, check_spec_size

__all__ = ["Plan", "build_plan", "point_overrides", "spec_digest"]

ConfigLoader = Callable[[Path], Any]


@dataclass(frozen=True)
class Plan:
    """Everything needed to run a sweep: points, their configs and digests, and seeds."""

    spec: SweepSpec
    points: pd.DataFrame  # point_id, one column per axis, config_digest, horizon_months
    configs: list[Any]
    seeds: list[list[RunSeed]]

    @property
    def spec_digest(self) -> str:
        """Digest of the runs this plan describes (see the module docstring)."""
        return spec_digest(
            self.spec.seed,
            self.spec.common_random_numbers,
            list(self.spec.keep),
            [str(d) for d in self.points["config_digest"]],
        )

    @property
    def n_runs(self) -> int:
        """Total runs (points x replications)."""
        return len(self.configs) * self.spec.replications

    def digest(self, point_id: int) -> str:
        """Config digest of one point."""
        return str(self.points.at[point_id, "config_digest"])


def spec_digest(
    seed: int, common_random_numbers: bool, keep: list[str], config_digests: list[str]
) -> str:
    """SHA-256 (hex, 16 chars) of what identifies a sweep's runs (replications aside)."""
    text = json.dumps(
        {
            "seed": int(seed),
            "common_random_numbers": bool(common_random_numbers),
            "keep": sorted(keep),
            "config_digests": list(config_digests),
        },
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _default_loader(path: Path) -> Any:
    from ccgabm.config import load_config

    return load_config(path)


def _horizon_months(config: Any) -> float:
    try:
        return float(config.run.years) * 12.0
    except AttributeError:
        return float("nan")


def point_overrides(points: pd.DataFrame, axis_names: list[str]) -> list[dict[str, Any]]:
    """Per-point ``{dotted name: plain Python value}`` (numpy scalars unwrapped)."""
    out = []
    for row in points[axis_names].itertuples(index=False):
        values = (v.item() if hasattr(v, "item") else v for v in row)
        out.append(dict(zip(axis_names, values, strict=True)))
    return out


def build_plan(
    spec: SweepSpec, load_config: ConfigLoader | None = None, max_runs: int | None = MAX_RUNS
) -> Plan:
    """Load the base config and validate every point; raise ``SpecError`` on any problem.

    The run count is checked against ``max_runs`` (None: no bound) before anything is built.
    """
    check_spec_size(spec, max_runs)
    loader = load_config or _default_loader
    try:
        base = loader(spec.base)
    except FileNotFoundError:
        raise SpecError(f"[sweep] base = {str(spec.base)!r}: file does not exist") from None
    except ValueError as exc:  # ConfigError subclasses ValueError
        raise SpecError(f"[sweep] base = {str(spec.base)!r}: {exc}") from None
    if spec.fixed:
        try:
            base = base.with_overrides(dict(spec.fixed))
        except ValueError as exc:
            raise SpecError(f"[fixed] rejected by the model's config: {exc}") from None

    points = design_points(spec, max_runs)
    names = spec.axis_names
    configs = []
    for pid, overrides in enumerate(point_overrides(points, names)):
        try:
            configs.append(base.with_overrides(overrides))
        except ValueError as exc:
            shown = ", ".join(f"{k} = {v!r}" for k, v in overrides.items())
            raise SpecError(f"[axes] point {pid} ({shown}) rejected by the config: {exc}") from None
    points = points.copy()
    points["config_digest"] = [c.digest() for c in configs]
    points["horizon_months"] = [_horizon_months(c) for c in configs]
    seeds = run_seeds(spec.seed, len(configs), spec.replications, spec.common_random_numbers)
    return Plan(spec=spec, points=points, configs=configs, seeds=seeds)
