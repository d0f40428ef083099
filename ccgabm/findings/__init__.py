"""Research-reproduction experiments: shared helpers for ``experiments/*.py``.

Each script in ``experiments/`` reproduces one published finding (see ``literature``). It runs
a sweep spec from ``configs/experiments/`` through the sweep engine (``ccgabm.sweep.run_sweep``),
computes the model's figure with a confidence interval over replications, and writes
``results/<name>/report.md`` beside the published figure.

- ``literature``: the published figures and their citations.
- ``runner``: command-line options, the ``--quick`` derivation of a spec, running the sweep.
- the run function the sweeps use is ``ccgabm.simulate.run_with_extras`` (the summary plus the
  ``x_*`` figures of ``ccgabm.metrics.extra_figures``, e.g. running cost per head).
- ``stats``: t-intervals, paired differences, Wilson/Newcombe intervals, OLS slopes.
- ``report``: the model-vs-published table and the Markdown report.
"""

from ccgabm.findings.literature import PUBLISHED, Published
from ccgabm.findings.report import Report, Row, md_table
from ccgabm.findings.runner import Experiment, SweepOutcome, derive_spec, parse_args
from ccgabm.findings.stats import (
    Estimate,
    mean_interval,
    newcombe_difference,
    ols_slope,
    paired_difference,
    proportion,
    welch_difference,
)

__all__ = [
    "PUBLISHED",
    "Estimate",
    "Experiment",
    "Published",
    "Report",
    "Row",
    "SweepOutcome",
    "derive_spec",
    "md_table",
    "mean_interval",
    "newcombe_difference",
    "ols_slope",
    "paired_difference",
    "parse_args",
    "proportion",
    "welch_difference",
]
