# TRANSITIONAL SHIM: delete when callers use ccgabm.patients
"""Former home of the rate tables, now ``ccgabm.patients.epidemiology``."""

from ccgabm.patients.epidemiology import *  # noqa: F403
