"""Sampling designs: turn a spec's axes into a table of points (one row per point).

``grid`` is the Cartesian product in declaration order (last axis fastest); ``list`` takes
point i from the i-th value of every axis (explicit points, e.g. calibration candidates); ``lhs`` uses
``scipy.stats.qmc.LatinHypercube``; ``sobol`` and ``morris`` use SALib so that its analysers
can read the results back in the same row order.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pandas as pd

from ccgabm.sweep.seeds import design_seed
from ccgabm.sweep.spec import MAX_RUNS, SweepSpec, check_spec_size

__all__ = ["salib_problem", "design_points"]


def salib_problem(spec: SweepSpec) -> dict[str, Any]:
    """The SALib problem dict (names and bounds) of a range-axis spec."""
    return {
        "num_vars": len(spec.axes),
        "names": spec.axis_names,
        "bounds": [[a.low, a.high] for a in spec.axes],
    }


def design_points(spec: SweepSpec, max_runs: int | None = MAX_RUNS) -> pd.DataFrame:
    """Points as a DataFrame: ``point_id`` then one column per axis (dotted names).

    The design's size is checked against ``max_runs`` (None: no bound) before the grid is
    expanded or the sampler (scipy, SALib) is called; ``SpecError`` past it.
    """
    check_spec_size(spec, max_runs)
    names = spec.axis_names
    if spec.sampling == "grid":
        rows = list(itertools.product(*(a.values for a in spec.axes)))
        table = pd.DataFrame(rows, columns=names, dtype=object)
        table = table.infer_objects()
    elif spec.sampling == "list":
        table = pd.DataFrame({a.name: list(a.values) for a in spec.axes}, columns=names).infer_objects()
    else:
        table = pd.DataFrame(_sample(spec), columns=names)
    table.insert(0, "point_id", np.arange(len(table), dtype=np.int64))
    return table


def _sample(spec: SweepSpec) -> np.ndarray:
    seed = design_seed(spec.seed)
    n = spec.samples
    assert n is not None
    if spec.sampling == "lhs":
        from scipy.stats import qmc

        unit = qmc.LatinHypercube(d=len(spec.axes), rng=np.random.default_rng(seed)).random(n)
        low = np.array([a.low for a in spec.axes])
        high = np.array([a.high for a in spec.axes])
        return qmc.scale(unit, low, high)
    problem = salib_problem(spec)
    if spec.sampling == "sobol":
        from SALib.sample import sobol

        return sobol.sample(problem, n, calc_second_order=True, seed=seed)
    from SALib.sample import morris

    return morris.sample(problem, n, num_levels=spec.num_levels, seed=seed)
