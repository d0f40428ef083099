"""Declared parameters: a default, an allowed range, a unit and a cited source for each."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

ASSUMED = "modelling assumption (no direct source; vary it in sweeps)"


class CcgabmError(Exception):
    """Base of every error the package raises for an input it cannot use.

    The message is one line naming the file, key, column or option, the value and what is
    allowed; the command line prints it as ``error: ...`` and exits with status 2.
    """


def one_line(text: object) -> str:
    """``text`` with every run of white space (new lines included) made one space."""
    return " ".join(str(text).split())


class ConfigError(CcgabmError, ValueError):
    """A configuration value, key or file that cannot be used; the message says why."""


class InputWarning(UserWarning):
    """An input was used after an adjustment the message states (e.g. blank values filled).

    The command line prints it as one ``warning: ...`` line.
    """


def param(
    default: Any,
    *,
    source: str,
    unit: str = "",
    lo: float | None = None,
    hi: float | None = None,
    choices: Sequence[Any] | None = None,
    doc: str = "",
    dated: bool = False,
) -> Any:
    """Declare one parameter of a config section (a dataclass field with metadata).

    ``dated``: the model reads the parameter afresh each time it uses it, so a dated policy
    timeline (``[[timeline]]``, ``ccgabm.timeline``) may change it during a run.
    """
    meta = {"source": source, "unit": unit, "lo": lo, "hi": hi, "choices": choices, "doc": doc,
            "dated": dated}
    return dataclasses.field(default=default, metadata=meta)


def allowed_text(field: dataclasses.Field) -> str:
    """Human-readable description of what a parameter accepts."""
    meta = field.metadata
    kind = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}[
        _field_type(field)
    ]
    if meta.get("choices") is not None:
        return "one of " + ", ".join(repr(c) for c in meta["choices"])
    lo, hi = meta.get("lo"), meta.get("hi")
    if lo is not None and hi is not None:
        return f"{kind} between {lo} and {hi}"
    if lo is not None:
        return f"{kind} >= {lo}"
    if hi is not None:
        return f"{kind} <= {hi}"
    return kind


def _field_type(field: dataclasses.Field) -> type:
    annotation = field.type if isinstance(field.type, str) else field.type.__name__
    return {"int": int, "float": float, "str": str, "bool": bool}[annotation]


def coerce(section: str, field: dataclasses.Field, value: Any) -> Any:
    """Check one value against its declaration; return it in the declared type."""
    key = f"[{section}] {field.name}"
    kind = _field_type(field)
    ok_type = (
        isinstance(value, bool)
        if kind is bool
        else isinstance(value, str)
        if kind is str
        else isinstance(value, int) and not isinstance(value, bool)
        if kind is int
        else isinstance(value, int | float) and not isinstance(value, bool)
    )
    if not ok_type:
        raise ConfigError(f"{key} = {value!r} is not allowed: must be {allowed_text(field)}")
    try:
        value = kind(value)
    except OverflowError:  # an integer too large for a float
        shown = f"{str(value)[:20]}... ({len(str(value))} digits)"
        raise ConfigError(f"{key} = {shown} is out of range: must be {allowed_text(field)}") from None
    meta = field.metadata
    if meta.get("choices") is not None and value not in meta["choices"]:
        raise ConfigError(f"{key} = {value!r} is not allowed: must be {allowed_text(field)}")
    lo, hi = meta.get("lo"), meta.get("hi")
    if kind in (int, float) and (
        value != value or (lo is not None and value < lo) or (hi is not None and value > hi)
    ):
        raise ConfigError(f"{key} = {value!r} is out of range: must be {allowed_text(field)}")
    return value


def build_section(cls: type, section: str, values: dict[str, Any]) -> Any:
    """Instantiate a section dataclass from a mapping, rejecting unknown keys."""
    if not isinstance(values, dict):
        raise ConfigError(f"[{section}] must be a table of parameters, got {values!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name in values:
        if name not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"[{section}] {name} is not a known parameter; known: {known}")
    return cls(**{name: coerce(section, fields[name], v) for name, v in values.items()})
