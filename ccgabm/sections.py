"""The core's parameters: one frozen dataclass per config section, every default with its source.

These are the parameters of the core (worlds, patients, hospitals, costs, the Board's
finance and rules). Behaviours declare theirs in their own modules (``ccgabm.behaviours``);
``ccgabm.config`` merges both into the sections a scenario file names.
"""

from __future__ import annotations

from dataclasses import dataclass

from ccgabm.params import ASSUMED, param

__all__ = ["CORE_SECTIONS"]


@dataclass(frozen=True)
class RunSection:
    years: int = param(
        10, lo=1, hi=50, unit="years",
        source="user choice: a decade of commissioning (2013-2022 as a reference)",
    )
    seed: int = param(1, lo=0, hi=2**63 - 1, source="arbitrary root seed of all random streams")
    start_year: int = param(
        2013, lo=1948, hi=2100, unit="calendar year",
        source="NHS England: clinical commissioning groups took on their budgets on 1 April 2013",
        doc="the calendar year whose April is month 0 (dates of the [[timeline]], year labels)",
    )


@dataclass(frozen=True)
class WorldSection:
    kind: str = param(
        "region",
        choices=("region", "table", "england"),
        source="user choice",
        doc="synthetic region, a practice table file, or a synthetic England",
    )
    table_path: str = param(
        "", source="NHS Digital practice list sizes + OHID IMD 2019 (file format of shared data)",
        doc="practice table CSV for kind='table' (relative to the config file)",
    )
    scale: float = param(
        1.0, lo=1e-5, hi=1.0, source="user choice: share of patients simulated per practice",
        doc="every practice kept; list sizes multiplied by this (patients sampled)",
    )
    headroom: float = param(
        0.25, lo=0.0, hi=3.0, source=ASSUMED,
        doc="spare patient slots per practice for list growth, as a share of the list",
    )
    list_size_factor: float = param(
        1.0, lo=0.01, hi=10.0,
        source="user choice; 0.924 for April 2013: lists 'just over 56m' (NHS Digital, Patients "
        "Registered at a GP Practice, April 2013, via GPonline 20 Jun 2022) / 60.6m (Jan 2021)",
        doc="kind='table' only: every list size multiplied by this before patients are sampled "
        "(a uniform factor keeps the 2021 shape of lists)",
    )
    formation: bool = param(
        False,
        source="NHS CB Authority, 'Proposed CCG configuration' (2012): 257 pathfinders merged "
        "to 211 groups inside later CCG footprints",
        doc="kind='table' only: groups formed by practices from postcode districts inside the "
        "table's 2021 CCGs (ccgabm.formation) instead of read from ccg_code",
    )
    formation_population: int = param(
        170_000, lo=0, hi=10_000_000, unit="patients (before world.scale)",
        source="assumed; set so that England forms ~211 groups (NHS CB 2012): 216 groups at "
        "list_size_factor 1, 206 at 0.924",
        doc="population at which a forming group stops seeking partners",
    )


@dataclass(frozen=True)
class RegionSection:
    n_groups: int = param(3, lo=1, hi=300, source=ASSUMED + ": a small region of 3 groups")
    practices_per_group: int = param(
        13, lo=1, hi=500, source=ASSUMED + ": ~40 practices with the default 3 groups",
    )
    target_population: int = param(
        300_000, lo=0, hi=100_000_000,
        source=ASSUMED + ": ~300,000 patients (a small CCG area); 0 keeps the sampled list sizes",
    )
    list_size_log_mean: float = param(
        8.90, lo=4.0, hi=12.0, unit="log persons",
        source="NHS Digital, Patients Registered at a GP Practice, Jan 2021 (log-normal fit)",
    )
    list_size_log_sd: float = param(
        0.79, lo=0.0, hi=2.0, source="NHS Digital, Patients Registered at a GP Practice, Jan 2021",
    )
    imd_mean: float = param(
        23.4, lo=1.0, hi=80.0, unit="IMD score", source="OHID Fingertips indicator 93553",
    )
    imd_sd_within_group: float = param(
        8.0, lo=0.0, hi=30.0, unit="IMD score",
        source="OHID Fingertips 93553: practice SD 11.6 overall, less within a CCG (assumed 8)",
    )
    deprivation_gap: float = param(
        15.0, lo=0.0, hi=60.0, unit="IMD score",
        source="OHID Fingertips 93553: CCG mean IMD spans ~10-45 across England",
        doc="mean IMD of the most deprived group minus that of the least deprived",
    )
    n_hospitals: int = param(2, lo=1, hi=50, source=ASSUMED)


