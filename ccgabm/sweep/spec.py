"""Sweep specifications: parse and validate a TOML sweep file into a frozen ``SweepSpec``.

A spec names a base scenario, a root seed, the number of replications, a sampling design and
the axes to vary. Every key is checked; a mistake raises ``SpecError`` naming the key, the
value and what is allowed. Checking the axis names against the model's parameters needs the
base config and is done in ``ccgabm.sweep.plan``.

Size bound: a sweep may plan at most ``MAX_RUNS`` (1,000,000) runs, points x replications.
The count is computed from the spec's numbers alone (``estimate_runs``), before any axis
values, design samples, seeds or configs are built, so a typo such as
``replications = 100000000`` fails at once instead of exhausting memory. The limit sits far
above real sweeps (the fracture map is 2,700 runs; one model run takes seconds, so a million
runs is months of core time) while a million-run plan still fits comfortably in memory
(about 15 s and under 1 GB to draw the seeds). ``max_runs=None`` (``--force`` on the
command line) lifts it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ccgabm.params import CcgabmError

__all__ = [
    "MAX_RUNS",
    "SAMPLINGS",
    "KNOWN_OUTPUTS",
    "Axis",
    "SpecError",
    "SweepSpec",
    "check_size",
    "check_spec_size",
    "design_size",
    "estimate_runs",
    "load_spec",
    "parse_spec",
    "read_spec_file",
]

SAMPLINGS = ("grid", "list", "lhs", "sobol", "morris")
MAX_RUNS = 1_000_000  # runs (points x replications) a sweep may plan without force
# Memory the plan takes per run (seeds, identities), measured: about 1 GB for a million runs.
# Even with force, a plan that would not fit in the memory available is refused.
PLAN_BYTES_PER_RUN = 1024
AXIS_BYTES_PER_VALUE = 64  # a Python float in a tuple, with margin
KNOWN_OUTPUTS = ("group_fates",)
_SWEEP_KEYS = {
    "base": "path of the base scenario TOML, relative to the spec file",
    "seed": "root seed (int >= 0)",
    "replications": "runs per point (int >= 1)",
    "sampling": "one of " + ", ".join(SAMPLINGS),
    "samples": "design size for lhs, sobol (power of two) and morris (trajectories)",
    "num_levels": "grid levels of a Morris design (even int >= 2, default 4)",
    "common_random_numbers": "bool: share run seeds across points (default false)",
    "description": "free text shown in the report",
}
_TABLES = ("sweep", "axes", "fixed", "outputs")
Scalar = bool | int | float | str


class SpecError(CcgabmError, ValueError):
    """A sweep specification is malformed; the message names the key and what is allowed."""


@dataclass(frozen=True)
class Axis:
    """One swept parameter: explicit ``values`` (grid) or a ``low``/``high`` range."""

    name: str
    values: tuple[Scalar, ...] | None = None
    low: float | None = None
    high: float | None = None

    @property
    def is_range(self) -> bool:
        """True when the axis is a continuous range (lhs, sobol, morris)."""
        return self.values is None


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep specification."""

    base: Path
    seed: int
    replications: int
    sampling: str
    axes: tuple[Axis, ...]
    samples: int | None = None
    num_levels: int = 4
    common_random_numbers: bool = False
    fixed: dict[str, Scalar] = field(default_factory=dict)
    keep: tuple[str, ...] = KNOWN_OUTPUTS
    description: str = ""
    source: Path | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def axis_names(self) -> list[str]:
        """Axis names in declaration order."""
        return [a.name for a in self.axes]


def design_size(sampling: str, axis_counts: list[int], samples: int | None) -> int:
    """Number of design points, from the spec's numbers alone (nothing is allocated).

    ``axis_counts`` holds the number of values of each axis (used by ``grid``; the other
    designs only use how many axes there are). Sobol is SALib's Saltelli design with second
    order indices, ``samples x (2 d + 2)``; Morris is ``trajectories x (d + 1)``.
    """
    d = len(axis_counts)
    if sampling == "grid":
        return math.prod(axis_counts)
    if sampling == "list":  # point i takes the i-th value of every axis (lengths checked equal)
        return axis_counts[0] if axis_counts else 0
    n = int(samples or 0)
    if sampling == "sobol":
        return n * (2 * d + 2)
    if sampling == "morris":
        return n * (d + 1)
    return n


