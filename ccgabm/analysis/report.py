"""``analyze``: read a sweep store and write the fracture-risk analysis and a Markdown report.

Writes into ``out_dir/analysis/``: ``fracture_probability.csv``, ``survival.csv``,
``survival.png``, ``heatmap_fracture_<N>y.png`` (grid sweeps with two or more axes),
``sensitivity.csv`` and ``report.md``. Files are first written into a staging folder
(``analysis/.tmp-*``) and moved into place only when the analysis has finished, so an
interrupted analysis never leaves partial files; leftover staging folders are removed at the
next start.

Every run and fates file is checked before use (``ccgabm.sweep.store.load_results``): a store
holding an unreadable or mismatched file raises ``AnalysisError`` naming the file and the
``ccgabm sweep`` command that repairs it.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from ccgabm.analysis.fracture import fracture_indicators, fracture_probability
from ccgabm.analysis.plots import plot_heatmaps, plot_survival
from ccgabm.analysis.sensitivity import sensitivity
from ccgabm.analysis.survival import group_spells, km_by_strata, survival_at
from ccgabm.params import CcgabmError
from ccgabm.sweep.engine import META_COLUMNS

__all__ = ["AnalysisError", "AnalysisResult", "analyze"]

_META = set(META_COLUMNS)


class AnalysisError(CcgabmError, ValueError):
    """The store cannot be analysed as asked (no sweep, no runs, unknown axis, bad argument)."""


@dataclass
class AnalysisResult:
    """Files written by ``analyze`` and notes on anything skipped."""

    folder: Path
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _outputs(runs: pd.DataFrame, axis_names: list[str]) -> list[str]:
    skip = _META | set(axis_names)
    return [c for c in runs.columns if c not in skip and pd.api.types.is_numeric_dtype(runs[c])]


def _md_table(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        cells = [f"{v:.3g}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def analyze(
    out_dir: str | Path,
    years: tuple[float, ...] = (5, 10),
    heatmap_axes: tuple[str, str] | None = None,
    confidence: float = 0.95,
) -> AnalysisResult:
    """Analyse the sweep in ``out_dir``; returns the files written (under ``analysis/``)."""
    from ccgabm.sweep.store import StoreError, load_failures, load_results, read_manifest, repair_hint

    if not isinstance(out_dir, str | os.PathLike) or not str(out_dir).strip():
        raise AnalysisError(f"a sweep's output folder is needed, got {out_dir!r}")
    try:
        years = tuple(years)
    except TypeError:
        raise AnalysisError(f"years must be a sequence of positive numbers, got {years!r}") from None
    if not years or any(
        isinstance(y, bool) or not isinstance(y, int | float) or not math.isfinite(y) or y <= 0
        for y in years
    ):
        raise AnalysisError(f"years must be finite numbers above 0, got {years!r}")
    if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not (
        0 < confidence < 1
    ):
        raise AnalysisError(f"confidence must be a number between 0 and 1, got {confidence!r}")
    out = Path(out_dir)
    try:
        manifest = read_manifest(out)
    except (FileNotFoundError, StoreError) as exc:
        raise AnalysisError(str(exc)) from None
    try:
        names = [str(a["name"]) for a in manifest["axes"]]
    except (KeyError, TypeError):
        raise AnalysisError(f"{out / 'manifest.json'} lists no swept axes; {repair_hint(out)}") from None
    if heatmap_axes is not None:
        ok = isinstance(heatmap_axes, tuple | list) and all(isinstance(a, str) for a in heatmap_axes)
        unknown = [a for a in heatmap_axes if a not in names] if ok else ["?"]
        if unknown or len(set(heatmap_axes)) != 2 or len(heatmap_axes) != 2:
            raise AnalysisError(
                f"heatmap axes must be two distinct swept axes among {names}; got {heatmap_axes}"
            )
    try:
        points = pd.read_parquet(out / "points.parquet")
    except (OSError, ValueError, pa.ArrowException) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        hint = repair_hint(out, manifest)
        raise AnalysisError(f"{out / 'points.parquet'} is unreadable ({first}); {hint}") from None
    try:
        runs, fates = load_results(out)
        failures = load_failures(out)
    except StoreError as exc:
        raise AnalysisError(str(exc)) from None
    if runs.empty:
        raise AnalysisError(f"{out} has no finished runs yet (run or resume the sweep first)")
    folder = out / "analysis"
    folder.mkdir(exist_ok=True)
    for leftover in folder.glob(".tmp-*"):  # staging of an analysis that was cut short
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder))
    try:
        result = _analyze(manifest, points, runs, fates, failures, years, heatmap_axes, confidence, staging)
        written = []
        for path in result.files:
            os.replace(path, folder / path.name)
            written.append(folder / path.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    result.folder, result.files = folder, written
    return result


def _analyze(
    manifest: dict[str, Any],
    points: pd.DataFrame,
    runs: pd.DataFrame,
    fates: pd.DataFrame,
    failures: list[dict[str, Any]],
    years: tuple[float, ...],
    heatmap_axes: tuple[str, str] | None,
    confidence: float,
    folder: Path,
) -> AnalysisResult:
    """The analysis proper; writes every file into ``folder`` (the staging folder)."""
    names = [a["name"] for a in manifest["axes"]]
    result = AnalysisResult(folder=folder)
    grid = manifest["sampling"] == "grid"

    have_fates = not fates.empty and "group_fates" in manifest["keep"]
    fp = pd.DataFrame()
    if have_fates:
        fp = fracture_probability(runs, fates, points, tuple(years), confidence)
        result.files.append(folder / "fracture_probability.csv")
        fp.to_csv(result.files[-1], index=False)

        spells = group_spells(fates).merge(points[["point_id", *names]], on="point_id")
        km = pd.concat(
            [km_by_strata(spells, None).assign(axis="all groups")]
            + [km_by_strata(spells, a, bins=None if grid else 3) for a in names],
            ignore_index=True,
        )
        result.files.append(folder / "survival.csv")
        km.to_csv(result.files[-1], index=False)
        result.files.append(plot_survival(km, folder / "survival.png"))

        if grid and len(names) >= 2:
            x_axis, y_axis = heatmap_axes or (names[0], names[1])
            rest = [a for a in names if a not in (x_axis, y_axis)]
            result.files += plot_heatmaps(fp, x_axis, y_axis, rest[0] if rest else None, folder)
            if len(rest) > 1:
                result.notes.append(f"heatmaps pool over {rest[1:]} (successes summed)")
        else:
            result.notes.append("heatmaps need a grid sweep with two or more axes; skipped")
    else:
        km = pd.DataFrame()
        result.notes.append("group_fates not stored ([outputs] keep); fracture analysis skipped")

    # sensitivity on replication means (headline outputs + run-level fracture indicators)
    outputs = _outputs(runs, names)
    frame = runs[["point_id", *outputs]].astype({o: float for o in outputs})
    if have_fates:
        for y in years:
            frame[f"fracture_within_{y:g}y"] = fracture_indicators(runs, fates, y).astype(float)
            outputs.append(f"fracture_within_{y:g}y")
    means = frame.groupby("point_id", as_index=False).mean()
    sens, note = sensitivity(means, points, manifest, outputs)
    if note:
        result.notes.append(f"sensitivity: {note}")
    result.files.append(folder / "sensitivity.csv")
    sens.to_csv(result.files[-1], index=False)

    report = _report(manifest, runs, fp, km, sens, years, failures, result)
    result.files.append(folder / "report.md")
    result.files[-1].write_text(report)
    return result


def _report(
    manifest: dict[str, Any],
    runs: pd.DataFrame,
    fp: pd.DataFrame,
    km: pd.DataFrame,
    sens: pd.DataFrame,
    years: tuple[float, ...],
    failures: list[dict[str, Any]],
    result: AnalysisResult,
) -> str:
    names = [a["name"] for a in manifest["axes"]]
    n_points = manifest["n_points"]
    lines = [
        "# Sweep analysis",
        "",
        manifest.get("description") or "",
        "",
        f"- spec: `{manifest.get('spec_path')}`; base: `{manifest['base']}`",
        f"- sampling: {manifest['sampling']}, {n_points} points x {manifest['replications']} "
        f"replications = {manifest['n_runs']} runs; root seed {manifest['seed']}",
        f"- finished runs analysed: {len(runs)}; failed runs on record: {len(failures)}",
        f"- ccgabm version: {manifest['package_version']}",
        f"- axes: {', '.join(names)}",
        "",
    ]
    if not fp.empty:
        lines += [
            "## P(fracture within N years)",
            "",
            "Run level: share of runs in which *any* group fractures within N years (runs are",
            "independent replications, so the 95% Wilson interval is valid). Group level: share of",
            "the groups present at the start that fracture within N years (groups in one run are",
            "correlated, so its interval is too narrow). N years means fracture_month <= 12 N.",
            "",
        ]
        show = fp[fp["level"] == "run"]
        cols = [*names, "years", "n", "x", "p", "ci_low", "ci_high"]
        lines += [_md_table(show[cols].head(60)), ""]
        if len(show) > 60:
            lines += [f"({len(show) - 60} more rows in fracture_probability.csv)", ""]
    if not km.empty:
        lines += [
            "## Group survival (Kaplan–Meier)",
            "",
            "Event: fracture or dissolution; censored at merger or horizon.",
            "",
        ]
        rows = []
        for (axis, stratum), curve in km.groupby(["axis", "stratum"], sort=False):
            rows.append(
                {
                    "axis": axis,
                    "stratum": stratum,
                    **{f"S({y:g}y)": survival_at(curve, y) for y in years},
                }
            )
        lines += [_md_table(pd.DataFrame(rows)), ""]
    if not sens.empty:
        key = sens["index"].isin(["ST", "mu_star", "rho"])
        top = sens[key].assign(size=sens["value"].abs()).sort_values("size", ascending=False)
        lines += [
            "## Sensitivity",
            "",
            f"Method: {sens['method'].iloc[0]} (on replication means).",
            "",
            _md_table(top[["output", "parameter", "index", "value"]].head(20)),
            "",
        ]
    if failures:
        lines += ["## Failed runs", ""]
        lines += [
            f"- point {f['point_id']} rep {f['replication']}: {f['error_type']}: {f['error']}"
            for f in failures[:20]
        ]
        lines.append("")
    if result.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in result.notes] + [""]
    lines += ["## Files", ""] + [f"- `{p.name}`" for p in result.files] + ["- `report.md`", ""]
    return "\n".join(lines)
