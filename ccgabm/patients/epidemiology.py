"""Rate tables by age, long-term conditions and deprivation, built from the config.

The kernel looks probabilities up in these tables instead of computing them per patient.
Patient deprivation is held as a uint8 code (IMD score x 2), so tables over deprivation
have 256 rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ccgabm.patients.kernel import AGE_MAX, IMD_CODE_SCALE, MAX_LTC

if TYPE_CHECKING:
    from ccgabm.config import Config

__all__ = [
    "AGES", "AGE_BAND_SHARES", "IMD_BY_CODE", "LTCS", "RateTables", "age_band_probabilities",
    "build_rate_tables", "ltc_lambda", "to_monthly",
]

# Share of the population by 5-year age band, 0-4 ... 85-89, 90+
# (ONS mid-2019 population estimates for England).
AGE_BAND_SHARES = np.array(
    [5.8, 6.2, 5.9, 5.5, 6.1, 6.8, 6.8, 6.6, 6.1, 6.6, 6.9, 6.4, 5.5, 5.0, 5.0, 3.6, 2.6, 1.6, 0.9]
)

AGES = np.arange(AGE_MAX + 1, dtype=np.float64)
LTCS = np.arange(MAX_LTC + 1, dtype=np.float64)
IMD_BY_CODE = np.arange(256, dtype=np.float64) / IMD_CODE_SCALE


def to_monthly(annual: np.ndarray) -> np.ndarray:
    """Monthly probability equivalent to an annual probability."""
    return 1.0 - (1.0 - np.clip(annual, 0.0, 0.999)) ** (1.0 / 12.0)


def ltc_lambda(cfg: Config, age: np.ndarray, imd: np.ndarray) -> np.ndarray:
    """Expected number of long-term conditions by age and IMD (Poisson mean): onset comes
    ``population.ltc_deprivation_years_earlier`` years earlier per ``population.imd_quintile_span``
    of IMD above ``population.imd_reference``."""
    pop = cfg.population
    shift = pop.ltc_deprivation_years_earlier * (imd - pop.imd_reference) / pop.imd_quintile_span
    return pop.ltc_rate_at_30 * np.exp(pop.ltc_growth_per_year * (age + shift - 30.0))


class RateTables(NamedTuple):
    """The rate tables of the patient rules (the kernels take this named tuple as it is).

    The monthly kernel reads death, emergency and need through ``by_ltc`` and onset through
    ``onset_flat``; ``death``, ``onset`` and ``emergency`` are the same values by row and
    column, as the per-patient reference model and the tests read them.
    """

    death: np.ndarray  # [age, ltc] monthly probability
    onset: np.ndarray  # [age, imd code] monthly probability of a new condition
    need: np.ndarray  # [age, ltc] monthly probability of a referable need
    emergency: np.ndarray  # [age, ltc] monthly emergency probability at reference IMD
    dep_emergency: np.ndarray  # [imd code] relative risk of emergency admission
    lam: np.ndarray  # [age, imd code] expected conditions (for new registrants)
    capitation: np.ndarray  # [age, ltc] expected annual elective cost (need weight, part 1)
    capitation_emergency: np.ndarray  # [age, ltc] expected annual emergency cost at reference IMD
    dep_capitation: np.ndarray  # [imd code] deprivation factor of the emergency part
    # [3 x (age x (MAX_LTC + 1) + ltc) + k]: death (k = 0), emergency (1), need (2) side by
    # side, flat: the patient kernel finds a row's offset once (measured on a 2-core machine,
    # its month about 5% faster than with the values indexed by row and column)
    by_ltc: np.ndarray
    onset_flat: np.ndarray  # [age x 256 + imd code] onset; then 0 (none due), 2 (always drawn)


def build_rate_tables(cfg: Config) -> RateTables:
    """Derive every kernel table from the configuration."""
    pop, ref, em, hosp, cost = cfg.population, cfg.referral, cfg.emergency, cfg.hospital, cfg.costs
    age = AGES[:, None]
    ltc = LTCS[None, :]
    lam_age = ltc_lambda(cfg, AGES, np.full_like(AGES, pop.imd_reference))[:, None]
    hr = pop.mortality_hr_per_ltc
    q = np.exp(pop.mortality_log_intercept + pop.mortality_log_slope * age)
    # Scale by hr^ltc / E[hr^L] (L ~ Poisson) so age-specific mortality matches the life table.
    q = q * hr**ltc / np.exp(lam_age * (hr - 1.0))
    death = to_monthly(q)

    lam = ltc_lambda(cfg, AGES[:, None], IMD_BY_CODE[None, :])
    onset = np.clip(pop.ltc_growth_per_year * lam / 12.0, 0.0, 1.0)

    need = np.clip(
        ref.need_rate * np.exp(ref.need_age_slope * (age - 40.0)) * ref.need_rr_per_ltc**ltc, 0, 1
    )
    emergency = np.clip(em.base_rate * np.exp(em.age_slope * (age - 40.0)) * em.rr_per_ltc**ltc, 0, 1)
    dep_emergency = np.exp(
        em.deprivation_log_rr_per_10_imd * (IMD_BY_CODE - pop.imd_reference) / 10.0
    )

    elective_cost = cost.outpatient + hosp.elective_conversion * (
        hosp.inpatient_share * cost.elective_inpatient
        + (1 - hosp.inpatient_share) * cost.day_case
    )
    # The need weight is the expected modelled cost: elective care by age and conditions, and
    # emergency care by age, conditions and deprivation (only emergencies follow deprivation).
    capitation = 12.0 * need * ref.refer_probability * elective_cost
    capitation_emergency = 12.0 * emergency * cost.non_elective
    return RateTables(
        death=np.ascontiguousarray(death),
        onset=np.ascontiguousarray(onset),
        need=np.ascontiguousarray(need),
        emergency=np.ascontiguousarray(emergency),
        dep_emergency=dep_emergency,
        lam=np.ascontiguousarray(lam),
        capitation=np.ascontiguousarray(capitation),
        capitation_emergency=np.ascontiguousarray(capitation_emergency),
        dep_capitation=dep_emergency.copy(),
        by_ltc=np.stack([death, emergency, need], axis=-1).ravel(),
        onset_flat=np.append(onset.ravel(), [0.0, 2.0]),
    )


def age_band_probabilities() -> np.ndarray:
    """Probability of each single year of age 0..AGE_MAX (uniform within 5-year bands)."""
    probs = np.zeros(AGE_MAX + 1)
    for band, share in enumerate(AGE_BAND_SHARES):
        lo = band * 5
        hi = lo + 5 if band < len(AGE_BAND_SHARES) - 1 else 100
        probs[lo:hi] = share / (hi - lo)
    return probs / probs.sum()
