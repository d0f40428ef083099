"""Typed, validated model configuration: the core's sections with every behaviour's merged in.

A configuration is a set of sections (one frozen dataclass each). The core declares its
parameters in ``ccgabm.sections``, each behaviour in its own module; ``SECTIONS`` is both
merged. TOML files name the sections as tables; keys not declared, values of the wrong type
and values out of range are rejected with a ``ConfigError`` naming the key, the value and
what is allowed, and so are combinations that cannot give a run (``check_config``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ccgabm.params import ConfigError, build_section, one_line
from ccgabm.sections import CORE_SECTIONS
from ccgabm.timeline import change_months, dated_parameters, month_label, overrides_at, parse_timeline

__all__ = [
    "Config", "ConfigError", "load_config", "run_overrides", "SECTIONS", "PARAMETER_OWNER",
    "MAX_PRACTICES", "check_config",
]

MAX_PRACTICES = 32766
"""Most practices one run can hold: each patient's practice is stored as a 16-bit integer."""


def _assemble_sections() -> tuple[dict[str, type], dict[tuple[str, str], str]]:
    """Core sections with every registered behaviour's parameters merged in.

    A behaviour's ``params`` maps section names to dataclasses of ``param`` fields; its fields
    are added to that section (a new name makes a new section, after the core ones). Two
    declarations of one key are an error.
    """
    from ccgabm.behaviours import REGISTERED

    fields: dict[str, list[dataclasses.Field]] = {
        name: list(dataclasses.fields(cls)) for name, cls in CORE_SECTIONS.items()
    }
    owner: dict[tuple[str, str], str] = {(s, f.name): "core" for s, fs in fields.items() for f in fs}
    for behaviour in REGISTERED:
        for section, params in behaviour.params.items():
            for f in dataclasses.fields(params):
                if (section, f.name) in owner:
                    raise ValueError(f"[{section}] {f.name} is declared by both "
                                     f"{owner[(section, f.name)]} and {behaviour.name}")
                owner[(section, f.name)] = behaviour.name
                fields.setdefault(section, []).append(f)
    sections = {}
    for section, fs in fields.items():
        name = section.title().replace("_", "") + "Section"
        cls = dataclasses.make_dataclass(
            name, [(f.name, f.type, dataclasses.field(default=f.default, metadata=f.metadata))
                   for f in fs],
            frozen=True, module=__name__,
        )
        cls.__doc__ = f"[{section}] parameters (core and behaviours)."
        globals()[name] = cls  # importable and picklable as ccgabm.config.<Name>Section
        sections[section] = cls
    return sections, owner


SECTIONS, PARAMETER_OWNER = _assemble_sections()
"""Every config section by name; ``PARAMETER_OWNER[(section, key)]`` is "core" or a behaviour."""


