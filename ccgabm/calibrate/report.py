"""The calibration report: ``OUT/report.md`` with figures in ``OUT/figures/``.

It gives the best parameters and their spread across the best 10% of trials, the fit of the
best candidate (model against every target, with the model's intervals), the same fit rerun
with fresh seeds, Optuna's optimisation history and parameter importances, and the trial table
(``OUT/trials.csv``).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from ccgabm.calibrate.spec import CalibrationSpec

__all__ = ["write_report", "trials_table"]

# PED-ANOVA compares the parameters of the best trials (the top 10%) with all of them; with
# fewer than about 20 trials the top group has one or two members and the ranking is noise
# (assumed threshold, after Optuna's advice of a few trials in the top group).
MIN_TRIALS_FOR_IMPORTANCE = 20


def trials_table(study: Any) -> pd.DataFrame:
    """One row per trial: number, state, loss, parameters, duration and any error."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        duration = (t.datetime_complete - t.datetime_start).total_seconds() \
            if t.datetime_complete and t.datetime_start else math.nan
        rows.append({"trial": t.number, "state": t.state.name, "loss": t.value, **t.params,
                     "seconds": duration, "error": t.user_attrs.get("error", "")})
    return pd.DataFrame(rows)


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return "n/a" if not math.isfinite(v) else f"{v:.4g}"
    return str(v)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _fit_table(records: list[dict[str, Any]]) -> list[str]:
    lines = ["| target | observed ± sd | model mean (95% CI of the mean) | replicates: mean ± 1.96 sd "
             "| n | z² |",
             "|---|---|---|---|---|---|"]
    for r in records:
        low, high = r["interval"]  # None with one replicate
        spread = 1.96 * r["model_sd"]
        lines.append(f"| {r['label']} | {_fmt(r['observed'])} ± {_fmt(r['sd'])} | {_fmt(r['mean'])} "
                     f"({_fmt(low)}, {_fmt(high)}) | {_fmt(r['mean'] - spread)} to "
                     f"{_fmt(r['mean'] + spread)} "
                     f"| {r['n']} | {_fmt(r['z2'])} |")
    return lines