@dataclass(frozen=True)
class EnglandSection:
    n_practices: int = param(6658, lo=1, hi=20000, source="NHS Digital, Jan 2021 (6,658 practices)")
    n_groups: int = param(135, lo=1, hi=500, source="NHS Digital, Jan 2021 (135 CCGs)")
    imd_sd: float = param(11.6, lo=0.0, hi=40.0, source="OHID Fingertips indicator 93553")
    corr_log_list_imd: float = param(
        -0.21, lo=-0.99, hi=0.99, source="NHS Digital Jan 2021 x OHID 93553 (computed)",
    )
    practices_per_hospital: int = param(
        50, lo=1, hi=10000, source="~130 acute trusts for ~6,700 practices (NHS Digital)",
    )


@dataclass(frozen=True)
class PopulationSection:
    birth_rate: float = param(
        11.4, lo=0.0, hi=50.0, unit="per 1,000 a year",
        source="ONS Births in England and Wales 2019 (640k births / 56m)",
    )
    in_registration_rate: float = param(
        8.4, lo=0.0, hi=100.0, unit="per 1,000 a year",
        source="derived: lists grew 56.0m->61.7m 2013-22 (1.08%/yr, NHS Digital via GPonline) "
        "net of births and deaths",
    )
    mortality_log_intercept: float = param(
        -10.65, lo=-20.0, hi=0.0, source="Gompertz fit to ONS National life tables 2017-2019",
    )
    mortality_log_slope: float = param(
        0.095, lo=0.0, hi=0.3, unit="per year of age", source="ONS National life tables 2017-2019",
    )
    mortality_hr_per_ltc: float = param(
        1.3, lo=1.0, hi=3.0, source="Barnett et al., Lancet 2012 (multimorbidity and mortality)",
    )
    ltc_rate_at_30: float = param(
        0.53, lo=0.0, hi=5.0, unit="conditions",
        source="Barnett et al., Lancet 2012: ~10% multimorbid at 30, ~65% at 65-84",
    )
    ltc_growth_per_year: float = param(
        0.033, lo=0.0, hi=0.2, unit="per year of age", source="Barnett et al., Lancet 2012",
    )
    ltc_deprivation_years_earlier: float = param(
        12.0, lo=0.0, hi=30.0, unit="years",
        source="Barnett et al., Lancet 2012: onset 10-15 years earlier in the most deprived",
    )
    imd_reference: float = param(
        21.7, lo=0.0, hi=100.0, unit="IMD score",
        source="MHCLG, English Indices of Deprivation 2019 (statistical release, File 5 scores): "
        "mean LSOA IMD score of England",
        doc="IMD score at which deprivation shifts neither condition onset nor the emergency "
        "admission risk (the reference of emergency.base_rate)",
    )
    imd_quintile_span: float = param(
        35.0, lo=1.0, hi=100.0, unit="IMD score",
        source="MHCLG, English Indices of Deprivation 2019 (statistical release): mean IMD score "
        "of the most minus the least deprived quintile of LSOAs",
        doc="IMD difference over which condition onset comes "
        "ltc_deprivation_years_earlier years earlier",
    )
    newcomer_age_min: int = param(
        18, lo=0, hi=110, unit="years",
        source="ONS internal migration by age: moves peak among young adults (assumed 18-44)",
        doc="youngest age of adults registering with a practice (newborns apart)",
    )
    newcomer_age_max: int = param(
        44, lo=0, hi=110, unit="years",
        source="ONS internal migration by age: moves peak among young adults (assumed 18-44)",
        doc="oldest age of adults registering with a practice",
    )
    demand_growth: float = param(
        0.0, lo=-0.2, hi=0.2, unit="per year",
        source="scenario knob; NHS Digital HES: emergency admissions rose ~3% a year 2013/14-"
        "2018/19 against ~0.7% population growth (~2% a head)",
        doc="yearly growth of referral need and emergency risk per patient beyond ageing "
        "(compounded; allocations per head do not follow it)",
    )
    patient_imd_sd: float = param(
        10.3, lo=0.0, hi=40.0, unit="IMD score",
        source="IMD 2019 LSOA score SD ~15.5 (MHCLG) minus practice-level SD 11.6 in quadrature",
    )