class _ConfigMethods:
    """Methods of :class:`Config`."""

    @classmethod
    def from_dict(cls, data: dict[str, Any], base_dir: str | Path = ".") -> Config:
        """Build a validated config from nested ``{section: {key: value}}`` data."""
        if not isinstance(data, Mapping):
            raise ConfigError(
                f"a config must be a mapping of sections to parameters, got {type(data).__name__}"
            )
        if not isinstance(base_dir, str | os.PathLike):
            raise ConfigError(f"base_dir must be a folder path, got {type(base_dir).__name__}")
        for name in data:
            if name not in SECTIONS and name != "timeline":
                known = ", ".join(SECTIONS)
                raise ConfigError(f"[{name}] is not a known section; known sections: {known} "
                                  "(and [[timeline]] entries)")
        sections = {name: build_section(c, name, data.get(name, {})) for name, c in SECTIONS.items()}
        config = cls(**sections, base_dir=str(base_dir))
        check_config(config)
        if "timeline" in data:
            entries = parse_timeline(data["timeline"], dated_parameters())
            config = dataclasses.replace(config, timeline=entries)
            config.timeline_states()  # every state of the configuration is validated now
        return config

    def timeline_states(self) -> dict[int, Config]:
        """The configuration in force from each month in which the timeline changes it
        (month 0 first; months after the run's end too); each is validated like a file
        (``ConfigError`` names the month)."""
        plain = dataclasses.replace(self, timeline=())
        states: dict[int, Config] = {}
        by_overrides: dict[str, Config] = {}
        for month in change_months(self.timeline, self.run.start_year):
            overrides = overrides_at(self.timeline, month, self.run.start_year)
            key = json.dumps(overrides, sort_keys=True, default=str)
            if key not in by_overrides:
                try:
                    by_overrides[key] = plain.with_overrides(overrides) if overrides else plain
                except ConfigError as exc:
                    raise ConfigError(f"[[timeline]] in force from "
                                      f"{month_label(month, self.run.start_year)}: {exc}") from None
            states[month] = by_overrides[key]
        return states

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Nested plain-data form (what a TOML file would hold)."""
        out: dict[str, Any] = {name: dataclasses.asdict(getattr(self, name)) for name in SECTIONS}
        if self.timeline:
            out["timeline"] = [entry.to_dict() for entry in self.timeline]
        return out

    def with_overrides(self, overrides: dict[str, Any]) -> Config:
        """A copy with dotted ``section.key`` values replaced (validated like a file)."""
        if not isinstance(overrides, Mapping):
            raise ConfigError(
                "overrides must be a mapping of 'section.key' names to values, "
                f"got {type(overrides).__name__}"
            )
        data = self.to_dict()
        for dotted, value in overrides.items():
            if not isinstance(dotted, str):
                raise ConfigError(f"override name {dotted!r} is not allowed: use 'section.key'")
            section, _, key = dotted.partition(".")
            if section not in SECTIONS or not key:
                raise ConfigError(
                    f"{dotted!r} is not a parameter: use 'section.key' with a section among "
                    + ", ".join(SECTIONS)
                )
            if key not in data[section]:
                known = ", ".join(sorted(data[section]))
                raise ConfigError(f"[{section}] {key} is not a known parameter; known: {known}")
            data[section][key] = value
        return Config.from_dict(data, base_dir=self.base_dir)

    def digest(self) -> str:
        """Stable hash of every parameter value (identifies a scenario in stores)."""
        return data_digest(self.to_dict())

    def resolve_path(self, path: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        p = Path(path)
        return p if p.is_absolute() else Path(self.base_dir) / p


Config = dataclasses.make_dataclass(
    "Config",
    [(name, cls, dataclasses.field(default_factory=cls)) for name, cls in SECTIONS.items()]
    + [("base_dir", str, dataclasses.field(default=".", compare=False)),
       ("timeline", tuple, dataclasses.field(default=()))],
    bases=(_ConfigMethods,), frozen=True, module=__name__,
)
Config.__doc__ = """All parameters of one simulation, grouped by section (``cfg.finance.pace_of_change``).

Sections are the core's (``CORE_SECTIONS``) with every registered behaviour's parameters
merged in; ``Config()`` is every default; ``base_dir`` is the folder relative paths start from;
``timeline`` holds the dated policy changes of ``[[timeline]]`` (``ccgabm.timeline``).
"""


def data_digest(data: dict[str, Any]) -> str:
    """Stable hash of a config's plain data (``Config.to_dict``, possibly trimmed)."""
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_overrides(years: int | None = None, scale: float | None = None,
                  seed: int | None = None) -> dict[str, Any]:
    """Dotted overrides for the command-line options --years, --scale and --seed."""
    given = {"run.years": years, "world.scale": scale, "run.seed": seed}
    return {key: value for key, value in given.items() if value is not None}


def check_config(cfg: Config) -> None:
    """Refuse (``ConfigError``) values each allowed alone that together cannot give a run.

    - a synthetic region of more than ``MAX_PRACTICES`` practices
      (``[region] n_groups x practices_per_group``): a hard limit of the patient arrays;
    - a ``[region] target_population`` above 0 but below the number of practices: every
      practice needs at least one patient;
    - ``[world] formation`` or a ``[world] list_size_factor`` other than 1 with a world that
      is not read from a practice table (``kind = "table"``);
    - every unit cost in ``[costs]`` at 0: need weights (expected costs) are then all zero;
    - ``[population] newcomer_age_min`` above ``newcomer_age_max``;
    - ``[population]`` condition parameters giving an expected number of long-term conditions
      (at some age and deprivation) that is not finite or too large for a Poisson draw;
    - whatever each behaviour refuses (``Behaviour.check_config``, e.g. a dilemma decided
      outside the run).

    A run that is possible but too small to define some figure (a percentile, a quintile
    ratio) is not refused: that figure is reported as null with the reason
    (``ccgabm.metrics.check_figures``).
    """
    reg = cfg.region
    if cfg.world.kind == "region":
        n = reg.n_groups * reg.practices_per_group
        if n > MAX_PRACTICES:
            raise ConfigError(
                f"[region] n_groups x practices_per_group = {reg.n_groups} x "
                f"{reg.practices_per_group} = {n:,} practices is not allowed: a run holds at "
                f"most {MAX_PRACTICES:,} practices"
            )
        if 0 < reg.target_population < n:
            raise ConfigError(
                f"[region] target_population = {reg.target_population} is not allowed with "
                f"{n} practices: must be 0 (keep the sampled list sizes) or at least one "
                f"patient per practice (>= {n})"
            )
    world = cfg.world
    if world.kind != "table" and world.formation:
        raise ConfigError(
            f"[world] formation = true is not allowed with kind = {world.kind!r}: groups are "
            "formed only from a practice table (kind = 'table')"
        )
    if world.kind != "table" and world.list_size_factor != 1.0:
        raise ConfigError(
            f"[world] list_size_factor = {world.list_size_factor!r} is not allowed with kind = "
            f"{world.kind!r}: must be 1.0 unless kind = 'table'"
        )
    costs = cfg.costs
    if max(costs.outpatient, costs.day_case, costs.elective_inpatient, costs.non_elective) <= 0:
        raise ConfigError(
            "[costs] outpatient, day_case, elective_inpatient and non_elective are all 0: at "
            "least one must be above 0 (need weights for capitation are expected costs)"
        )
    pop = cfg.population
    if pop.newcomer_age_min > pop.newcomer_age_max:
        raise ConfigError(
            f"[population] newcomer_age_min = {pop.newcomer_age_min} is above newcomer_age_max = "
            f"{pop.newcomer_age_max}: the youngest age of adults registering must not exceed the "
            "oldest"
        )
    _check_condition_rates(cfg)
    from ccgabm.behaviours import REGISTERED

    for behaviour in REGISTERED:
        behaviour.check_config(cfg)


