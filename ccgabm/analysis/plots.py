"""Figures: fracture-probability heatmaps over two axes and cumulative incidence curves (PNG).

Uses matplotlib's object API (``Figure`` + Agg canvas), so no global backend is touched.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["plot_cumulative_incidence", "plot_heatmaps"]


def _save(fig: Figure, path: Path) -> Path:
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    return path


def _fmt(v: object) -> str:
    return f"{v:g}" if isinstance(v, int | float | np.number) else str(v)


def plot_heatmaps(
    table: pd.DataFrame,
    x_axis: str,
    y_axis: str,
    facet_axis: str | None,
    out_dir: Path,
    level: str = "run",
) -> list[Path]:
    """One PNG per horizon: P(fracture within N years) over (x, y), a panel per facet level.

    ``table`` is ``fracture_probability``'s output. Axes other than x, y and facet are pooled
    (successes and trials summed) before the interval is recomputed.
    """
    from ccgabm.analysis.intervals import wilson_interval

    paths = []
    data = table[table["level"] == level]
    keys = [y_axis, x_axis] + ([facet_axis] if facet_axis else [])
    for years, part in data.groupby("years", sort=True):
        agg = part.groupby(keys, as_index=False)[["x", "n"]].sum(min_count=1)
        agg["p"] = agg["x"] / agg["n"]
        agg["lo"], agg["hi"] = wilson_interval(agg["x"].fillna(0), agg["n"].where(agg["x"].notna(), 0))
        facets = sorted(agg[facet_axis].unique()) if facet_axis else [None]
        fig = Figure(figsize=(4.2 * len(facets) + 1, 4))
        axes = fig.subplots(1, len(facets), squeeze=False)[0]
        image = None
        for ax, level_value in zip(axes, facets, strict=True):
            cell = agg if level_value is None else agg[agg[facet_axis] == level_value]
            grid = cell.pivot(index=y_axis, columns=x_axis, values="p")
            lo = cell.pivot(index=y_axis, columns=x_axis, values="lo")
            hi = cell.pivot(index=y_axis, columns=x_axis, values="hi")
            image = ax.imshow(
                grid.to_numpy(float), origin="lower", vmin=0, vmax=1, cmap="viridis", aspect="auto"
            )
            for i in range(grid.shape[0]):
                for j in range(grid.shape[1]):
                    p = grid.iat[i, j]
                    text = "n/a" if pd.isna(p) else f"{p:.2f}\n[{lo.iat[i, j]:.2f}, {hi.iat[i, j]:.2f}]"
                    ax.text(
                        j,
                        i,
                        text,
                        ha="center",
                        va="center",
                        fontsize=7,
                        color="white" if not pd.isna(p) and p < 0.5 else "black",
                    )
            ax.set_xticks(range(grid.shape[1]), [_fmt(v) for v in grid.columns])
            ax.set_yticks(range(grid.shape[0]), [_fmt(v) for v in grid.index])
            ax.set_xlabel(x_axis)
            ax.set_ylabel(y_axis)
            if level_value is not None:
                ax.set_title(f"{facet_axis} = {_fmt(level_value)}", fontsize=9)
        fig.colorbar(image, ax=list(axes), label=f"P(fracture within {years:g} y)")
        fig.suptitle(f"P(any group fractures within {years:g} years), 95% Wilson CI")
        paths.append(_save(fig, out_dir / f"heatmap_fracture_{years:g}y.png"))
    return paths


def plot_cumulative_incidence(cif: pd.DataFrame, path: Path) -> Path:
    """Cumulative incidence curves with 95% bands: a row of panels per stratifying axis ("all
    groups" first), a column per event kind, a curve per stratum (``cif_by_strata`` tables)."""
    axes_names = list(dict.fromkeys(cif["axis"])) if len(cif) else ["all groups"]
    kinds = list(dict.fromkeys(cif["kind"])) if len(cif) else []
    fig = Figure(figsize=(3.2 * max(len(kinds), 1) + 0.5, 2.8 * len(axes_names) + 0.6))
    panels = fig.subplots(len(axes_names), max(len(kinds), 1), squeeze=False, sharex=True, sharey=True)
    for i, name in enumerate(axes_names):
        for j, kind in enumerate(kinds):
            ax = panels[i][j]
            part = cif[(cif["axis"] == name) & (cif["kind"] == kind)]
            for stratum, curve in part.groupby("stratum", sort=False):
                ax.step(curve["time"], curve["cif"], where="post", label=str(stratum))
                ax.fill_between(curve["time"], curve["ci_low"], curve["ci_high"], step="post", alpha=0.15)
            ax.set_ylim(0, 1.02)
            if i == 0:
                ax.set_title(kind.replace("_", " "), fontsize=9)
            if i == len(axes_names) - 1:
                ax.set_xlabel("years since group formed")
            if j == 0:
                ax.set_ylabel(f"{name}\ncumulative incidence", fontsize=8)
            if j == len(kinds) - 1 and part["stratum"].nunique() > 1:
                ax.legend(fontsize=6, title=None)
    fig.suptitle(
        "Cumulative incidence of each event kind (Aalen–Johansen; endings compete, "
        "censored at the end of the run), 95% CI"
    )
    return _save(fig, path)