def _counts(spec: SweepSpec) -> list[int]:
    return [len(a.values) if a.values is not None else 1 for a in spec.axes]


def estimate_runs(spec: SweepSpec) -> int:
    """Runs a spec plans (points x replications), computed without building the design."""
    return design_size(spec.sampling, _counts(spec), spec.samples) * spec.replications


def check_spec_size(spec: SweepSpec, max_runs: int | None = MAX_RUNS) -> int:
    """``check_size`` for a parsed spec: the run count, or ``SpecError`` past ``max_runs``."""
    return check_size(spec.sampling, _counts(spec), spec.samples, spec.replications, max_runs)


def check_size(
    sampling: str,
    axis_counts: list[int],
    samples: int | None,
    replications: int,
    max_runs: int | None = MAX_RUNS,
) -> int:
    """Return the planned run count; raise ``SpecError`` when it exceeds ``max_runs``."""
    points = design_size(sampling, axis_counts, samples)
    runs = points * replications
    if max_runs is not None and runs > max_runs:
        if sampling == "grid":
            shape = " x ".join(f"{c:,}" for c in axis_counts) + " grid values"
        elif sampling == "list":
            shape = f"{points:,} listed points"
        elif sampling == "sobol":
            shape = f"{samples:,} samples x (2 x {len(axis_counts)} axes + 2)"
        elif sampling == "morris":
            shape = f"{samples:,} trajectories x ({len(axis_counts)} axes + 1)"
        else:
            shape = f"{samples:,} samples"
        raise SpecError(
            f"[sweep] plans {runs:,} runs ({shape} = {points:,} points x {replications:,} "
            f"replication{'s' if replications != 1 else ''}), over the limit of {max_runs:,} runs "
            "per sweep; shrink the spec, or pass --force (force=True) to run it anyway"
        )
    return runs


def check_plan_memory(spec: SweepSpec) -> None:
    """``SpecError`` when planning the spec's runs alone would not fit in the memory available
    (checked even when the run-count limit is lifted)."""
    check_runs_memory(estimate_runs(spec))


def _check_axis_memory(axes_data: dict[str, Any], counts: list[int]) -> None:
    from ccgabm.world import available_memory

    free = available_memory()
    need = sum(counts) * AXIS_BYTES_PER_VALUE
    if free is not None and need > free:
        name, count = max(zip(axes_data, counts, strict=True), key=lambda nc: nc[1])
        raise SpecError(
            f"[axes] {name!r} has {count:,} values: building them needs about "
            f"{need / 2**30:,.1f} GiB, more than the {free / 2**30:,.1f} GiB available"
        )


def check_runs_memory(runs: int) -> None:
    """``check_plan_memory`` for a run count."""
    from ccgabm.world import available_memory

    free = available_memory()
    if free is not None and runs * PLAN_BYTES_PER_RUN > free:
        raise SpecError(
            f"[sweep] plans {runs:,} runs: planning them alone needs about "
            f"{runs * PLAN_BYTES_PER_RUN / 2**30:,.1f} GiB, more than the "
            f"{free / 2**30:,.1f} GiB available; shrink the spec"
        )


def load_spec(path: str | Path, max_runs: int | None = MAX_RUNS) -> SweepSpec:
    """Read and validate a sweep spec file (``base`` is resolved relative to it).

    ``max_runs`` bounds the planned run count before anything is allocated (None: no bound).
    """
    if not isinstance(path, str | Path):
        raise SpecError(f"a sweep spec is a path to a TOML file, got {type(path).__name__}")
    path = Path(path)
    data = read_spec_file(path, "sweep spec", SpecError)
    try:
        return parse_spec(data, base_dir=path.parent, source=path, max_runs=max_runs)
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}") from None


def read_spec_file(path: Path, what: str, error: type[Exception]) -> dict[str, Any]:
    """The TOML data of a spec file; ``error`` (naming ``what`` and the file) when it is missing,
    unreadable, not UTF-8 text or not TOML."""
    from ccgabm.config import parse_toml

    try:
        if not path.is_file():
            raise error(f"{what} {str(path)!r} does not exist (or is not a file)")
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not a UTF-8 text file (byte {exc.start}): a {what} is TOML text") from None
    except OSError as exc:
        raise error(f"{what} {str(path)[:80]!r}: {exc.strerror or exc}") from None
    return parse_toml(text, path, error)


