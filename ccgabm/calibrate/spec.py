"""Calibration specifications: parse and validate a TOML file into a frozen ``CalibrationSpec``.

A spec names a base scenario, the free parameters with their bounds, the observed targets, the
replications per candidate and the sampler::

    [calibration]
    base = "../baseline.toml"      # relative to the spec file
    seed = 7                       # root of every run seed (common to all candidates)
    replications = 4               # runs per candidate
    sampler = "tpe"                # tpe | cmaes | random | qmc
    trials = 40                    # trials in the study (--trials overrides)
    batch = 4                      # candidates evaluated together (several trials in parallel)
    check_replications = 8         # fresh-seed rerun of the best candidate (0: none)

    [fixed]                        # overrides applied to the base scenario
    "run.years" = 3

    [parameters]                   # free parameters: bounds, and log scale where apt
    "referral.need_rate" = { low = 0.01, high = 0.04 }
    "emergency.base_rate" = { low = 0.001, high = 0.01, log = true }

    [[targets]]                    # a summary figure of the run
    output = "emergency_admissions_per_1000"
    value = 98.0
    sd = 5.0                       # uncertainty of the observed value
    weight = 1.0

    [[targets]]                    # a per-year series (ccgabm.calibrate.outputs.SERIES)
    series = "groups"
    years = [0, 1, 2]              # financial years of the run, 0 = the first
    values = [3, 3, 3]
    sd = 0.5                       # one value, or one per year

Every key is checked: a mistake raises ``CalibrationError`` naming the key, the value and what is
allowed. Checking parameter names and bounds needs the base config and is done by
``ccgabm.calibrate.study.check_parameters`` (still before any run).
"""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ccgabm.params import CcgabmError
from ccgabm.sweep.spec import (
    SpecError,
    _check_keys,
    _dotted,
    _number,
    _table,
    fixed_table,
    read_spec_file,
)

__all__ = ["SAMPLERS", "CalibrationError", "CalibrationSpec", "Parameter", "Target", "load_calibration",
           "parse_calibration"]

SAMPLERS = ("tpe", "cmaes", "random", "qmc")
# Bounds that keep a batch (batch x replications runs) and the study far inside what the sweep
# engine and Optuna's storage handle; real calibrations use tens of replicates and thousands of
# trials.
MAX_REPLICATIONS = 1_000
MAX_BATCH = 1_000
MAX_TRIALS = 1_000_000
_TABLES = {"calibration": "table", "fixed": "table", "parameters": "table", "targets": "array of tables"}
_KEYS = {
    "base": "path of the base scenario TOML, relative to the spec file",
    "seed": "root seed (int >= 0)",
    "replications": "runs per candidate (int >= 1; >= 2 to estimate model noise)",
    "sampler": "one of " + ", ".join(SAMPLERS),
    "trials": "trials in the study (int >= 1)",
    "batch": "candidates evaluated together (int >= 1)",
    "check_replications": "fresh-seed runs of the best candidate (int >= 0)",
    "study": "study name in the storage (default: the spec file's stem)",
    "description": "free text shown in the report",
}
_PARAMETER_KEYS = {"low": "lower bound", "high": "upper bound", "log": "search on a log scale (bool)"}
_TARGET_KEYS = {
    "name": "label in the report (default: the output or series name)",
    "output": "a summary figure of the run",
    "series": "a per-year series",
    "value": "observed value (with output)",
    "years": "financial years of the run, 0 = the first (with series)",
    "values": "observed value of each year (with series)",
    "sd": "uncertainty (standard deviation) of the observed value(s), > 0",
    "weight": "weight of the target in the loss (> 0, default 1)",
}


class CalibrationError(CcgabmError, ValueError):
    """A calibration spec or study is unusable; the message names the key and what is allowed."""


@dataclass(frozen=True)
class Parameter:
    """One free parameter: a dotted config name with bounds (searched on a log scale if ``log``)."""

    name: str
    low: float
    high: float
    log: bool = False
    integer: bool = False  # set from the base scenario's value (``check_parameters``)


@dataclass(frozen=True)
class Target:
    """An observed figure or per-year series the model should reproduce."""

    name: str
    output: str | None  # a summary figure, or None for a series
    series: str | None
    years: tuple[int, ...]  # () for a summary figure
    values: tuple[float, ...]  # one per year, or one for a summary figure
    sd: tuple[float, ...]  # same length as values
    weight: float = 1.0

    @property
    def columns(self) -> list[str]:
        """The run-row columns holding the model's value(s), in the order of ``values``."""
        if self.output is not None:
            return [self.output]
        return [f"series.{self.series}.{y}" for y in self.years]

    @property
    def labels(self) -> list[str]:
        """One label per observed value (the year for a series)."""
        if self.output is not None:
            return [self.name]
        return [f"{self.name} y{y}" for y in self.years]


