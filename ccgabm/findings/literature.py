"""Published figures the experiments compare against, each with its citation.

Only what the sources (and the model's parameter table) state is
recorded here. Where a source makes a qualitative claim (a direction, "no change"), ``low`` and
``high`` are None and ``kind`` says how the experiment judges agreement.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Published:
    """One published figure or claim."""

    key: str
    claim: str
    citation: str
    kind: str  # "range" (low..high), "no_change", "direction" (sign of low/high irrelevant)
    low: float | None = None
    high: float | None = None
    unit: str = ""

    def text(self) -> str:
        """The published figure as shown in a report table."""
        if self.kind == "range" and self.low is not None and self.high is not None:
            return f"{self.low:g} to {self.high:g} {self.unit}".strip()
        return self.claim


DUSHEIKO_2006 = (
    "Dusheiko M, Gravelle H, Jacobs R, Smith P. The effect of financial incentives on gatekeeping "
    "doctors: evidence from a natural experiment. J Health Econ 2006;25(3):449-78"
)
COX_2013 = "Cox et al., Br J Gen Pract 2013 (evaluation of referral-management schemes)"
BOJKE_2001 = "Bojke C, Gravelle H, Wilkin D. Is bigger better for primary care groups and trusts? BMJ 2001"
GREAVES_2012 = "Greaves et al., Br J Gen Pract 2012 (commissioning group size and performance)"
SEED_PULSE = ("Pulse, 2014 (report on a deprived practice choosing between CCGs, and on "
              "delegated co-commissioning budgets)")
HYPOTHESIS = "the model's own hypothesis (no published figure)"
NHSCB_2012 = "NHS Commissioning Board 2012 (23 commissioning support units served 211 CCGs)"

PUBLISHED: dict[str, Published] = {p.key: p for p in (
    Published("fundholding_elective", "removing the budget incentive raised elective admissions",
              DUSHEIKO_2006, "range", 3.5, 5.1, "%"),
    Published("fundholding_emergency", "emergency admissions unchanged", DUSHEIKO_2006,
              "no_change"),
    Published("refmgmt_referrals", "referral management does not reduce outpatient referrals",
              COX_2013, "no_change"),
    Published("refmgmt_cost", "cost of referral management per patient a year", COX_2013, "range",
              0.55, 6.23, "GBP per patient a year"),
    Published("size_cost_curve",
              "management cost per head falls steeply below ~100k population and then flattens",
              BOJKE_2001, "direction", -1.0, -1.0),
    Published("size_performance", "above ~100k population, size does not predict performance",
              f"{GREAVES_2012}; {BOJKE_2001}", "no_change"),
    Published("size_shared_support", "small groups sharing commissioning support match large ones",
              f"Pulse; {GREAVES_2012}; {NHSCB_2012}", "no_change"),
    Published("cocomm_emergency",
              "delegated primary-care budgets with community investment lower emergency admissions",
              SEED_PULSE, "direction", -1.0, -1.0),
    Published("cocomm_closures", "without that investment small deprived practices close",
              SEED_PULSE, "direction", 1.0, 1.0),
    Published("dilemma_budget", "a deprived practice joining the affluent group gains budget per need",
              "Pulse, 2012 (report on a GP practice in a deprived area choosing between its "
              "historic partners and an affluent neighbouring CCG)", "direction", 1.0, 1.0),
    Published("dilemma_inequality",
              "inequality between the joining practice and its old deprived neighbours widens",
              "Pulse, 2012 (report on a GP practice in a deprived area choosing between its "
              "historic partners and an affluent neighbouring CCG)", "direction", 1.0, 1.0),
    Published("dilemma_gap", "the joined group's fracture risk rises with the deprivation gap",
              "Pulse, 2012 (report on a GP practice in a deprived area choosing between its "
              "historic partners and an affluent neighbouring CCG)", "direction", 1.0, 1.0),
    Published("dilemma_trust", "the joined group's fracture risk falls with initial trust",
              "Pulse, 2012 (report on a GP practice in a deprived area choosing between its "
              "historic partners and an affluent neighbouring CCG)", "direction", -1.0, -1.0),
    Published("fracture_pressure", "fracture risk rises with budget pressure",
              f"{HYPOTHESIS}: decommissioning under overspend is where groups fracture",
              "direction", 1.0, 1.0),
    Published("fracture_spread",
              "fracture risk rises with the deprivation spread inside groups (contentious cuts)",
              f"{SEED_PULSE}; {HYPOTHESIS}", "direction", 1.0, 1.0),
    Published("fracture_trust", "fracture risk falls with initial trust",
              f"{SEED_PULSE}; {HYPOTHESIS}", "direction", -1.0, -1.0),
)}