def parse_spec(
    data: dict[str, Any],
    base_dir: str | Path = ".",
    source: Path | None = None,
    max_runs: int | None = MAX_RUNS,
) -> SweepSpec:
    """Validate nested spec data (as read from TOML) into a ``SweepSpec``.

    The planned run count is checked against ``max_runs`` (None: no bound) before any axis
    values are built, so an oversized spec fails at once with a ``SpecError``.
    """
    _check_keys("top level", data, {t: "table" for t in _TABLES})
    sweep = _table(data, "sweep", required=True)
    _check_keys("[sweep]", sweep, _SWEEP_KEYS)

    if "base" not in sweep:
        raise SpecError("[sweep] base is required: the path of the base scenario TOML")
    base_text = sweep["base"]
    if not isinstance(base_text, str) or not base_text:
        raise SpecError(f"[sweep] base must be a non-empty path string, got {base_text!r}")
    base = Path(base_text)
    if not base.is_absolute():
        base = Path(base_dir) / base

    seed = _int(sweep, "seed", default=None, lo=0)
    if seed is None:
        raise SpecError("[sweep] seed is required: an int >= 0 (the root of every run seed)")
    replications = _int(sweep, "replications", default=1, lo=1)
    sampling = sweep.get("sampling", "grid")
    if sampling not in SAMPLINGS:
        raise SpecError(f"[sweep] sampling must be one of {', '.join(SAMPLINGS)}; got {sampling!r}")
    samples = _int(sweep, "samples", default=None, lo=1)
    num_levels = _int(sweep, "num_levels", default=4, lo=2)
    crn = sweep.get("common_random_numbers", False)
    if not isinstance(crn, bool):
        raise SpecError(f"[sweep] common_random_numbers must be true or false, got {crn!r}")
    description = sweep.get("description", "")
    if not isinstance(description, str):
        raise SpecError(f"[sweep] description must be a string, got {description!r}")

    if sampling in ("grid", "list"):
        if samples is not None:
            raise SpecError(f"[sweep] samples is only used with lhs, sobol or morris, not {sampling}")
    elif samples is None:
        raise SpecError(f"[sweep] samples is required with sampling = {sampling!r}")
    if sampling == "sobol" and samples & (samples - 1):
        lower = 1 << (samples.bit_length() - 1)
        raise SpecError(
            f"[sweep] samples must be a power of two with sampling = 'sobol' (Saltelli design), "
            f"got {samples}; try {lower} or {lower * 2}"
        )
    if "num_levels" in sweep and sampling != "morris":
        raise SpecError("[sweep] num_levels is only used with sampling = 'morris'")
    if sampling == "morris" and num_levels % 2:
        raise SpecError(f"[sweep] num_levels must be even for a Morris design, got {num_levels}")

    axes_data = _table(data, "axes", required=True)
    if not axes_data:
        raise SpecError("[axes] is empty: name at least one parameter to vary")
    counts = [_axis_count(value, sampling) for value in axes_data.values()]
    if sampling == "list" and len(set(counts)) > 1:
        shown = ", ".join(f"{name!r}: {n}" for name, n in zip(axes_data, counts, strict=True))
        raise SpecError(f"[axes] with sampling = 'list' every axis lists one value per point; "
                        f"the lengths differ ({shown})")
    check_size(sampling, counts, samples, replications, max_runs)
    if sampling in ("grid", "list"):  # each axis's values are built next: never more than memory holds
        _check_axis_memory(axes_data, counts)
    axes = tuple(_axis(name, value, sampling) for name, value in axes_data.items())
    if sampling in ("sobol", "morris") and len(axes) < 2:
        raise SpecError(f"[axes] sampling = {sampling!r} needs at least two axes")

    fixed = fixed_table(data, SpecError)
    for name in fixed:
        if name in axes_data:
            raise SpecError(f"[fixed] {name} is also an axis; keep it in one table only")

    outputs = _table(data, "outputs", required=False)
    _check_keys("[outputs]", outputs, {"keep": "list of outputs to store"})
    keep = outputs.get("keep", list(KNOWN_OUTPUTS))
    if not isinstance(keep, list) or any(k not in KNOWN_OUTPUTS for k in keep):
        raise SpecError(f"[outputs] keep must be a list drawn from {list(KNOWN_OUTPUTS)}, got {keep!r}")

    return SweepSpec(
        base=base,
        seed=seed,
        replications=replications,
        sampling=sampling,
        axes=axes,
        samples=samples,
        num_levels=num_levels,
        common_random_numbers=crn,
        fixed=dict(fixed),
        keep=tuple(dict.fromkeys(keep)),
        description=description,
        source=source,
        raw=data,
    )


