"""History — the model against the published record of English CCGs, 2013/14 to 2021/22.

Runs R replicate seeds of the history scenario (every practice in England, 9 financial years)
and sets each year's model figures (mean and 2.5-97.5 percentile interval over replicates)
beside the published record (``ccgabm.history.record``): the number of groups, mergers,
fractures and defections, groups in deficit and the mean deficit, the quality premium,
allocation per head, emergency admissions, the waiting list and practice closures. Lists the
years where the record falls outside the model's interval. ``--scale-check`` reruns the same
seeds at two scales and sets the fitted series side by side.

    python experiments/history.py [--quick] [--out DIR] [--jobs N] [--config TOML]
                                  [--scale S] [--replicates R] [--scale-check]
"""

from __future__ import annotations

import math
import sys
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd

from ccgabm.findings import Experiment, Report, md_table, mean_interval, parse_args
from ccgabm.findings.figures import plt, save
from ccgabm.findings.report import Row
from ccgabm.history.compare import COMPARISONS, compare, disagreements, fmt, model_figure, model_values
from ccgabm.history.measures import MEASURES, history_run
from ccgabm.history.record import FITTED, INPUTS, MERGERS, fy_label, record_series
from ccgabm.sweep.spec import Axis, SweepSpec

ROOT = Path(__file__).resolve().parents[1]  # the repository: configs/ and results/
NAME = "history"
DEFAULT_CONFIG = Path("configs/england_2013.toml")  # the dated 2013 scenario
QUICK_CONFIG = Path("configs/baseline.toml")  # a small region: seconds
YEARS = 9  # 2013/14 to 2021/22
DEFAULT_START_YEAR = 2013
SEED = 2013
# Every patient by default (about a minute and 1.5 GB a run). --scale-check shows what the scale
# changes: not the group counts; at 0.01, ~1% more emergency admissions and more groups in
# deficit (small samples make groups' finances noisier); 0.1 matches full scale closely.
SCALE, QUICK_SCALE = 1.0, 0.2
REPLICATES, QUICK_REPLICATES = 8, 2
CHECK_SCALES, QUICK_CHECK_SCALES = (0.01, 0.1), (0.1, 0.2)
SCALE_CHECK_SERIES = ("groups", "allocation_per_head", "emergency_per_1000", "emergency_index",
                      "deficit_share", "waiting_per_1000")


def _options(p) -> None:
    p.add_argument("--config", type=Path, default=None,
                   help=f"scenario TOML (default {DEFAULT_CONFIG}; {QUICK_CONFIG} with --quick)")
    p.add_argument("--scale", type=float, default=None,
                   help=f"world.scale, the share of each practice's patients simulated (default "
                        f"{SCALE}; {QUICK_SCALE} with --quick)")
    p.add_argument("--replicates", type=int, default=None,
                   help=f"replicate seeds (default {REPLICATES}; {QUICK_REPLICATES} with --quick)")
    p.add_argument("--scale-check", action="store_true",
                   help="also run the same seeds at two scales (--check-scales) and compare")
    p.add_argument("--check-scales", type=float, nargs=2, default=None, metavar=("LOW", "HIGH"),
                   help=f"the scales of --scale-check (default {CHECK_SCALES[0]} "
                        f"{CHECK_SCALES[1]}; {QUICK_CHECK_SCALES[0]} {QUICK_CHECK_SCALES[1]} "
                        "with --quick)")


def config_path(args) -> Path:
    """The scenario to run; a clear ``SystemExit`` when the file does not exist."""
    path = args.config or (QUICK_CONFIG if args.quick else DEFAULT_CONFIG)
    if not path.is_absolute() and not path.exists():
        path = args.root / path
    if not path.is_file():
        raise SystemExit(f"experiments/history.py: scenario {path} not found; pass "
                         "--config (e.g. --config configs/england.toml)")
    return path