@dataclass(frozen=True)
class ReferralSection:
    need_rate: float = param(
        0.022, lo=0.0, hi=1.0, unit="per patient-month at age 40, no LTC",
        source="calibrated to 14.8% of patients referred a year (O'Sullivan et al., BJGP 2005)",
    )
    need_age_slope: float = param(
        0.012, lo=0.0, hi=0.1, unit="per year of age",
        source="Hippisley-Cox et al., QResearch referral rates by age (rise with age)",
    )
    need_rr_per_ltc: float = param(
        1.25, lo=1.0, hi=3.0, source="O'Sullivan et al., BJGP 2005 (morbidity drives referral)",
    )
    refer_probability: float = param(
        0.40, lo=0.0, hi=1.0,
        source="calibrated with need_rate to O'Sullivan et al., BJGP 2005 (median 14.8%)",
    )
    practice_variation_sd: float = param(
        0.357, lo=0.0, hi=1.5, unit="log scale",
        source="Fertig et al., BMJ 1993: ~2.5-fold p90/p10 between practices (ln 2.5 / 2.56)",
    )


@dataclass(frozen=True)
class EmergencySection:
    base_rate: float = param(
        0.0033, lo=0.0, hi=1.0, unit="per patient-month at age 40, no LTC, mean IMD",
        source="calibrated to 98 admissions per 1,000 a year (NAO 2013)",
    )
    age_slope: float = param(
        0.028, lo=0.0, hi=0.2, unit="per year of age",
        source="HES 2012/13 emergency admissions by age (rate ~5x higher at 85 than at 40)",
    )
    rr_per_ltc: float = param(
        1.35, lo=1.0, hi=3.0, source="Payne et al., CMAJ 2013 (multimorbidity and admissions)",
    )
    deprivation_log_rr_per_10_imd: float = param(
        0.14, lo=0.0, hi=1.0,
        source="calibrated to ~2x most vs least deprived quintile (Blunt 2013; Pereira Gray 2017)",
    )
    waiting_rr: float = param(
        1.15, lo=1.0, hi=3.0, source=ASSUMED + "; unmet need while waiting raises emergency risk",
    )
    deferred_need_emergency: float = param(
        0.05, lo=0.0, hi=1.0, unit="probability",
        source=ASSUMED + ": need held back by a group's lever (a referral it prevented, a "
        "procedure it restricted) returns as an emergency admission",
    )


@dataclass(frozen=True)
class HospitalSection:
    capacity_ratio: float = param(
        1.0, lo=0.1, hi=5.0,
        source=ASSUMED + ": first outpatient capacity per month / expected referrals",
    )
    elective_conversion: float = param(
        0.25, lo=0.0, hi=1.0,
        source="NHS England RTT statistics: ~1 in 4 referral pathways end in admission",
    )
    inpatient_share: float = param(
        0.2, lo=0.0, hi=1.0, source="HES 2016/17: ~80% of elective admissions are day cases",
    )


@dataclass(frozen=True)
class CostSection:
    elective_inpatient: float = param(
        3684.0, lo=0.0, hi=1e5, unit="GBP", source="NHS reference costs 2016/17 via HFMA",
    )
    day_case: float = param(738.0, lo=0.0, hi=1e5, unit="GBP", source="NHS reference costs 2016/17")
    non_elective: float = param(
        1590.0, lo=0.0, hi=1e5, unit="GBP", source="NHS reference costs 2016/17 via HFMA",
    )
    outpatient: float = param(120.0, lo=0.0, hi=1e4, unit="GBP", source="NHS reference costs 2016/17")
    emergency_marginal_rate: float = param(
        1.0, lo=0.0, hi=1.0, unit="share of tariff", dated=True,
        source="scenario knob (1: full tariff); the marginal rate emergency tariff paid 30% of "
        "tariff for emergency admissions above the 2008/09 baseline from 2010/11 (Department of "
        "Health, Payment by Results guidance 2010-11; HFMA 2018)",
        doc="share of the non-elective tariff a group pays for its member practices' emergency "
        "admissions beyond their baseline (see emergency_payment; from the second year of a "
        "run, when there is a baseline)",
    )
    emergency_payment: str = param(
        "marginal_rate", choices=("marginal_rate", "blended"), dated=True,
        source="Department of Health, Payment by Results guidance 2010-11 (marginal rate "
        "emergency tariff); NHS Improvement and NHS England, 2019/20 National Tariff Payment "
        "System (blended payment for emergency care)",
        doc="how emergency_marginal_rate applies: to admissions above the first-year baseline "
        "(marginal_rate), or to admissions above or below last year's (blended; a block "
        "contract at rate 0)",
    )
    emergency_baseline_share: float = param(
        0.83, lo=0.0, hi=2.0, unit="share of the first year's admissions",
        source="derived: 4.25m emergency admissions in 2006/07 growing 3.2% a year (Health "
        "Foundation 2018) give ~4.5m in 2008/09 against ~5.5m in 2013/14",
        doc="each practice's baseline of emergency admissions a month: its first year's monthly "
        "mean times this share (the 2008/09 baseline relative to 2013/14)",
    )