def _plot_fit(records: list[dict[str, Any]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    targets = list(dict.fromkeys(r["target"] for r in records))
    fig, axes = plt.subplots(1, len(targets), figsize=(3.6 * len(targets), 3.2), squeeze=False)
    for ax, name in zip(axes[0], targets, strict=True):
        rows = [r for r in records if r["target"] == name]
        x = range(len(rows))
        ax.errorbar(x, [r["observed"] for r in rows], yerr=[1.96 * r["sd"] for r in rows], fmt="o",
                    color="black", label="target ± 1.96 sd", capsize=3)
        ax.errorbar([i + 0.15 for i in x], [r["mean"] for r in rows],
                    yerr=[1.96 * r["model_sd"] for r in rows], fmt="s", color="tab:blue",
                    label="model ± 1.96 sd (replicates)", capsize=3)
        ax.set_xticks(list(x), [r["label"].removeprefix(name).strip() or name for r in rows],
                      rotation=45 if len(rows) > 4 else 0, fontsize=8)
        ax.set_title(name, fontsize=9)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _optuna_plots(study: Any, folder: Path, n_params: int) -> dict[str, str]:
    """Optimisation history and parameter importances; a note instead where one cannot be drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna
    from optuna.visualization import matplotlib as ovm

    made: dict[str, str] = {}
    # Optuna's plots switch matplotlib to its ggplot style for the whole process; the context
    # gives every setting back afterwards (figures drawn later in the process keep their look)
    with warnings.catch_warnings(), matplotlib.rc_context():
        warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
        ax = ovm.plot_optimization_history(study)
        complete = (optuna.trial.TrialState.COMPLETE,)
        losses = [t.value for t in study.get_trials(deepcopy=False, states=complete)]
        if losses and min(losses) > 0:
            ax.set_yscale("log")
        ax.figure.set_size_inches(6.4, 3.6)
        ax.figure.tight_layout()
        ax.figure.savefig(folder / "history.png", dpi=110)
        plt.close(ax.figure)
        made["history"] = "figures/history.png"
        if n_params < 2:
            made["importance"] = "one free parameter: no importance to rank"
            return made
        if len(losses) < MIN_TRIALS_FOR_IMPORTANCE or len(set(losses)) < 2:
            made["importance"] = (f"not drawn: {len(losses)} complete trials with "
                                  f"{len(set(losses))} distinct losses; parameter importances need "
                                  f"{MIN_TRIALS_FOR_IMPORTANCE} or more that differ")
            return made
        try:
            evaluator = optuna.importance.PedAnovaImportanceEvaluator()
            ax = ovm.plot_param_importances(study, evaluator=evaluator)
        except (ValueError, RuntimeError) as exc:
            made["importance"] = f"not computed: {exc}"
            return made
        ax.figure.set_size_inches(6.4, 0.6 + 0.5 * n_params)
        ax.figure.tight_layout()
        ax.figure.savefig(folder / "importance.png", dpi=110)
        plt.close(ax.figure)
        made["importance"] = "figures/importance.png"
    return made


def write_report(out: Path, spec: CalibrationSpec, study: Any, result: Any) -> Path:
    """Write ``report.md``, ``trials.csv`` and the figures; return the report's path."""
    from ccgabm.calibrate.engine import read_check

    figures = out / "figures"
    figures.mkdir(exist_ok=True)
    table = trials_table(study)
    table.to_csv(out / "trials.csv", index=False)
    done = table[table["state"] == "COMPLETE"].sort_values(["loss", "trial"]) if len(table) else table
    failed = table[table["state"] == "FAIL"] if len(table) else table
    lines = [f"# Calibration: {spec.study}", ""]
    if spec.description:
        lines += [spec.description, ""]
    rate = result.n_new / (result.elapsed_s / 60) if result.elapsed_s > 0 and result.n_new else math.nan
    lines += [
        f"- base scenario: `{spec.base.resolve()}`"
        + ("; fixed: " + ", ".join(f"`{k}` = {v!r}" for k, v in spec.fixed.items()) if spec.fixed else ""),
        f"- study `{spec.study}` in `{result.storage}` (spec digest `{result.spec_digest}`)",
        f"- sampler `{spec.sampler}`; {spec.replications} replicates per candidate with common random "
        f"numbers (root seed {spec.seed}); batches of {spec.batch} candidates",
        f"- trials: {len(done)} complete, {len(failed)} failed; this call finished {result.n_new} new and "
        f"{result.n_resumed} interrupted trials in {result.elapsed_s:.1f} s ({_fmt(rate)} trials a minute)",
        *([f"- {_plural(result.n_others_running, 'trial')} of the study running for another "
           "calibration folder (or left by one that was killed) are not counted"]
          if result.n_others_running else []),
        *(["- one replicate per candidate: the model's noise is not estimated (taken as 0 in the loss, "
           "no interval of the model mean); use two or more"] if spec.replications == 1 else []),
        "",
        "The loss is the weighted sum over targets of the mean standardised squared error "
        "(m - y)² / (sd² + s²/n): m and s² are the mean and variance of the candidate's n replicates, "
        "y and sd the target and its uncertainty. About 1 per target is a fit within the stated "
        "uncertainty.",
        "",
    ]
    if not len(done):
        lines += ["No trial finished with a loss: see `trials.csv` for the errors.", ""]
        path = out / "report.md"
        path.write_text("\n".join(lines))
        return path
    best = done.iloc[0]
    top = done.head(max(1, math.ceil(0.1 * len(done))))
    lines += [f"## Best candidate: trial {int(best['trial'])}, loss {_fmt(float(best['loss']))}", "",
              f"Spread across the best 10% of complete trials ({_plural(len(top), 'trial')}, losses "
              f"{_fmt(float(top['loss'].min()))} to {_fmt(float(top['loss'].max()))}):", "",
              "| parameter | bounds | best | best 10%: min | median | max |", "|---|---|---|---|---|---|"]
    for p in spec.parameters:
        col = top[p.name]
        bounds = f"{_fmt(p.low)} to {_fmt(p.high)}" + (" (log)" if p.log else "")
        bounds += " (int)" if p.integer else ""
        lines.append(f"| `{p.name}` | {bounds} | {_fmt(float(best[p.name]))} | {_fmt(float(col.min()))} | "
                     f"{_fmt(float(col.median()))} | {_fmt(float(col.max()))} |")
    lines += ["", "A wide spread among near-equal losses means the targets do not pin the parameter "
              "down: report the range, not the single best value.", ""]
    records = study.trials[int(best["trial"])].user_attrs.get("fit", [])
    lines += ["## Fit of the best candidate (the seeds it was chosen with)", ""] + _fit_table(records)
    if records:
        _plot_fit(records, figures / "fit.png")
        lines += ["", "![fit](figures/fit.png)", ""]
    check = read_check(out)
    lines += ["## Check: the best candidate rerun with fresh seeds", ""]
    token = study.user_attrs.get("token")
    if check is None or (check.get("token"), check.get("trial")) != (token, int(best["trial"])):
        lines += ["Not run (`check_replications = 0`)." if not spec.check_replications else
                  "Not run yet for this best candidate.", ""]
    elif check.get("loss") is None:
        lines += [f"The check failed: {check.get('error') or 'no finite loss'}", ""]
    else:
        lines += [f"{check['replications']} replicates, seeds apart from the calibration's, with the noise "
                  f"scored as for {spec.replications}: loss "
                  f"{_fmt(check['loss'])} against {_fmt(float(best['loss']))} on the calibration seeds. "
                  "The best of many noisy candidates is chosen partly for its luck, so its calibration "
                  "loss is "
                  "optimistic; this one is not.", ""] + _fit_table(check["fit"]) + [""]
    plots = _optuna_plots(study, figures, len(spec.parameters))
    lines += ["## Search", ""]
    for name, where in plots.items():
        lines += [f"![{name}]({where})" if where.startswith("figures/") else f"- {name}: {where}", ""]
    if len(failed):
        lines += [f"## Failed trials ({len(failed)})", ""]
        lines += [f"- trial {int(r.trial)}: {r.error}" for r in failed.head(10).itertuples()]
        lines.append("")
    path = out / "report.md"
    path.write_text("\n".join(lines))
    return path