def start_year(path: Path) -> int:
    """``[run] start_year`` of the scenario file, else 2013 (years are labelled from it)."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return int(data.get("run", {}).get("start_year", DEFAULT_START_YEAR))


def history_spec(path: Path, replicates: int, scales: tuple[float, ...], label: str) -> SweepSpec:
    """One point per scale, ``replicates`` runs each; the same seeds at every scale."""
    return SweepSpec(base=path, seed=SEED, replications=replicates, sampling="grid",
                     axes=(Axis("world.scale", tuple(float(s) for s in scales)),),
                     common_random_numbers=True, fixed={"run.years": YEARS},
                     description=label, source=Path(__file__).resolve())


def _year_table(runs: pd.DataFrame, start: int) -> pd.DataFrame:
    """Every measure, each year: mean (interval) over replicates."""
    rows = []
    for name, (description, unit) in MEASURES.items():
        values = model_values(runs, name)
        row = {"measure": f"{description} ({unit})"}
        for y in range(YEARS):
            if values is None:
                row[fy_label(start + y)] = "not modelled in this run"
                continue
            fig = model_figure(values.get(y, np.array([])))
            digits = 1 if unit in ("groups", "events", "per 1,000", "GBP") else 3
            row[fy_label(start + y)] = (fmt(fig.mean, digits) if fig.n < 2 else
                                        f"{fmt(fig.mean, digits)} ({fmt(fig.low, digits)}-"
                                        f"{fmt(fig.high, digits)})")
        rows.append(row)
    return pd.DataFrame(rows)


def _measure_section(table: pd.DataFrame) -> str:
    cols = {"fy": "year", "model": "model mean (interval)", "record": "record",
            "fitted": "fitted, input or out of sample", "verdict": "verdict"}
    shown = table[list(cols)].rename(columns=cols)
    if table["basis"].astype(bool).any():
        shown.insert(3, "record's definition", table["basis"].to_numpy())
    shown["source"] = [s + (f" ({d})" if d else "") for s, d in
                       zip(table["source"], table["derived"], strict=True)]
    return md_table(shown)


def _formation_section(runs: pd.DataFrame) -> str | None:
    cols = [c for c in runs.columns if str(c).startswith("formation.")]
    if not cols:
        return None
    lines = []
    if "formation.table" in cols:
        import io

        df = pd.read_json(io.StringIO(str(runs["formation.table"].iloc[0])), orient="split")
        lines += ["First replicate:", "", md_table(df.astype(str)), ""]
    rows = []
    for c in cols:
        if c == "formation.table":
            continue
        v = pd.to_numeric(runs[c], errors="coerce")
        if v.notna().any():
            fig = model_figure(v.to_numpy())
            rows.append({"figure": c[len("formation."):], "mean over replicates": fmt(fig.mean, 2),
                         "interval": "one run" if fig.n < 2 else
                         f"{fmt(fig.low, 2)} to {fmt(fig.high, 2)}"})
        else:
            rows.append({"figure": c[len("formation."):],
                         "mean over replicates": str(runs[c].iloc[0]), "interval": ""})
    if rows:
        lines.append(md_table(pd.DataFrame(rows)))
    return "\n".join(lines)


def scale_check_table(runs: pd.DataFrame, scales: tuple[float, float], start: int) -> str:
    """The target series at two scales, same seeds: means and the paired difference."""
    low, high = scales
    a = runs[np.isclose(runs["world.scale"], low)].set_index("replication")
    b = runs[np.isclose(runs["world.scale"], high)].set_index("replication")
    a, b = a.align(b, join="inner", axis=0)
    rows = []
    for name in SCALE_CHECK_SERIES:
        for y in range(YEARS):
            col = f"h.{name}.{y}"
            if col not in a.columns or col not in b.columns:
                continue
            x, z = a[col].astype(float), b[col].astype(float)
            d = mean_interval((z - x).to_numpy())
            interval = ("n/a" if not (math.isfinite(d.low) and math.isfinite(d.high))
                        else f"{fmt(d.low, 3)} to {fmt(d.high, 3)}")
            rows.append({"series": name, "year": fy_label(start + y),
                         f"mean at {low:g}": fmt(float(np.nanmean(x)) if x.notna().any()
                                                 else math.nan, 3),
                         f"mean at {high:g}": fmt(float(np.nanmean(z)) if z.notna().any()
                                                  else math.nan, 3),
                         "difference": fmt(d.value, 3), "95% CI of the difference": interval,
                         "CI includes 0": ("n/a" if interval == "n/a" else
                                           "yes" if d.low <= 0 <= d.high else "no")})
    return md_table(pd.DataFrame(rows)) if rows else "No target series in the runs."


def _band_figure(path: Path, title: str, ylabel: str, runs: pd.DataFrame, measure: str,
                 record_key: str, start: int) -> Path:
    fig, ax = plt.subplots(figsize=(7, 3.8))
    years = np.arange(start, start + YEARS)
    values = model_values(runs, measure)
    if values is None:
        ax.text(0.5, 0.5, "not modelled in this run", transform=ax.transAxes, ha="center",
                color="grey")
    else:
        figs = [model_figure(values.get(y, np.array([]))) for y in range(YEARS)]
        mean = np.array([f.mean for f in figs])
        low = np.array([f.low if f.n > 1 else f.mean for f in figs])
        high = np.array([f.high if f.n > 1 else f.mean for f in figs])
        ax.fill_between(years, low, high, color="tab:blue", alpha=0.25,
                        label="model: 2.5-97.5% of replicates")
        ax.plot(years, mean, color="tab:blue", marker=".", label="model: mean")
    pts = [p for p in record_series().get(record_key, []) if start <= p.fy < start + YEARS]
    if pts:
        ax.plot([p.fy for p in pts], [p.value for p in pts], "o", color="tab:orange",
                label="published record")
    ax.set_xticks(years, [fy_label(int(y)) for y in years], rotation=45, fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save(fig, path)


def main(argv: list[str] | None = None):
    args = parse_args(NAME, __doc__.splitlines()[0], argv, root=ROOT, configure=_options)
    path = config_path(args)
    start = start_year(path)
    scale = args.scale if args.scale is not None else (QUICK_SCALE if args.quick else SCALE)
    replicates = args.replicates or args.replications or (
        QUICK_REPLICATES if args.quick else REPLICATES)
    exp = Experiment(NAME, args, spec_path=path)
    outcome = exp.run(history_spec(path, replicates, (scale,), "history"), run_fn=history_run)
    runs = outcome.runs
    table = compare(runs, start, YEARS)

    report = Report(exp, f"History: the model against the record of English commissioning "
                         f"groups, {fy_label(start)} to {fy_label(start + YEARS - 1)}",
                    "Does the model, run over the nine financial years the groups existed, "
                    "reproduce the published record: how many groups there were, how they "
                    "merged (and that none fractured), how many were in deficit, how much of the "
                    "quality premium they earned, and the allocations, emergency admissions, "
                    "waiting lists and practice closures of those years?")
    report.outcomes.append(outcome)
    record = record_series()
    for comp in COMPARISONS:
        rows = table[table["series"] == comp.record] if len(table) else table
        if not len(rows):
            continue
        judged = rows[rows["verdict"].isin(["agrees", "disagrees"])]
        sources = "; ".join(dict.fromkeys(part for p in record[comp.record]
                                          for part in p.source.split("; ")))
        published = ", ".join(f"{r.fy}: {r.record}" for r in rows.itertuples(index=False))
        if not len(judged):
            model, inside = str(rows["verdict"].iloc[0]), "n/a"
        else:
            ok = int((judged["verdict"] == "agrees").sum())
            model, inside = f"{ok} of {len(judged)} years agree", "yes" if ok == len(judged) else "no"
        report.add_row(Row(comp.label, model, published, sources, inside,
                           f"{comp.role}; "
                           + ("model within 1% of the record each year" if comp.role == "input"
                              else "record inside the model's 2.5-97.5% replicate interval each "
                              "year")
                           + (" (within 10% of the run with one replicate)" if replicates == 1
                              else "")))
    lines = disagreements(table)
    report.section("Where the model disagrees", "\n".join(f"- {x}" for x in lines) if lines else
                   "The record lies inside the model's interval in every year compared.")
    for comp in COMPARISONS:
        rows = table[table["series"] == comp.record] if len(table) else table
        if len(rows):
            report.section(f"{comp.label}: model vs record", _measure_section(rows))
    report.section("The model's figures each year (mean, 2.5-97.5% of replicates)",
                   md_table(_year_table(runs, start)))
    formation = _formation_section(runs)
    report.section("Formation of the groups", formation if formation else
                   "Not available in this model version (no `ccgabm.formation.formation_summary`).")
    if args.scale_check:
        scales = tuple(args.check_scales or (QUICK_CHECK_SCALES if args.quick else CHECK_SCALES))
        check = exp.run(history_spec(path, replicates, scales, "history scale check"),
                        subdir="scale_check", run_fn=history_run)
        report.outcomes.append(check)
        report.section(f"Scale check: world.scale {scales[0]:g} vs {scales[1]:g}, same seeds",
                       "Each series is a share, a rate, an amount per head or a count of "
                       "groups, so it should not depend on the scale; the difference is the "
                       "paired mean over replicate seeds (higher minus lower scale) with its "
                       "t-interval.\n\n" + scale_check_table(check.runs, scales, start))
    merged = ", ".join(f"{m.before} into {m.after} ({fy_label(m.effective_fy)})" for m in MERGERS)
    report.section("Reading the comparison", f"""
