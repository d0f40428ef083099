"""The model's year figures beside the published record, and where the two disagree.

The model's figure for a year is the mean over replicate runs with the 2.5-97.5 percentile
interval of the replicates (the spread of single histories, which is what one published history
is compared with; with 2 to 40 replicates the interval is close to their range). The record
**disagrees** with the model when it lies outside that interval or, for a single run, more
than 10% away from the run's figure (``disagrees``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ccgabm.history.record import FITTED, INPUTS, RecordPoint, fy_label, record_series

__all__ = [
    "COMPARISONS",
    "Comparison",
    "ModelFigure",
    "compare",
    "disagreements",
    "disagrees",
    "fmt",
    "model_figure",
    "model_values",
]

SINGLE_RUN_TOLERANCE = 0.10  # relative distance allowed with one run (no interval)
INPUT_TOLERANCE = 0.01  # an input restated on the model's basis (e.g. per April patient)


@dataclass(frozen=True)
class Comparison:
    """A record series and the model measure it is compared with.

    ``model`` names the measure (``ccgabm.history.measures.MEASURES``); for deficits, whose
    published definition changes by year, ``cumulative`` names the measure used where the
    record counts cumulative deficits."""

    record: str
    model: str
    label: str
    digits: int = 2
    cumulative: str | None = None

    @property
    def fitted(self) -> bool:
        return self.record in FITTED

    @property
    def role(self) -> str:
        """fitted, input (the scenario's timeline) or out of sample."""
        return "fitted" if self.fitted else "input" if self.record in INPUTS else "out of sample"


COMPARISONS: tuple[Comparison, ...] = (
    Comparison("groups", "groups", "Commissioning groups at the start of the year", 1),
    Comparison("mergers", "mergers", "Groups absorbed by mergers in the year", 1),
    Comparison("fractures", "fractures", "Fractures", 1),
    Comparison("defections", "defections", "Defections of whole coalitions", 1),
    Comparison("deficit_share", "deficit_share", "Share of groups in deficit", 3,
               cumulative="deficit_cumulative_share"),
    Comparison("deficit_count", "deficit_count", "Groups in deficit", 1,
               cumulative="deficit_cumulative_count"),
    Comparison("mean_deficit_pct", "mean_deficit_pct",
               "Mean deficit of the groups overspending (% of allocation)", 2),
    Comparison("qp_paid_share", "qp_paid_share", "Quality premium paid, share of the pot", 3),
    Comparison("qp_paid_nothing", "qp_paid_nothing", "Groups paid no quality premium", 1),
    Comparison("qp_paid_nothing_share", "qp_paid_nothing_share",
               "Share of groups paid no quality premium", 3),
    Comparison("allocation_per_head", "allocation_per_head",
               "Programme allocation per registered patient (GBP)", 0),
    Comparison("emergency_index", "emergency_index", "Emergency admissions, index (first year = 1)",
               3),
    Comparison("emergency_per_1000", "emergency_per_1000",
               "Emergency admissions per 1,000 registered", 1),
    Comparison("waiting_per_1000", "waiting_per_1000", "Waiting list per 1,000 registered", 1),
    Comparison("practice_closures_pct", "practice_closures_pct",
               "Practice closures a year (% of practices)", 2),
)


@dataclass(frozen=True)
class ModelFigure:
    """The model's figure for one year: mean and interval over ``n`` replicate runs."""

    mean: float
    low: float
    high: float
    n: int


def model_values(runs: pd.DataFrame, measure: str) -> dict[int, np.ndarray] | None:
    """``{year: replicate values}`` of a measure from a sweep's run table (None: not modelled)."""
    prefix = f"h.{measure}."
    cols = [c for c in runs.columns if str(c).startswith(prefix)]
    if not cols:
        return None
    return {int(c[len(prefix):]): runs[c].to_numpy(dtype=float) for c in cols}


def model_figure(values: np.ndarray) -> ModelFigure:
    """Mean and 2.5-97.5 percentile interval of the finite replicate values."""
    a = np.asarray(values, dtype=float)
    a = a[np.isfinite(a)]
    if len(a) == 0:
        return ModelFigure(math.nan, math.nan, math.nan, 0)
    if len(a) == 1:
        return ModelFigure(float(a[0]), math.nan, math.nan, 1)
    low, high = np.percentile(a, [2.5, 97.5])
    return ModelFigure(float(a.mean()), float(low), float(high), len(a))


def disagrees(record: float, fig: ModelFigure, input_series: bool = False) -> bool | None:
    """True when the record lies outside the model's interval (or, for a single run, more than
    10% from its figure; for an input of the scenario, more than 1% from its mean: an input is
    the record itself, restated on the model's basis); None when the model has no figure."""
    if fig.n == 0 or not math.isfinite(fig.mean) or not math.isfinite(record):
        return None
    if input_series:
        return abs(fig.mean - record) > INPUT_TOLERANCE * abs(record)
    if fig.n == 1:
        return abs(fig.mean - record) > SINGLE_RUN_TOLERANCE * abs(record)
    return not (fig.low <= record <= fig.high)


def fmt(x: float, digits: int) -> str:
    """A number for a report table; ``n/a`` when it is not finite."""
    if not math.isfinite(x):
        return "n/a"
    return f"{x:,.{digits}f}"


def _model_text(fig: ModelFigure, digits: int) -> str:
    if fig.n == 0:
        return "n/a (undefined in every run)"
    if fig.n == 1:
        return f"{fmt(fig.mean, digits)} (defined in one run)"
    return f"{fmt(fig.mean, digits)} ({fmt(fig.low, digits)} to {fmt(fig.high, digits)})"


def compare(runs: pd.DataFrame, start_year: int, n_years: int,
            comparisons: tuple[Comparison, ...] = COMPARISONS,
            record: dict[str, list[RecordPoint]] | None = None) -> pd.DataFrame:
    """One row per comparison and year of the run with a record figure.

    Columns: series, label, fy, year (of the run), model (text), record (text), mean, low, high,
    n, record_value, basis, fitted, verdict (``agrees``, ``disagrees``, ``undefined in the
    model`` or ``not modelled in this run``), source, derived. Every text cell is finite.
    """
    record = record if record is not None else record_series()
    rows = []
    for comp in comparisons:
        for point in record.get(comp.record, []):
            year = point.fy - start_year
            if not 0 <= year < n_years:
                continue
            measure = comp.cumulative if (comp.cumulative and point.basis == "cumulative") \
                else comp.model
            values = model_values(runs, measure)
            if values is None:
                fig = ModelFigure(math.nan, math.nan, math.nan, 0)
                model_text, verdict = "not modelled in this run", "not modelled in this run"
            else:
                fig = model_figure(values.get(year, np.array([])))
                model_text = _model_text(fig, comp.digits)
                d = disagrees(point.value, fig, input_series=comp.role == "input")
                verdict = "undefined in the model" if d is None else (
                    "disagrees" if d else "agrees")
            rows.append({
                "series": comp.record, "label": comp.label, "fy": fy_label(point.fy), "year": year,
                "model": model_text, "record": fmt(point.value, 0 if float(point.value).is_integer() and
                                       comp.digits <= 1 else comp.digits),
                "mean": fig.mean, "low": fig.low, "high": fig.high, "n": fig.n,
                "record_value": point.value,
                "basis": {"in_year": "in-year", "cumulative": "cumulative"}.get(point.basis, ""),
                "fitted": comp.role,
                "verdict": verdict, "source": point.source, "derived": point.derived,
                "measure": measure,
            })
    return pd.DataFrame(rows)


def disagreements(table: pd.DataFrame) -> list[str]:
    """A line for each year where the record disagrees with the model."""
    out = []
    if not len(table):
        return out
    for r in table[table["verdict"] == "disagrees"].itertuples(index=False):
        if r.n == 1:
            how = f"more than {SINGLE_RUN_TOLERANCE:.0%} from the one run's {r.model}"
        else:
            side = "above" if r.record_value > r.high else "below"
            how = f"{side} the model's interval {r.model}"
        out.append(f"{r.label}, {r.fy}: record {r.record} is {how} [{r.fitted}]")
    return out
