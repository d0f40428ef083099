"""Calibration: search parameter space for the values that reproduce observed targets.

from ccgabm.calibrate import load_calibration, run_calibration
result = run_calibration(load_calibration("configs/calibration/baseline.toml"), "results/cal")
print(result.format())     # best parameters; OUT/report.md has the fit, spread and checks

Optuna proposes candidates (TPE by default); each batch of candidates runs through the sweep
engine; the study is kept in SQLite (or any SQLAlchemy database) and resumes after a kill.
"""

from ccgabm.calibrate.cli import add_calibrate_arguments, cli_calibrate
from ccgabm.calibrate.engine import CalibrationResult, run_calibration
from ccgabm.calibrate.outputs import SERIES, summary_figures
from ccgabm.calibrate.spec import CalibrationError, CalibrationSpec, load_calibration, parse_calibration

__all__ = [
    "SERIES",
    "CalibrationError",
    "CalibrationResult",
    "CalibrationSpec",
    "add_calibrate_arguments",
    "cli_calibrate",
    "load_calibration",
    "parse_calibration",
    "run_calibration",
    "summary_figures",
]