def _check_condition_rates(cfg: Config) -> None:
    """The expected number of long-term conditions (``epidemiology.ltc_lambda``) at every age
    and deprivation code must be a rate numpy can draw from (finite, at most about 9.2e18)."""
    import numpy as np

    from ccgabm.patients.epidemiology import AGES, IMD_BY_CODE, ltc_lambda
    from ccgabm.patients.sampling import POISSON_LAM_MAX

    with np.errstate(over="ignore", invalid="ignore"):
        rates = ltc_lambda(cfg, AGES[:, None], IMD_BY_CODE[None, 1:])
    too_large = rates[~(rates <= POISSON_LAM_MAX)]  # NaN too (0 x inf)
    if len(too_large) == 0:
        return
    worst = (f"{too_large.max():.3g}" if np.isfinite(too_large).all() else
             "an undefined value (0 x infinity)" if np.isnan(too_large).all() else "infinity")
    pop = cfg.population
    raise ConfigError(
        f"[population] ltc_rate_at_30 = {pop.ltc_rate_at_30:g}, ltc_growth_per_year = "
        f"{pop.ltc_growth_per_year:g}, ltc_deprivation_years_earlier = "
        f"{pop.ltc_deprivation_years_earlier:g}, imd_reference = {pop.imd_reference:g} and "
        f"imd_quintile_span = {pop.imd_quintile_span:g} are not allowed together: the expected "
        f"number of long-term conditions reaches {worst} at some age and "
        f"deprivation, more than a Poisson draw takes ({POISSON_LAM_MAX:.3g}); lower "
        "ltc_growth_per_year or ltc_deprivation_years_earlier, or raise imd_quintile_span"
    )


def load_config(path: str | Path) -> Config:
    """Read and validate a TOML scenario file (UTF-8 text)."""
    if not isinstance(path, str | os.PathLike):
        raise ConfigError(f"a config file path is needed, got {type(path).__name__}")
    if not str(path).strip():
        raise ConfigError(f"config file {str(path)!r} is not allowed: name a TOML file")
    path = Path(path)
    try:
        if path.is_dir():
            raise ConfigError(f"config file {str(path)!r} is a folder; a TOML file is needed")
        if not path.is_file():
            raise ConfigError(f"config file {str(path)!r} does not exist")
    except OSError as exc:  # e.g. a name too long for the file system
        raise ConfigError(f"config file {str(path)[:80]!r}: {exc.strerror or exc}") from None
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"config file {str(path)!r} cannot be read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not a text file in UTF-8 (byte {raw[exc.start]:#04x} at offset "
            f"{exc.start}); a config is a TOML text file"
        ) from None
    data = parse_toml(text, path, ConfigError)
    try:
        return Config.from_dict(data, base_dir=path.parent)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def parse_toml(text: str, path: Path, error: type[Exception]) -> dict[str, Any]:
    """TOML text as data; ``error`` (one line, naming ``path``) if it is not usable TOML."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: not valid TOML: {one_line(str(exc))}") from None
    except RecursionError:
        raise error(f"{path}: not valid TOML: tables or arrays nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of thousands of digits
        raise error(f"{path}: not valid TOML: {one_line(str(exc))}") from None


