"""Fracture-risk analysis of sweeps: Wilson intervals for P(fracture within N years),
Aalen–Johansen cumulative incidence of each event kind under competing risks, heatmaps,
sensitivity indices and a Markdown report.

    from ccgabm.analysis import analyze
    analyze("results/fracture_map", years=(5, 10))
"""

from ccgabm.analysis.cli import add_analyze_arguments, cli_analyze
from ccgabm.analysis.competing import (
    EVENT_KINDS,
    cif_at,
    cif_by_strata,
    competing_spells,
    cumulative_incidence,
    event_incidence,
)
from ccgabm.analysis.fracture import fracture_indicators, fracture_probability
from ccgabm.analysis.intervals import wilson_interval
from ccgabm.analysis.report import AnalysisError, AnalysisResult, analyze
from ccgabm.analysis.sensitivity import sensitivity

__all__ = [
    "EVENT_KINDS",
    "AnalysisError",
    "AnalysisResult",
    "add_analyze_arguments",
    "analyze",
    "cif_at",
    "cif_by_strata",
    "cli_analyze",
    "competing_spells",
    "cumulative_incidence",
    "event_incidence",
    "fracture_indicators",
    "fracture_probability",
    "sensitivity",
    "wilson_interval",
]
