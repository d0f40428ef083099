"""Fixed-seed summary figures equal the committed baseline (tests/reference/).

The baseline is regenerated only on purpose: ``python scripts/regenerate_reference.py``.
An optimisation must leave every figure unchanged; a deliberate change of behaviour or
calibration regenerates the file and says so in the commit.
"""

from __future__ import annotations

import json

import pytest
from reference.regression import BASELINE_PATH, compare, model_figures, population_figures

HINT = ("if this change of results is intended, regenerate the baseline with "
        "`python scripts/regenerate_reference.py` and say why in the commit")


@pytest.fixture(scope="module")
def baseline():
    return json.loads(BASELINE_PATH.read_text())


def test_population_figures_unchanged(baseline):
    diffs = compare(baseline["population"], population_figures(), "population")
    assert not diffs, "\n".join(diffs[:20]) + "\n" + HINT


def test_model_figures_unchanged(baseline):
    diffs = compare(baseline["model"], model_figures(), "model")
    assert not diffs, "\n".join(diffs[:20]) + "\n" + HINT
