"""``report.md`` of an experiment: the model's figure beside the published one, then details.

The table has one row per finding: what is compared, the model's figure (mean and 95% CI over
replications), the published figure or claim, its citation, whether the model falls inside, and
how "inside" was judged.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ccgabm.findings.literature import Published
from ccgabm.findings.stats import Estimate
from ccgabm.outputs import write_text_file

if TYPE_CHECKING:
    from ccgabm.findings.runner import Experiment, SweepOutcome

__all__ = ["Report", "Row", "judge", "md_table"]


def judge(published: Published, est: Estimate, margin: float | None = None) -> tuple[str, str]:
    """``(inside, rule)`` for an estimate against a published figure or claim.

    - range: inside when the model's mean lies in [low, high] (the rule says whether the whole
      95% CI does too);
    - no_change: inside when the 95% CI includes 0, or lies within +-``margin`` if given
      (an equivalence margin we choose; the sources give none);
    - direction: inside when the 95% CI excludes 0 on the published side (sign of ``low``).
    """
    import math

    if not math.isfinite(est.value):
        return "n/a", "no estimate"
    if not (math.isfinite(est.low) and math.isfinite(est.high)):
        return "n/a", "no confidence interval (too few replications)"
    if published.kind == "range":
        lo, hi = published.low, published.high
        ok = lo <= est.value <= hi
        whole = est.within(lo, hi)
        return ("yes" if ok else "no"), (
            f"mean in [{lo:g}, {hi:g}]" + ("; whole CI inside" if whole else "; CI not wholly inside"))
    if published.kind == "no_change":
        includes0 = not est.excludes(0.0)
        if margin is not None:
            equiv = est.within(-margin, margin)
            ok = includes0 or equiv
            return ("yes" if ok else "no"), (
                f"CI includes 0 ({'yes' if includes0 else 'no'}) or lies within +-{margin:g} "
                f"({'yes' if equiv else 'no'})")
        return ("yes" if includes0 else "no"), "95% CI includes 0"
    sign = 1.0 if (published.low or 1.0) > 0 else -1.0
    ok = (est.low > 0) if sign > 0 else (est.high < 0)
    return ("yes" if ok else "no"), f"95% CI wholly {'above' if sign > 0 else 'below'} 0"


@dataclass
class Row:
    """One line of the model-vs-published table."""

    finding: str
    model: str
    published: str
    citation: str
    inside: str
    rule: str = ""


def md_table(df: pd.DataFrame, digits: int = 3) -> str:
    """A DataFrame as a Markdown table (floats to ``digits`` significant figures)."""
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        cells = [f"{v:.{digits}g}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


@dataclass
class Report:
    """Collects rows, sections and figures; ``write()`` produces ``report.md``."""

    experiment: Experiment
    title: str
    question: str
    rows: list[Row] = field(default_factory=list)
    sections: list[tuple[str, str]] = field(default_factory=list)
    figures: list[tuple[str, Path]] = field(default_factory=list)
    outcomes: list[SweepOutcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, finding: str, est: Estimate, published: Published, unit: str = "",
            digits: int = 2, margin: float | None = None, model_text: str | None = None) -> Row:
        """Add a row judged by ``judge`` against ``published``."""
        inside, rule = judge(published, est, margin)
        row = Row(finding, model_text or est.format(digits, unit), published.text(),
                  published.citation, inside, rule)
        self.rows.append(row)
        return row

    def add_row(self, row: Row) -> None:
        """Add a row judged by the caller."""
        self.rows.append(row)

    def section(self, heading: str, text: str) -> None:
        """A free Markdown section (interpretation, tables)."""
        self.sections.append((heading, text))

    def figure(self, caption: str, path: Path) -> None:
        """A PNG written into the output folder."""
        self.figures.append((caption, Path(path)))

    def write(self) -> Path:
        """Write ``report.md`` (and ``summary.json`` with the table) into the output folder."""
        exp = self.experiment
        out = exp.out
        total = time.perf_counter() - exp.started
        lines = [f"# {self.title}", "", self.question, ""]
        if exp.size != "full":
            lines += [f"> **{exp.size} size** — a smoke-test/partial run, not the full experiment; "
                      "intervals are wide and verdicts are not meaningful.", ""]
        lines += ["## Model vs published", "",
                  "| finding | model (mean, 95% CI) | published | source | inside? | rule |",
                  "|---|---|---|---|---|---|"]
        for r in self.rows:
            lines.append(f"| {r.finding} | {r.model} | {r.published} | {r.citation} | "
                         f"**{r.inside}** | {r.rule} |")
        lines.append("")
        for heading, text in self.sections:
            lines += [f"## {heading}", "", text.strip(), ""]
        if self.figures:
            lines += ["## Figures", ""]
            for caption, path in self.figures:
                rel = path.relative_to(out) if path.is_relative_to(out) else path
                lines += [f"![{caption}]({rel})", "", f"*{caption}*", ""]
        lines += ["## How this was run", ""]
        for o in self.outcomes:
            spec = o.spec
            n_points = o.runs["point_id"].nunique() if len(o.runs) else 0
            axes = ", ".join(f"`{a.name}` = {list(a.values) if a.values else (a.low, a.high)}"
                             for a in spec.axes)
            lines += [
                f"- sweep `{o.folder.relative_to(out) if o.folder.is_relative_to(out) else o.folder}`"
                f" from spec `{_rel(spec.source, exp.args.root)}` (base `{_rel(spec.base, exp.args.root)}`)",
                f"  - axes: {axes}",
                f"  - fixed overrides: {json.dumps(spec.fixed) if spec.fixed else 'none'}",
                f"  - {n_points} points x {spec.replications} replications = {len(o.runs)} runs; "
                f"root seed {spec.seed}; common random numbers: "
                f"{'yes' if spec.common_random_numbers else 'no'}",
                f"  - sweep wall time {o.elapsed_s:.1f} s on {o.jobs} worker(s); mean run "
                f"{o.runs['wall_seconds'].mean():.2f} s" if len(o.runs) else "  - no runs",
            ]
        lines += [
            f"- size: {exp.size}; total wall time {total:.1f} s",
            f"- command: `python experiments/{exp.name}.py"
            f"{' --quick' if exp.args.quick else ''}`",
            f"- Python {platform.python_version()} on {platform.machine()}; {sys.platform}",
            "- parameters: the model's cited defaults (docs/parameters.md) except the scenario "
            "switches and world-size settings listed above",
            "",
        ]
        if self.notes:
            lines += ["## Notes", ""] + [f"- {n}" for n in self.notes] + [""]
        path = write_text_file(out / "report.md", "\n".join(lines), "report")
        summary = {
            "experiment": exp.name,
            "size": exp.size,
            "wall_seconds": total,
            "rows": [{k: _finite_or_none(v) for k, v in r.__dict__.items()} for r in self.rows],
        }
        write_text_file(out / "summary.json", json.dumps(summary, indent=2, allow_nan=False),
                        "summary")
        return path


def _finite_or_none(value: Any) -> Any:
    """A number that is not finite is written as null (JSON has no NaN)."""
    if isinstance(value, float | np.floating) and not np.isfinite(value):
        return None
    return value


def _rel(path: Path | None, root: Path) -> str:
    if path is None:
        return "?"
    p, root = Path(path).resolve(), Path(root).resolve()
    return str(p.relative_to(root)) if p.is_relative_to(root) else str(p)
