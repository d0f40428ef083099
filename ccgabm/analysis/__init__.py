"""Fracture-risk analysis of sweeps: Wilson intervals, Kaplan–Meier survival, heatmaps,
sensitivity indices and a Markdown report.

    from ccgabm.analysis import analyze
    analyze("results/fracture_map", years=(5, 10))
"""

from ccgabm.analysis.cli import add_analyze_arguments, cli_analyze
from ccgabm.analysis.fracture import fracture_indicators, fracture_probability
from ccgabm.analysis.intervals import wilson_interval
from ccgabm.analysis.report import AnalysisError, AnalysisResult, analyze
from ccgabm.analysis.sensitivity import sensitivity
from ccgabm.analysis.survival import group_spells, kaplan_meier, km_by_strata, survival_at

__all__ = [
    "AnalysisError",
    "AnalysisResult",
    "add_analyze_arguments",
    "analyze",
    "cli_analyze",
    "fracture_indicators",
    "fracture_probability",
    "group_spells",
    "kaplan_meier",
    "km_by_strata",
    "sensitivity",
    "survival_at",
    "wilson_interval",
]
