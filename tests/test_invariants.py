"""Conservation of money and patients, membership, no negatives: checked every month."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import small_config

from ccgabm.invariants import InvariantError
from ccgabm.model import CommissioningModel


def run_checked(cfg, seed=3):
    """Run to the horizon, checking every conservation law after each month."""
    model = CommissioningModel(cfg, seed=seed)
    model.run(check_invariants=True)
    return model


def test_invariants_hold_every_month(small_cfg):
    model = run_checked(small_cfg)
    assert model.registrations_total > 0 and model.deaths_total > 0
    assert model.board.paid_total > 0


def test_broken_ledger_is_detected(small_cfg):
    model = CommissioningModel(small_cfg, seed=1)
    model.step()
    next(iter(model.groups.values())).balance += 1e6  # money from nowhere
    try:
        model.check_invariants()
    except InvariantError as exc:
        assert "balances" in str(exc)
    else:
        raise AssertionError("a ledger imbalance went unnoticed")


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n_groups=st.integers(1, 4),
    per=st.integers(1, 6),
    population=st.integers(500, 15_000),
    gap=st.floats(0, 40),
    pressure=st.floats(-0.1, 0.2),
    capacity=st.floats(0.3, 2.0),
    seed=st.integers(0, 2**32),
)
def test_invariants_over_generated_configs(n_groups, per, population, gap, pressure, capacity, seed):
    cfg = small_config(**{
        "run.years": 1, "region.n_groups": n_groups, "region.practices_per_group": per,
        "region.target_population": population, "region.deprivation_gap": gap,
        "finance.budget_pressure": pressure, "hospital.capacity_ratio": capacity,
    })
    model = run_checked(cfg, seed=seed)
    assert 1 <= len(model.active_groups) <= len(model.groups)
    waiting = sum(h.waiting for h in model.hospitals)
    assert 0 <= waiting <= model.population.alive.sum()