- **Years.** Year 0 of the run is {fy_label(start)} (`[run] start_year` of `{path.name}`, else
  {DEFAULT_START_YEAR}). The model's count of groups is those closing each year's accounts,
  i.e. the groups at the start of the year, as the record counts them at 1 April.
- **Interval.** The 2.5-97.5 percentile range of {replicates} replicate runs (the spread of single
  histories, not the uncertainty of their mean); the record disagrees when it lies outside it.
- **Fitted, input or out of sample.** A calibration may fit {", ".join(sorted(FITTED))};
  {", ".join(sorted(INPUTS))} is an input of the scenario's dated timeline; every other series
  is out of sample.
- **Mergers** in the record ({merged}) are counted as groups absorbed in the year before the
  1 April they took effect. The model's mergers of every kind it records are summed; the table
  of model figures splits them by kind.
- **Deficits.** The sources define deficits differently: groups reporting an in-year deficit
  (2013/14, 2014/15), groups with cumulative deficits (2015/16), groups overspending against
  plan (2016/17 to 2018/19). The model's in-year overspend (in-year result < 0) is compared with
  in-year definitions and its cumulative balance < 0 with the cumulative one. The mean deficit
  of the record is the total overspend over the groups overspending, as a share of the mean
  group's allocation.
- **Per head and per 1,000.** Registered patients are interpolated linearly between the
  published counts (at 1 October for yearly figures, at the month of the count for the waiting
  list); the model's waiting list is taken at the year end, the record's in the month stated.
  Practice closures in the record are the annualised fall in the number of practices, which
  includes practice mergers; the model's are closures.