def _check_keys(where: str, table: dict[str, Any], allowed: dict[str, str]) -> None:
    for key in table:
        if key not in allowed:
            raise SpecError(f"{where}: unknown key {key!r}; allowed: {', '.join(allowed)}")


def _table(data: dict[str, Any], name: str, required: bool) -> dict[str, Any]:
    if name not in data:
        if required:
            raise SpecError(f"[{name}] table is required")
        return {}
    value = data[name]
    if not isinstance(value, dict):
        raise SpecError(f"{name} must be a table ([{name}]), got {value!r}")
    return value


def _int(table: dict[str, Any], key: str, default: int | None, lo: int) -> int | None:
    if key not in table:
        return default
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise SpecError(f"[sweep] {key} must be an int >= {lo}, got {value!r}")
    return value


def fixed_table(data: dict[str, Any], error: type[Exception]) -> dict[str, Any]:
    """A spec's ``[fixed]`` table: dotted parameter names with a number, bool or string each
    (``error`` names a value that is not one)."""
    fixed = _table(data, "fixed", required=False)
    for name, value in fixed.items():
        _dotted(f"[fixed] {name!r}", name)
        if not _is_scalar(value):
            raise error(f"[fixed] {name} must be a number, bool or string, got {value!r}")
    return fixed


def _is_scalar(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, bool | int | str)


def _dotted(where: str, name: str) -> None:
    section, _, key = name.partition(".")
    if not section or not key:
        raise SpecError(f"{where} must be a dotted 'section.name' parameter, e.g. 'finance.x'")


def _number(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SpecError(f"{where} must be a finite number, got {value!r}")
    return float(value)


def _axis_count(value: Any, sampling: str) -> int:
    """How many values an axis will have (1 when malformed; ``_axis`` then says why)."""
    if isinstance(value, list):
        return max(len(value), 1)
    if sampling == "grid" and isinstance(value, dict):
        num = value.get("num")
        if isinstance(num, int) and not isinstance(num, bool) and num >= 2:
            return num
    return 1


def _axis(name: str, value: Any, sampling: str) -> Axis:
    where = f"[axes] {name!r}"
    _dotted(where, name)
    if isinstance(value, list):
        if sampling not in ("grid", "list"):
            raise SpecError(
                f"{where}: a list of values needs sampling = 'grid' or 'list'; with {sampling!r} "
                "give a range { low = ..., high = ... }"
            )
        if not value:
            raise SpecError(f"{where} is an empty list: give at least one value")
        for v in value:
            if not _is_scalar(v):
                raise SpecError(f"{where}: values must be numbers, bools or strings, got {v!r}")
        if sampling == "grid" and len(set(map(repr, value))) != len(value):
            raise SpecError(f"{where} repeats a value in {value!r}; values must be distinct")
        return Axis(name=name, values=tuple(value))
    if isinstance(value, dict):
        if sampling == "list":
            raise SpecError(f"{where}: sampling = 'list' needs a list of values, one per point")
        allowed = {"low": "lower bound", "high": "upper bound"}
        if sampling == "grid":
            allowed["num"] = "number of evenly spaced values (int >= 2)"
        _check_keys(where, value, allowed)
        for key in ("low", "high") + (("num",) if sampling == "grid" else ()):
            if key not in value:
                raise SpecError(f"{where} needs {key!r} ({allowed[key]})")
        low = _number(f"{where} low", value["low"])
        high = _number(f"{where} high", value["high"])
        if not low < high:
            raise SpecError(f"{where}: low must be < high, got low={low!r}, high={high!r}")
        if sampling == "grid":
            num = value["num"]
            if isinstance(num, bool) or not isinstance(num, int) or num < 2:
                raise SpecError(f"{where} num must be an int >= 2, got {num!r}")
            # Round away float noise so digests and column values stay tidy.
            step = (high - low) / (num - 1)
            values = tuple(round(low + i * step, 12) for i in range(num))
            return Axis(name=name, values=values)
        return Axis(name=name, low=low, high=high)
    shape = "{ low, high, num }" if sampling == "grid" else "{ low, high }"
    raise SpecError(f"{where} must be a list of values or a table {shape}, got {value!r}")
