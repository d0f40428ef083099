"""The baseline lands inside published ranges (the sources in docs/parameters.md)."""

from __future__ import annotations

import pytest
from support import ROOT

from ccgabm.config import load_config
from ccgabm.simulate import run_simulation


@pytest.fixture(scope="module")
def baseline_summary():
    return run_simulation(load_config(ROOT / "configs" / "baseline.toml")).summary


def test_emergency_admissions_per_1000(baseline_summary):
    assert 80 <= baseline_summary["emergency_admissions_per_1000"] <= 120  # NAO 2013: ~98


def test_share_of_patients_referred(baseline_summary):
    assert 0.10 <= baseline_summary["share_referred_per_year"] <= 0.20  # O'Sullivan 2005: 14.8%


def test_practice_referral_variation(baseline_summary):
    assert 2.0 <= baseline_summary["practice_referral_p90_p10"] <= 3.0  # Fertig 1993: ~2.5-fold


def test_deprivation_gradient_of_emergencies(baseline_summary):
    assert 1.5 <= baseline_summary["emergency_gradient_q5_q1"] <= 2.5  # Blunt 2013; ~2x


def test_demography_is_plausible(baseline_summary):
    assert 7 <= baseline_summary["deaths_per_1000"] <= 12  # ONS: ~9 per 1,000 (England 2019)
    growth = baseline_summary["population_end"] / baseline_summary["population_start"]
    assert 1.0 < growth < 1.25  # lists grew ~1.1% a year 2013-22