- **Scale.** world.scale {scale:g}: in the England scenarios every practice is kept, with that
  share of its patients simulated, so counts of groups and practices are at full size.
""")
    figures = (
        ("groups", "groups", "Commissioning groups at the start of each year", "groups",
         "group_count.png"),
        ("deficit_share", "deficit_share", "Share of groups overspending in the year", "share",
         "deficits.png"),
        ("qp_paid_share", "qp_paid_share", "Quality premium paid, share of the pot", "share",
         "quality_premium.png"),
        ("emergency_index", "emergency_index", "Emergency admissions (first year = 1)", "index",
         "emergency_index.png"),
        ("waiting_per_1000", "waiting_per_1000", "Waiting list per 1,000 registered",
         "per 1,000", "waiting_list.png"),
    )
    for measure, key, title, ylabel, file in figures:
        report.figure(title, _band_figure(exp.out / file, title, ylabel, runs, measure, key, start))
    report.notes.append("command line: `python experiments/history.py "
                        + " ".join(argv if argv is not None else sys.argv[1:]) + "`")
    report.notes.append(f"scenario `{path}`, {YEARS} years, world.scale {scale:g}, "
                        f"{replicates} replicate seeds from root seed {SEED}; the sweep spec is "
                        "built by this script (one point per scale)")
    return report.write()


if __name__ == "__main__":
    print(main(sys.argv[1:]))
