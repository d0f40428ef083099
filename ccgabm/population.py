# TRANSITIONAL SHIM: delete when callers use ccgabm.patients
"""Former home of the registered population, now ``ccgabm.patients.population``."""

from ccgabm.patients.population import *  # noqa: F403
