"""Global sensitivity of outputs to the swept parameters, on replication means per point.

* ``sobol`` designs: SALib ``sobol.analyze`` (S1, ST with bootstrap CIs; S2 omitted).
* ``morris`` designs: SALib ``morris.analyze`` (mu, mu_star, sigma, mu_star CI).
* ``grid`` / ``lhs``: Spearman rank correlation of each parameter with the output across
  points (a screening measure, not a variance decomposition).

Replication means remove most of the seed noise from Y; with few replications, noise still
inflates the total-order indices.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["sensitivity"]

_COLUMNS = ["method", "output", "parameter", "index", "value", "conf"]


def _problem(axes: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "num_vars": len(axes),
        "names": [a["name"] for a in axes],
        "bounds": [[a["low"], a["high"]] for a in axes],
    }


def sensitivity(
    means: pd.DataFrame, points: pd.DataFrame, manifest: dict[str, Any], outputs: list[str]
) -> tuple[pd.DataFrame, str | None]:
    """Long table (method, output, parameter, index, value, conf) and a note if skipped."""
    sampling = manifest["sampling"]
    names = [a["name"] for a in manifest["axes"]]
    if means.empty or not outputs:
        return pd.DataFrame(columns=_COLUMNS), "no finished runs or no numeric outputs"
    if sampling in ("sobol", "morris") and len(means) != len(points):
        missing = len(points) - len(means)
        return pd.DataFrame(columns=_COLUMNS), (
            f"{sampling} analysis needs every design point; {missing} point(s) have no "
            "finished runs (resume the sweep)"
        )
    ordered = means.set_index("point_id").reindex(points["point_id"])
    rows: list[dict[str, Any]] = []
    for out in outputs:
        y = ordered[out].to_numpy(float)
        if np.isnan(y).any() or np.std(y) == 0:  # NaN first: no all-NaN warning
            continue
        if sampling == "sobol":
            from SALib.analyze import sobol

            res = sobol.analyze(
                _problem(manifest["axes"]), y, calc_second_order=True, seed=int(manifest["seed"])
            )
            for i, name in enumerate(names):
                for idx in ("S1", "ST"):
                    rows.append(
                        {
                            "method": "sobol",
                            "output": out,
                            "parameter": name,
                            "index": idx,
                            "value": res[idx][i],
                            "conf": res[idx + "_conf"][i],
                        }
                    )
        elif sampling == "morris":
            from SALib.analyze import morris

            x = points[names].to_numpy(float)
            res = morris.analyze(
                _problem(manifest["axes"]),
                x,
                y,
                num_levels=int(manifest["num_levels"]),
                seed=int(manifest["seed"]),
            )
            for i, name in enumerate(names):
                for idx in ("mu", "mu_star", "sigma"):
                    conf = res["mu_star_conf"][i] if idx == "mu_star" else np.nan
                    rows.append(
                        {
                            "method": "morris",
                            "output": out,
                            "parameter": name,
                            "index": idx,
                            "value": float(res[idx][i]),
                            "conf": conf,
                        }
                    )
        else:
            from scipy.stats import spearmanr

            for name in names:
                xv = points[name].to_numpy()
                if len(np.unique(xv)) < 2:
                    continue
                rho, pval = spearmanr(xv, y)
                rows.append(
                    {
                        "method": "spearman",
                        "output": out,
                        "parameter": name,
                        "index": "rho",
                        "value": float(rho),
                        "conf": np.nan,
                        "p_value": float(pval),
                    }
                )
    table = pd.DataFrame(rows)
    if table.empty:
        return pd.DataFrame(columns=_COLUMNS), "every output is constant across points"
    return table, None
