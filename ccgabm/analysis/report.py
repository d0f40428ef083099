"""``analyze``: read a sweep store and write the fracture-risk analysis and a Markdown report.

Writes into ``out_dir/analysis/``: ``fracture_probability.csv`` (P(any group fractures within N
years), Wilson intervals; ``ccgabm.analysis.fracture``), ``cumulative_incidence.csv`` and
``cumulative_incidence.png`` (Aalen–Johansen cumulative incidence of each event kind under
competing risks, over all groups and per level of each axis; ``ccgabm.analysis.competing``),
``event_incidence.csv`` (those incidences per point at the horizons),
``heatmap_fracture_<N>y.png`` (grid sweeps with two or more axes), ``sensitivity.csv`` and
``report.md``. Files are first written into a staging folder
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

from ccgabm.analysis.competing import EVENT_KINDS, cif_by_strata, event_incidence
from ccgabm.analysis.fracture import fracture_indicators, fracture_probability
from ccgabm.analysis.plots import plot_cumulative_incidence, plot_heatmaps
from ccgabm.analysis.sensitivity import sensitivity
from ccgabm.params import CcgabmError
from ccgabm.sweep.engine import FATE_COLUMNS, META_COLUMNS

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


def _cell(cif: float, low: float, high: float) -> str:
    if pd.isna(cif):
        return "n/a"
    interval = "" if pd.isna(low) or pd.isna(high) else f" [{low:.3f}, {high:.3f}]"
    return f"{cif:.3f}{interval}"


def _incidence_table(incidence: pd.DataFrame, names: list[str], years: tuple[float, ...]) -> pd.DataFrame:
    """One row per point and kind, a column per horizon: "CIF [low, high]"."""
    keys = ["point_id", *names, "kind"]
    rows: dict[tuple, dict[str, Any]] = {}
    for rec in incidence.to_dict("records"):
        key = tuple(rec[k] for k in keys)
        row = rows.setdefault(key, dict(zip(keys, key, strict=True)))
        row[f"CIF {rec['years']:g}y"] = _cell(rec["cif"], rec["ci_low"], rec["ci_high"])
    table = pd.DataFrame(list(rows.values()))
    order = {k: i for i, k in enumerate(EVENT_KINDS)}
    table = table.sort_values(["point_id", "kind"], key=lambda c: c.map(order) if c.name == "kind" else c)
    return table.drop(columns="point_id").reset_index(drop=True)


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
    missing = [c for c in FATE_COLUMNS if c not in fates.columns] if have_fates else []
    if missing:
        have_fates = False
        result.notes.append(
            f"group_fates lacks columns {missing} (written by an older ccgabm, whose 'fractured' "
            "also counted groups emptied by departures); fracture and event analysis skipped: "
            "rerun the sweep into a new folder"
        )
    fp = pd.DataFrame()
    incidence = pd.DataFrame()
    if have_fates:
        fp = fracture_probability(runs, fates, points, tuple(years), confidence)
        result.files.append(folder / "fracture_probability.csv")
        fp.to_csv(result.files[-1], index=False)

        with_axes = fates.merge(points[["point_id", *names]], on="point_id")
        cif = pd.concat(
            [cif_by_strata(with_axes, None, confidence=confidence)]
            + [
                cif_by_strata(with_axes, a, bins=None if grid else 3, confidence=confidence)
                for a in names
            ],
            ignore_index=True,
        )
        result.files.append(folder / "cumulative_incidence.csv")
        cif.to_csv(result.files[-1], index=False)
        result.files.append(plot_cumulative_incidence(cif, folder / "cumulative_incidence.png"))
        overall = cif[cif["axis"] == "all groups"].groupby("kind")["events"].sum()
        for kind in EVENT_KINDS:
            if overall.get(kind, 0) == 0:
                result.notes.append(
                    f"no group had a {kind.replace('_', ' ')} event: its cumulative incidence "
                    "is 0 throughout"
                )
        incidence = event_incidence(fates, points, tuple(years), confidence=confidence)
        result.files.append(folder / "event_incidence.csv")
        incidence.to_csv(result.files[-1], index=False)

        if grid and len(names) >= 2:
            x_axis, y_axis = heatmap_axes or (names[0], names[1])
            rest = [a for a in names if a not in (x_axis, y_axis)]
            result.files += plot_heatmaps(fp, x_axis, y_axis, rest[0] if rest else None, folder)
            if len(rest) > 1:
                result.notes.append(f"heatmaps pool over {rest[1:]} (successes summed)")
        else:
            result.notes.append("heatmaps need a grid sweep with two or more axes; skipped")
    elif not missing:
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

    report = _report(manifest, runs, fp, incidence, sens, years, failures, result)
    result.files.append(folder / "report.md")
    result.files[-1].write_text(report)
    return result


def _report(
    manifest: dict[str, Any],
    runs: pd.DataFrame,
    fp: pd.DataFrame,
    incidence: pd.DataFrame,
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
            "correlated, so its interval is too narrow). N years means fracture_month <= 12 N. A",
            "fracture is a coalition of members leaving together to form a new group; defections to",
            "existing groups, returns and groups emptied by departures are not fractures.",
            "",
        ]
        show = fp[fp["level"] == "run"]
        cols = [*names, "years", "n", "x", "p", "ci_low", "ci_high"]
        lines += [_md_table(show[cols].head(60)), ""]
        if len(show) > 60:
            lines += [f"({len(show) - 60} more rows in fracture_probability.csv)", ""]
    if not incidence.empty:
        lines += [
            "## Cumulative incidence of each event kind (competing risks, Aalen–Johansen)",
            "",
            "CIF(t) of a kind is the probability that a group has that event within t years of",
            "forming, before it ends in another way: the endings (voluntary or forced merger,",
            "dissolution, emptied) compete with every other kind, and groups still in play at the",
            "end of the run are censored. Unlike one minus a Kaplan–Meier curve with endings",
            "censored, it does not overstate the risk of groups that may end first. Groups of all",
            "replications of a point are pooled; they are correlated within a run, so the 95%",
            "intervals are descriptive (curves by axis level: `cumulative_incidence.csv`).",
            "",
        ]
        table = _incidence_table(incidence, names, years)
        lines += [_md_table(table.head(60)), ""]
        if len(table) > 60:
            lines += [f"({len(table) - 60} more rows in event_incidence.csv)", ""]
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