@dataclass(frozen=True)
class CalibrationSpec:
    """A validated calibration specification."""

    base: Path
    seed: int
    replications: int
    sampler: str
    parameters: tuple[Parameter, ...]
    targets: tuple[Target, ...]
    trials: int = 40
    batch: int = 4
    check_replications: int = 8
    study: str = "calibration"
    fixed: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    source: Path | None = None

    @property
    def parameter_names(self) -> list[str]:
        """Free parameter names in declaration order."""
        return [p.name for p in self.parameters]

    @property
    def series(self) -> tuple[str, ...]:
        """The per-year series the runs must report."""
        return tuple(dict.fromkeys(t.series for t in self.targets if t.series is not None))

    def digest(self, base_digest: str) -> str:
        """What identifies the study's objective: the scenario (``base_digest``, the base config
        digest after ``[fixed]``), the seed, replications, the parameters and their bounds, and
        the targets' figures, values, uncertainties and weights. Left out, so that a study may be
        extended or its search changed: trials, batch size, sampler, the check rerun, names and
        the order of declarations."""
        text = json.dumps(
            {
                "base": base_digest,
                "seed": self.seed,
                "replications": self.replications,
                "parameters": sorted([p.name, p.low, p.high, p.log, p.integer] for p in self.parameters),
                "targets": sorted([t.output or "", t.series or "", list(t.years), list(t.values),
                                   list(t.sd), t.weight] for t in self.targets),
            },
            sort_keys=True,
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_calibration(path: str | Path) -> CalibrationSpec:
    """Read and validate a calibration spec file (``base`` is resolved relative to it)."""
    path = Path(path)
    data = read_spec_file(path, "calibration spec", CalibrationError)
    try:
        return parse_calibration(data, base_dir=path.parent, source=path, default_study=path.stem)
    except CalibrationError as exc:
        raise CalibrationError(f"{path}: {exc}") from None


def parse_calibration(data: dict[str, Any], base_dir: str | Path = ".", source: Path | None = None,
                      default_study: str = "calibration") -> CalibrationSpec:
    """Validate nested spec data (as read from TOML) into a ``CalibrationSpec``."""
    try:
        return _parse(data, Path(base_dir), source, default_study)
    except SpecError as exc:  # the checks shared with sweep specs
        raise CalibrationError(str(exc)) from None


def _parse(data: dict[str, Any], base_dir: Path, source: Path | None, default_study: str) -> CalibrationSpec:
    _check_keys("top level", data, _TABLES)
    head = _table(data, "calibration", required=True)
    _check_keys("[calibration]", head, _KEYS)
    base_text = head.get("base")
    if not isinstance(base_text, str) or not base_text:
        raise CalibrationError(f"[calibration] base must be the path of the base scenario TOML, got "
                               f"{base_text!r}")
    base = Path(base_text)
    if not base.is_absolute():
        base = base_dir / base
    seed = _int(head, "seed", None, 0)
    if seed is None:
        raise CalibrationError("[calibration] seed is required: an int >= 0 (the root of every run seed)")
    sampler = head.get("sampler", "tpe")
    if sampler not in SAMPLERS:
        raise CalibrationError(f"[calibration] sampler must be one of {', '.join(SAMPLERS)}; got {sampler!r}")
    study = head.get("study", default_study)
    if not isinstance(study, str) or not study.strip():
        raise CalibrationError(f"[calibration] study must be a non-empty name, got {study!r}")
    description = head.get("description", "")
    if not isinstance(description, str):
        raise CalibrationError(f"[calibration] description must be a string, got {description!r}")

    fixed = fixed_table(data, CalibrationError)

    parameters_data = _table(data, "parameters", required=True)
    if not parameters_data:
        raise CalibrationError("[parameters] is empty: name at least one free parameter with its bounds")
    parameters = tuple(_parameter(name, value) for name, value in parameters_data.items())
    for p in parameters:
        if p.name == "run.seed":
            raise CalibrationError("[parameters] 'run.seed' cannot be calibrated: every run's seed comes "
                                   "from [calibration] seed")
        if p.name in fixed:
            raise CalibrationError(f"[fixed] {p.name} is also a free parameter; keep it in one table only")

    targets_data = data.get("targets")
    if not isinstance(targets_data, list) or not targets_data:
        raise CalibrationError("[[targets]] is required: at least one observed figure or series")
    targets = tuple(_target(i, t) for i, t in enumerate(targets_data))
    names = [t.name for t in targets]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise CalibrationError(f"[[targets]] names must be distinct; repeated: {', '.join(dup)} "
                               "(give each a name = ...)")
    return CalibrationSpec(
        base=base, seed=seed, replications=_int(head, "replications", 2, 1, MAX_REPLICATIONS),
        sampler=sampler, parameters=parameters, targets=targets,
        trials=_int(head, "trials", 40, 1, MAX_TRIALS), batch=_int(head, "batch", 4, 1, MAX_BATCH),
        check_replications=_int(head, "check_replications", 8, 0, MAX_REPLICATIONS),
        study=study.strip(), fixed=dict(fixed), description=description, source=source,
    )


def _parameter(name: str, value: Any) -> Parameter:
    where = f"[parameters] {name!r}"
    _dotted(where, name)
    if not isinstance(value, dict):
        raise CalibrationError(f"{where} must be a table {{ low = ..., high = ... }}, got {value!r}")
    _check_keys(where, value, _PARAMETER_KEYS)
    for key in ("low", "high"):
        if key not in value:
            raise CalibrationError(f"{where} needs {key!r} ({_PARAMETER_KEYS[key]})")
    low, high = _number(f"{where} low", value["low"]), _number(f"{where} high", value["high"])
    if not low < high:
        raise CalibrationError(f"{where}: low must be < high, got low={low!r}, high={high!r}")
    log = value.get("log", False)
    if not isinstance(log, bool):
        raise CalibrationError(f"{where} log must be true or false, got {log!r}")
    if log and low <= 0:
        raise CalibrationError(f"{where}: a log-scale search needs low > 0, got low={low!r}")
    return Parameter(name=name, low=low, high=high, log=log)


def _target(index: int, data: Any) -> Target:
    from ccgabm.calibrate.outputs import SERIES, summary_figures

    where = f"[[targets]] #{index + 1}"
    if not isinstance(data, dict):
        raise CalibrationError(f"{where} must be a table, got {data!r}")
    _check_keys(where, data, _TARGET_KEYS)
    output, series = data.get("output"), data.get("series")
    if (output is None) == (series is None):
        raise CalibrationError(f"{where} needs exactly one of output (a summary figure) or series "
                               "(a per-year series)")
    if "sd" not in data:
        raise CalibrationError(f"{where} needs sd: the uncertainty of the observed value (> 0)")
    weight = _number(f"{where} weight", data.get("weight", 1.0))
    if not weight > 0:
        raise CalibrationError(f"{where} weight must be > 0, got {weight!r}")
    if output is not None:
        known = summary_figures()
        if not isinstance(output, str) or output not in known:
            raise CalibrationError(f"{where} output = {output!r} is not a summary figure"
                                   f"{_close(output, known)}; see docs/guide.md (calibration) for the list")
        for key in ("years", "values"):
            if key in data:
                raise CalibrationError(f"{where}: {key} goes with series; a summary figure has one value")
        if "value" not in data:
            raise CalibrationError(f"{where} needs value: the observed {output}")
        values = (_number(f"{where} value", data["value"]),)
        years: tuple[int, ...] = ()
        sd = (_positive(f"{where} sd", data["sd"]),)
    else:
        if not isinstance(series, str) or series not in SERIES:
            raise CalibrationError(f"{where} series = {series!r} is not a known series"
                                   f"{_close(series, SERIES)}; allowed: {', '.join(SERIES)}")
        if "value" in data:
            raise CalibrationError(f"{where}: value goes with output; a series has years and values")
        years_data, values_data = data.get("years"), data.get("values")
        if not isinstance(years_data, list) or not years_data:
            raise CalibrationError(f"{where} years must be a non-empty list of run years (0 = the first)")
        for y in years_data:
            if isinstance(y, bool) or not isinstance(y, int) or y < 0:
                raise CalibrationError(f"{where} years must be ints >= 0, got {y!r}")
        if len(set(years_data)) != len(years_data):
            raise CalibrationError(f"{where} years repeats a year in {years_data!r}")
        if not isinstance(values_data, list) or len(values_data) != len(years_data):
            raise CalibrationError(f"{where} values must be a list with one value per year "
                                   f"({len(years_data)}), got {values_data!r}")
        years = tuple(years_data)
        values = tuple(_number(f"{where} values", v) for v in values_data)
        sd_data = data["sd"]
        if isinstance(sd_data, list):
            if len(sd_data) != len(years):
                raise CalibrationError(f"{where} sd must be one value or one per year ({len(years)}), "
                                       f"got {sd_data!r}")
            sd = tuple(_positive(f"{where} sd", s) for s in sd_data)
        else:
            sd = (_positive(f"{where} sd", sd_data),) * len(years)
    name = data.get("name", output if output is not None else series)
    if not isinstance(name, str) or not name.strip():
        raise CalibrationError(f"{where} name must be a non-empty string, got {name!r}")
    return Target(name=name.strip(), output=output, series=series, years=years, values=values, sd=sd,
                  weight=weight)


def _close(name: Any, known: Any) -> str:
    if not isinstance(name, str):
        return ""
    near = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {near[0]!r}?)" if near else ""


def _int(table: dict[str, Any], key: str, default: int | None, lo: int, hi: int | None = None) -> int | None:
    if key not in table:
        return default
    value = table[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < lo or (hi is not None and value > hi):
        allowed = f">= {lo}" if hi is None else f"from {lo:,} to {hi:,}"
        raise CalibrationError(f"[calibration] {key} must be an int {allowed}, got {value!r}")
    return value


def _positive(where: str, value: Any) -> float:
    number = _number(where, value)
    if not number * number > 0:  # its square divides the loss: it must not underflow to 0
        raise CalibrationError(f"{where} must be > 0 (an uncertainty, at least 1e-150), got {value!r}")
    return number
