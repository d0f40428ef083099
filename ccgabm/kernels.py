# TRANSITIONAL SHIM: delete when callers use ccgabm.patients
"""Former home of the patient kernel, now ``ccgabm.patients.kernel``: re-exports it."""

from ccgabm.patients.draws import month_keys  # noqa: F401
from ccgabm.patients.kernel import *  # noqa: F403
from ccgabm.patients.kernel import Counter

PERSON_MONTHS = int(Counter.PERSON_MONTHS)
DEATHS = int(Counter.DEATHS)
REGISTRATIONS = int(Counter.REGISTRATIONS)
REFERRALS = int(Counter.REFERRALS)
NEWLY_REFERRED = int(Counter.NEWLY_REFERRED)
OUTPATIENT = int(Counter.OUTPATIENT)
DAY_CASE = int(Counter.DAY_CASE)
INPATIENT = int(Counter.INPATIENT)
EMERGENCY = int(Counter.EMERGENCY)
WAITING = int(Counter.WAITING)
LTC_ONSETS = int(Counter.LTC_ONSETS)
LIST_END = int(Counter.LIST_END)
UNFILLED = int(Counter.UNFILLED)
WAIT_MONTHS_TREATED = int(Counter.WAIT_MONTHS_TREATED)
