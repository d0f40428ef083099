"""The patient layer: registered patients as arrays, advanced a month at a time by a kernel.

What the organisations use: ``Population`` (built once; ``step`` advances every patient one
month under this month's ``PracticeLevers`` and hospital cut-offs and returns a
``MonthResult``), the ``Counter`` columns of its counts (``COUNTER_NAMES``: their names in
the output tables), the oldest age tracked (``AGE_MAX``) and the longest wait recorded
(``MAX_WAIT``). The compiled kernels are in ``kernel``, the rate tables in ``epidemiology``,
the hashed per-patient draws in ``draws``.
"""

from ccgabm.patients.kernel import AGE_MAX, COUNTER_NAMES, MAX_WAIT, Counter
from ccgabm.patients.population import MonthResult, Population, PracticeLevers

__all__ = [
    "AGE_MAX", "COUNTER_NAMES", "MAX_WAIT", "Counter", "MonthResult", "Population",
    "PracticeLevers",
]
