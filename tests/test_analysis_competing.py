"""Competing-risk analysis: Aalen–Johansen cumulative incidence against hand computations,
endings as competing events (not censoring), ties, and kinds with no events.

Hand computations use the Aalen–Johansen estimator (Aalen & Johansen 1978): with all-cause
Kaplan–Meier survival S, ``F_K(t) = sum_{t_i <= t} S(t_i-) d_Ki / n_i``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from ccgabm.analysis import (
    EVENT_KINDS,
    cif_at,
    cif_by_strata,
    competing_spells,
    cumulative_incidence,
    event_incidence,
)


def _group(gid, start, end, fate="", fracture=np.nan, defection=np.nan, ret=np.nan, point=0):
    return {
        "point_id": point,
        "replication": 0,
        "group_id": gid,
        "start_month": start,
        "end_month": end,
        "fate": fate,
        "fracture_month": float(fracture),
        "defection_month": float(defection),
        "return_month": float(ret),
        "fractured": not math.isnan(fracture),
        "dissolved": fate == "dissolved",
        "merged": fate in ("voluntary_merger", "forced_merger"),
    }


def four_groups() -> pd.DataFrame:
    """Known months, one run of 120 months.

    g1 fractures at month 12 (1 y) and lives on; g2 is force-merged at month 24 (2 y) without
    fracturing; g3 fractures at month 36 (3 y) and is dissolved at month 60 (5 y); g4 forms at
    month 72 and is still in play at month 120 (censored after 4 y). g1 also loses members to
    an existing group at month 6.
    """
    return pd.DataFrame(
        [
            _group("g1", 0, 120, fracture=12, defection=6),
            _group("g2", 0, 24, fate="forced_merger"),
            _group("g3", 0, 60, fate="dissolved", fracture=36),
            _group("g4", 72, 120),
        ]
    )


def _value(curve: pd.DataFrame, t: float) -> float:
    return cif_at(curve, t)[0]


def test_spells_event_competing_censored() -> None:
    fates = four_groups()
    frac = competing_spells(fates, "fracture")
    assert frac["status"].tolist() == [1, 2, 1, 0]
    assert frac["duration_years"].tolist() == pytest.approx([1, 2, 3, 4])
    diss = competing_spells(fates, "dissolved")
    assert diss["status"].tolist() == [0, 2, 1, 0]
    assert diss["duration_years"].tolist() == pytest.approx([10, 2, 5, 4])
    # an ending in the very month of the first departure: the departure happened first
    same = pd.DataFrame([_group("x", 0, 30, fate="voluntary_merger", fracture=30)])
    assert competing_spells(same, "fracture")["status"].tolist() == [1]
    # emptied is not reported but competes; a group ending before its recorded first departure
    # (inconsistent input) counts the ending
    odd = pd.DataFrame([_group("y", 0, 20, fate="emptied"), _group("z", 0, 10, "dissolved", 15)])
    assert competing_spells(odd, "fracture")["status"].tolist() == [2, 2]
    assert "emptied" not in EVENT_KINDS
    with pytest.raises(ValueError, match="unknown event kind"):
        competing_spells(odd, "switch")


def test_aalen_johansen_equals_hand_computation() -> None:
    curves = cif_by_strata(four_groups(), None).set_index("kind")
    frac = curves.loc["fracture"].reset_index(drop=True)
    # t=1: n=4, one fracture -> F=1/4, S=3/4. t=2: merger (competing), n=3 -> S=1/2.
    # t=3: n=2, one fracture -> F = 1/4 + S(3-) * 1/2 = 1/2. t=4: censored.
    assert _value(frac, 0.5) == 0
    assert _value(frac, 1) == pytest.approx(1 / 4)
    assert _value(frac, 2.5) == pytest.approx(1 / 4)
    assert _value(frac, 3) == pytest.approx(1 / 2)
    assert _value(frac, 4) == pytest.approx(1 / 2)
    assert np.isnan(_value(frac, 4.5))  # past follow-up (last spell censored): not estimable
    assert frac.set_index("time").loc[3.0, ["at_risk", "events", "competing"]].tolist() == [2, 1, 0]
    # delta-method (log-log) interval at t=1: Var F = S(0)^2 d (n - d) / n^3 = 3/64
    f, se = 0.25, math.sqrt(3 / 64)
    z = norm.ppf(0.975)
    g, se_g = math.log(-math.log(f)), se / (f * abs(math.log(f)))
    want = sorted([math.exp(-math.exp(g + z * se_g)), math.exp(-math.exp(g - z * se_g))])
    assert list(cif_at(frac, 1)[1:]) == pytest.approx(want)

    diss = curves.loc["dissolved"].reset_index(drop=True)
    # merger at 2 (n=4): S=3/4; g4 censored at 4; at 5: n=2, one dissolution -> 3/4 * 1/2
    assert _value(diss, 4.9) == 0
    assert _value(diss, 5) == pytest.approx(3 / 8)
    merge = curves.loc["forced_merger"].reset_index(drop=True)
    assert _value(merge, 2) == pytest.approx(1 / 4)
    defect = curves.loc["defection"].reset_index(drop=True)
    # defection at 0.5 (n=4) -> 1/4; the merger then competes, nothing else defects
    assert _value(defect, 0.5) == pytest.approx(1 / 4)
    assert _value(defect, 4) == pytest.approx(1 / 4)


def test_merger_is_competing_not_censoring() -> None:
    curve = cumulative_incidence(*_arrays(competing_spells(four_groups(), "fracture")))
    # 1 - Kaplan–Meier with the merger censored: t=1: 3/4; t=3: n=2 -> S = 3/8, 1 - S = 5/8
    one_minus_km = 5 / 8
    assert _value(curve, 3) == pytest.approx(1 / 2)
    assert _value(curve, 3) < one_minus_km
    # the CIFs of all kinds that end the spell, plus survival, sum to 1 (here: fracture and
    # the merger as the only competing event)
    swapped = competing_spells(four_groups(), "fracture")
    swapped["status"] = swapped["status"].map({0: 0, 1: 2, 2: 1})  # the merger's own CIF
    competing = cumulative_incidence(*_arrays(swapped))
    s3 = (1 - 1 / 4) * (1 - 1 / 3) * (1 - 1 / 2)  # all-cause Kaplan–Meier at 3 y
    assert _value(curve, 3) + _value(competing, 3) == pytest.approx(1 - s3)


def _arrays(spells: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    return spells["duration_years"].to_numpy(), spells["status"].to_numpy()


def test_ties_are_exact_deterministic_and_silent() -> None:
    # times 1 1 2 2 3, status 1 2 1 0 2: at t=1 a fracture and a merger tie (n=5):
    # F = 1/5, S = 3/5; at t=2 a fracture ties with a censoring (n=3): F = 1/5 + 3/5 * 1/3
    durations, status = np.array([1, 1, 2, 2, 3.0]), np.array([1, 2, 1, 0, 2])
    state = np.random.get_state()[1].copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        first = cumulative_incidence(durations, status)
        second = cumulative_incidence(durations[::-1], status[::-1])
    assert np.array_equal(np.random.get_state()[1], state)  # no global seeding
    pd.testing.assert_frame_equal(first, second)
    assert first["time"].tolist() == [0, 1, 2, 3]
    assert first["cif"].tolist() == pytest.approx([0, 1 / 5, 2 / 5, 2 / 5])
    assert first["at_risk"].tolist() == [5, 5, 3, 1]


def test_interval_is_lifelines_where_defined_and_stays_defined_at_the_end() -> None:
    from lifelines import AalenJohansenFitter

    rng = np.random.default_rng(3)
    durations = np.round(rng.exponential(3.0, 60), 6) + rng.uniform(0, 1e-3, 60)  # no ties
    status = rng.choice([0, 1, 2], size=60, p=[0.3, 0.4, 0.3])
    ours = cumulative_incidence(durations, status).set_index("time")
    fitter = AalenJohansenFitter().fit(durations, status, event_of_interest=1)
    theirs = pd.concat([fitter.cumulative_density_, fitter.confidence_interval_], axis=1)
    theirs = theirs.loc[theirs.index > 0]
    assert ours.loc[theirs.index, "cif"].to_numpy() == pytest.approx(theirs.iloc[:, 0].to_numpy())
    defined = theirs.iloc[:, 1:].notna().all(axis=1) & (theirs.iloc[:, 0] > 0)
    bounds = np.sort(theirs.loc[defined].iloc[:, 1:].to_numpy(), axis=1)  # its labels are swapped
    assert ours.loc[defined[defined].index, ["ci_low", "ci_high"]].to_numpy() == pytest.approx(bounds)
    # the last two spells at risk both have the event: lifelines' variance is NaN there
    curve = cumulative_incidence(np.array([1, 2, 3, 3.0]), np.array([1, 2, 1, 1]))
    low, high = cif_at(curve, 3)[1:]
    assert 0 < low < cif_at(curve, 3)[0] == pytest.approx(1 / 4 + 1 / 2) and high <= 1


def test_event_at_time_zero_counts() -> None:
    # an event in the month the group formed is at 0 years and must not be dropped
    curve = cumulative_incidence(np.array([0, 1, 2.0]), np.array([1, 1, 0]))
    assert _value(curve, 0) == pytest.approx(1 / 3)
    assert _value(curve, 1) == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("durations", "status"),
    [
        ([1.0, 2.0, 3.0], [2, 2, 0]),  # no events of the kind, only competing ones
        ([1.0, 2.0, 3.0], [0, 0, 0]),  # all censored
        ([2.0], [0]),  # a single group, censored
    ],
)
def test_no_events_gives_zeros(durations, status) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        curve = cumulative_incidence(np.array(durations), np.array(status))
    assert (curve[["cif", "ci_low", "ci_high"]] == 0).all().all()
    assert curve["time"].iloc[0] == 0 and curve["at_risk"].iloc[0] == len(durations)


def test_single_group_with_event_and_empty_input() -> None:
    curve = cumulative_incidence(np.array([2.0]), np.array([1]))
    assert _value(curve, 1) == 0 and _value(curve, 2) == 1 and _value(curve, 7) == 1
    assert cif_at(curve, 2) == (1, 1, 1)
    assert cumulative_incidence(np.array([]), np.array([], dtype=int)).empty
    with pytest.raises(ValueError, match="status"):
        cumulative_incidence(np.array([1.0]), np.array([3]))


def test_event_incidence_per_point_with_missing_kinds() -> None:
    # point 0: the four groups; point 1: nothing ever happens (every kind has no events)
    fates = pd.concat(
        [four_groups(), pd.DataFrame([_group("h1", 0, 120, point=1), _group("h2", 0, 120, point=1)])],
        ignore_index=True,
    )
    points = pd.DataFrame(
        {
            "point_id": [0, 1],
            "a.x": [0.1, 0.2],
            "config_digest": ["d0", "d1"],
            "horizon_months": [120.0, 60.0],
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = event_incidence(fates, points, years=(3, 10))
    assert list(table.columns[:2]) == ["point_id", "a.x"] and "config_digest" not in table
    assert len(table) == 2 * len(EVENT_KINDS) * 2
    rows = table.set_index(["point_id", "kind", "years"])
    assert rows.loc[(0, "fracture", 3), ["cif", "events", "n_groups"]].tolist() == pytest.approx([0.5, 2, 4])
    assert np.isnan(rows.loc[(0, "fracture", 10), "cif"])  # g4 censored at 4 y: past follow-up
    assert rows.loc[(0, "return", 3), ["cif", "ci_low", "ci_high"]].tolist() == [0, 0, 0]
    assert (rows.loc[(1, slice(None), 3), "cif"] == 0).all()
    assert rows.loc[(1, slice(None), 10), "cif"].isna().all()  # beyond the 60-month horizon


def test_strata_by_axis_level() -> None:
    fates = pd.concat(
        [four_groups().assign(**{"a.x": 1.0}), four_groups().assign(**{"a.x": 2.0}).iloc[:2]],
        ignore_index=True,
    )
    table = cif_by_strata(fates, "a.x", kinds=("fracture",))
    assert set(table["stratum"]) == {"1.0", "2.0"} and set(table["axis"]) == {"a.x"}
    low = table[table["stratum"] == "1.0"]
    assert _value(low, 3) == pytest.approx(1 / 2)
    spread = four_groups().assign(**{"a.x": [0.1, 0.2, 0.3, 0.4]})
    binned = cif_by_strata(spread, "a.x", bins=2, kinds=("fracture",))
    assert binned["stratum"].nunique() == 2  # quantile bins for non-grid designs
