"""The history of English commissioning groups, 2013/14 to 2021/22: model against the record.

- ``record``: the published record as data (group counts and mergers, deficits, the quality
  premium, allocations, registered patients, emergency admissions, the waiting list, practices),
  each figure with its financial year, value, unit, definition and source; ``FITTED`` names the
  series a calibration may fit, ``INPUTS`` those the scenario takes as inputs.
- ``measures``: the model's figure for each financial year of a run, in the record's terms, and
  the run function of the history sweep (``history_run``).
- ``compare``: the model (mean and interval over replicate runs) beside the record, and the
  years where they disagree.

``experiments/history.py`` runs it and writes ``results/history/report.md``.
"""

from ccgabm.history.compare import COMPARISONS, compare, disagreements, disagrees, model_figure
from ccgabm.history.measures import MEASURES, history_run, year_measures
from ccgabm.history.record import FITTED, INPUTS, fy_label, record_series

__all__ = [
    "COMPARISONS",
    "FITTED",
    "INPUTS",
    "MEASURES",
    "compare",
    "disagreements",
    "disagrees",
    "fy_label",
    "history_run",
    "model_figure",
    "record_series",
    "year_measures",
]