@dataclass(frozen=True)
class FinanceSection:
    allocation_per_head: float = param(
        1318.0, lo=1.0, hi=1e4, unit="GBP a year",
        source="NHS England CCG allocations 2019/20; House of Commons Library CBP-8399",
        dated=True,
    )
    budget_pressure: float = param(
        0.0, lo=-0.5, hi=0.5,
        source="scenario knob: 0 = national allocation equals expected spend",
        doc="share by which the national programme budget falls short of expected spend",
        dated=True,
    )
    pace_of_change: float = param(
        0.3, lo=0.0, hi=1.0, unit="share of distance a year",
        source="NHS England allocations 2016/17-2020/21 (pace-of-change policy)",
        dated=True,
    )
    initial_distance_sd: float = param(
        0.05, lo=0.0, hi=0.5, unit="share of target",
        source="NHS England CCG allocations 2013/14: distance from target ~-10%..+20%",
    )
    community_share: float = param(
        0.10, lo=0.0, hi=1.0, unit="share of programme budget",
        source="NHS England CCG programme budgeting returns: community health services ~10% of "
        "CCG spend (acute care about half; mental health, prescribing, continuing care, "
        "primary care the rest)",
        doc="share of a group's budget spent on community health services (what a community "
        "cut reduces); hospital care beyond the modelled activity is in other services",
    )
    running_cost_allowance: float = param(
        25.0, lo=0.0, hi=200.0, unit="GBP per head a year", source="NHS England 2013/14",
        dated=True,
    )
    running_cost_fixed: float = param(
        1_500_000.0, lo=0.0, hi=1e8, unit="GBP a year",
        source="assumed so a median group (226k) breaks even on the allowance; costs per head "
        "fall steeply below ~100k (Bojke, Gravelle & Wilkin, BMJ 2001)",
    )
    shared_support: bool = param(
        True, source="NHS Commissioning Board 2012: 23 commissioning support units served 211 CCGs",
        doc="groups buy commissioning support from a shared unit, cutting their fixed cost",
    )
    shared_support_saving: float = param(
        0.6, lo=0.0, hi=1.0, unit="share of fixed running cost",
        source=ASSUMED + "; small groups sharing support match large ones (Pulse; Greaves et al., BJGP 2012)",
    )
    pooled_budget_share: float = param(
        0.0, lo=0.0, hi=0.5, unit="share of programme allocation", dated=True,
        source="scenario knob (0: none); Better Care Fund from 2015/16: GBP 3.46bn of CCG "
        "allocations (GBP 3.8bn less the Disabled Facilities Grant and capital), less the "
        "reablement and carers' break funding groups already spent (~GBP 0.43bn), over GBP "
        "69.5bn of allocations that include the fund: ~4.4% (Department of Health, Spending "
        "Round 2013; NHS England Better Care Fund planning guidance)",
        doc="share of each group's programme allocation ring-fenced for budgets pooled with "
        "local authorities: paid into the pool, and left out of what the group's other and "
        "community services are commissioned in line with",
    )
    running_cost_per_head: float = param(
        18.4, lo=0.0, hi=200.0, unit="GBP per head a year",
        source="£25 allowance minus fixed part per head at the median group (226k)",
        dated=True,
    )


@dataclass(frozen=True)
class PolicySection:
    """Group policy: the core keeps the forecast month; behaviours add their switches."""

    forecast_month: int = param(
        6, lo=1, hi=11, unit="month of the financial year (0 = April)",
        source="NHS month-6 financial forecast (October)",
    )


@dataclass(frozen=True)
class BehaviourSection:
    """Board rules on group size and running costs; behaviours add their parameters."""

    min_group_population: int = param(
        60_000, lo=0, hi=10_000_000, unit="patients (scaled with world.scale)",
        source="NHS CB 2012: smallest CCGs at authorisation ~60-70k (13-fold range, median 226k)",
    )
    running_cost_cut_year: int = param(
        7, lo=0, hi=50, unit="financial year index (0 = 2013/14)",
        source="NHS England: running-cost allowance cut 20% by 2020/21",
        dated=True,
    )
    running_cost_cut: float = param(
        0.2, lo=0.0, hi=1.0, source="NHS England (20% cut by 2020/21)", dated=True,
    )


CORE_SECTIONS: dict[str, type] = {
    "run": RunSection,
    "world": WorldSection,
    "region": RegionSection,
    "england": EnglandSection,
    "population": PopulationSection,
    "referral": ReferralSection,
    "emergency": EmergencySection,
    "hospital": HospitalSection,
    "costs": CostSection,
    "finance": FinanceSection,
    "policy": PolicySection,
    "behaviour": BehaviourSection,
}
