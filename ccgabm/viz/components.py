"""Panels of the browser view: practice network, group table, event log, time-series charts.

Each panel reads ``mesa.visualization.utils.update_counter`` so it redraws when SolaraViz
steps the model, and caches its picture per (model, month) so other re-renders are free.
The practice map is a ``matplotlib.figure.Figure`` (no pyplot state) redrawn only when
something on it can have changed (an event or a new year); the charts over time are written
as SVG directly, which costs milliseconds a month rather than the hundreds a six-axes
matplotlib figure takes.
"""

from __future__ import annotations

import html
import io
import math

import matplotlib
import numpy as np
import reacton.ipywidgets as rw
import solara
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from mesa.visualization.utils import update_counter

from ccgabm.events import Event
from ccgabm.viz.model import VizModel

# Twenty distinct colours (tab10, then the lighter tab20 shades); group i gets PALETTE[i % 20]
# in order of creation, so a group keeps its colour for the whole run.
PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
    "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
)
MONTHS = ("Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec", "Jan", "Feb", "Mar")
KIND_COLOURS = {
    Event.JOIN: "#2ca02c", Event.LEAVE: "#ff7f0e", Event.FRACTURE: "#d62728",
    Event.DEFECTION: "#e377c2", Event.RETURN: "#98df8a", Event.VOLUNTARY_MERGER: "#9467bd",
    Event.FORCED_MERGER: "#c5b0d5", Event.CONSOLIDATION_MERGER: "#7b4173",
    Event.DISSOLVED: "#8c564b", Event.EMPTIED: "#c49c94",
    Event.DECOMMISSIONING: "#1f77b4",
    Event.GROUP_CREATED: "#17becf", Event.PRACTICE_CLOSED: "#7f7f7f",
    Event.CO_COMMISSIONING: "#bcbd22",
}
TOP_K_LINKS = 2  # strongest trust links drawn per practice, within its group
MAX_LABELLED_GROUPS = 25
SVG_MAX_PRACTICES = 1500  # above this the map is sent as PNG (an SVG would be megabytes)


def locked(model: VizModel, draw):
    """``draw(model)`` while no step is under way (Play steps in another thread)."""
    with model.lock:
        return draw(model)


def group_colours(model: VizModel) -> dict[str, str]:
    """A stable colour per group code (creation order)."""
    return {code: PALETTE[i % len(PALETTE)] for i, code in enumerate(model.groups)}


def month_label(month: int) -> str:
    """'Y2 Oct' for month 18 (month 0 is April of year 1)."""
    return f"Y{month // 12 + 1} {MONTHS[month % 12]}"


# ---- practice network ---------------------------------------------------------------------
def trust_links(model: VizModel, k: int = TOP_K_LINKS) -> tuple[np.ndarray, np.ndarray]:
    """Each open practice's ``k`` most trusted fellow members: (pairs [m, 2], mutual trust [m]).

    Mutual trust is the mean of trust both ways. Work is per group (members x members), so it
    stays cheap for thousands of practices in hundreds of groups.
    """
    trust = model.behaviours["trust"].network.trust
    pairs: dict[tuple[int, int], float] = {}
    for group in model.active_groups:
        idx = np.array([p.index for p in group.members if p.open], dtype=np.int64)
        if len(idx) < 2:
            continue
        block = trust[np.ix_(idx, idx)].astype(np.float64)
        mutual = (block + block.T) / 2.0
        np.fill_diagonal(mutual, -np.inf)
        kk = min(k, len(idx) - 1)
        best = np.argpartition(-mutual, kk - 1, axis=1)[:, :kk]
        for row, cols in enumerate(best):
            for col in cols:
                a, b = int(idx[row]), int(idx[col])
                pairs[(min(a, b), max(a, b))] = float(mutual[row, col])
    if not pairs:
        return np.zeros((0, 2), dtype=np.int64), np.zeros(0)
    return np.array(list(pairs), dtype=np.int64), np.array(list(pairs.values()))


def network_figure(model: VizModel) -> Figure:
    """Practices at their precomputed positions, coloured by group, area ~ list size."""
    practices = model.practices
    n = len(practices)
    pos = np.array([p.position for p in practices], dtype=float)
    colours = group_colours(model)
    is_open = np.array([p.open for p in practices])
    sizes = np.array([p.list_size for p in practices], dtype=float)

    fig = Figure(figsize=(7.2, 5.6))
    ax = fig.add_axes((0.01, 0.01, 0.98, 0.92))
    ax.set_axis_off()
    ax.set_aspect("equal", adjustable="datalim")

    pairs, strength = trust_links(model)
    if len(pairs):
        segments = np.stack([pos[pairs[:, 0]], pos[pairs[:, 1]]], axis=1)
        shade = np.clip(strength, 0.0, 1.0)
        ax.add_collection(LineCollection(
            segments, colors=[(0.25, 0.25, 0.25, 0.15 + 0.6 * s) for s in shade],
            linewidths=0.3 + 1.8 * shade, zorder=1,
        ))

    mean_size = max(float(sizes[is_open].mean()) if is_open.any() else 1.0, 1.0)
    scale = min(90.0, max(2.0, 3000.0 / max(n, 1)))
    ax.scatter(
        pos[is_open, 0], pos[is_open, 1],
        s=scale * sizes[is_open] / mean_size,
        c=[colours[p.group.code] for p in practices if p.open],
        edgecolors="white", linewidths=0.6 if n < 500 else 0.0, zorder=2,
    )
    if (~is_open).any():
        ax.scatter(pos[~is_open, 0], pos[~is_open, 1], marker="x", s=20, c="#999999", zorder=2,
                   label="closed practice")
        ax.legend(loc="lower right", fontsize=8, frameon=False)

    active = model.active_groups
    if len(active) <= MAX_LABELLED_GROUPS:
        for group in active:
            members = [p for p in group.members if p.open]
            if not members:
                continue
            w = np.array([p.list_size for p in members], dtype=float) + 1.0
            xy = np.average(np.array([p.position for p in members]), axis=0, weights=w)
            ax.annotate(group.code, xy, ha="center", va="center", fontsize=9, weight="bold",
                        color=colours[group.code], zorder=3,
                        bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": colours[group.code],
                              "alpha": 0.85})
    ax.autoscale_view()
    fig.suptitle(
        f"{sum(is_open)} practices in {len(active)} groups "
        f"(colour: group; area: list size; lines: strongest trust links within a group)",
        fontsize=9, x=0.01, ha="left", y=0.985,
    )
    return fig


def network_image(model: VizModel) -> tuple[bytes, str]:
    """The map as (bytes, image format): SVG for a region, PNG for thousands of practices."""
    fig = network_figure(model)
    if len(model.practices) <= SVG_MAX_PRACTICES:
        return figure_svg(fig), "svg+xml"
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue(), "png"


def network_version(model: VizModel) -> tuple[int, int]:
    """Changes when the picture can change visibly: any event, or a new financial year.

    Membership, closures and trust change only with events or at year ends; list sizes drift
    by a fraction of a percent a month, so the map is redrawn at least once a year.
    """
    return model.datacollector.n_rows("events"), model.month // 12


@solara.component
def NetworkView(model: VizModel):
    update_counter.get()
    value, fmt = solara.use_memo(lambda: locked(model, network_image), [model, network_version(model)])
    with solara.Card("Practices and trust links", margin=0, style={"height": "100%"}):
        rw.Image(value=value, format=fmt, layout={"width": "100%"})


# ---- time series --------------------------------------------------------------------------
PANEL_W, PANEL_H = 400, 215  # one chart panel, in SVG px
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 46, 10, 24, 30


def _ticks(lo: float, hi: float, n: int = 5, integer: bool = False) -> np.ndarray:
    return MaxNLocator(nbins=n, integer=integer).tick_values(lo, hi)


def _fmt(value: float) -> str:
    text = f"{value:,.6g}"
    return text.replace("-", "−")


def panel_svg(x0: float, y0: float, title: str, lines: list[dict], x_max: float,
              y_range: tuple[float, float] | None = None, integer: bool = False,
              zero_line: bool = False, placeholder: str | None = None) -> str:
    """One line-chart panel at (x0, y0) as SVG elements.

    ``lines``: dicts with x, y (sequences), colour, optional label and step (draw as steps).
    """
    w = PANEL_W - MARGIN_L - MARGIN_R
    h = PANEL_H - MARGIN_T - MARGIN_B
    left, top = x0 + MARGIN_L, y0 + MARGIN_T
    ys = [v for line in lines for v in line["y"] if v == v]  # drop NaN
    if y_range is not None:
        lo, hi = y_range
    elif ys:
        lo, hi = min(ys), max(ys)
        if zero_line:
            lo, hi = min(lo, 0.0), max(hi, 0.0)
        pad = 0.05 * (hi - lo) if hi > lo else max(abs(hi) * 0.05, 1.0)
        lo, hi = lo - pad, hi + pad
    else:
        lo, hi = 0.0, 1.0
    yticks = [t for t in _ticks(lo, hi, integer=integer) if lo <= t <= hi]

    def px(x: float) -> float:
        return left + w * x / x_max

    def py(y: float) -> float:
        return top + h * (1.0 - (y - lo) / (hi - lo))

    out = [f'<text x="{x0 + 4}" y="{y0 + 15}" class="t">{html.escape(title)}</text>',
           f'<rect x="{left}" y="{top}" width="{w}" height="{h}" class="frame"/>']
    step = 1 if x_max <= 6 else 2
    for year in range(0, int(x_max) + 1, step):
        x = px(year)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + h}" class="g"/>'
                   f'<text x="{x:.1f}" y="{top + h + 13}" class="tk" text-anchor="middle">{year}</text>')
    out.append(f'<text x="{left + w / 2:.1f}" y="{top + h + 26}" class="tk" '
               f'text-anchor="middle">year</text>')
    for t in yticks:
        y = py(t)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + w}" y2="{y:.1f}" class="g"/>'
                   f'<text x="{left - 4}" y="{y + 4:.1f}" class="tk" text-anchor="end">'
                   f"{_fmt(float(t))}</text>")
    if zero_line and lo < 0 < hi:
        out.append(f'<line x1="{left}" y1="{py(0):.1f}" x2="{left + w}" y2="{py(0):.1f}" '
                   'stroke="#000" stroke-width="0.8"/>')
    for line in lines:
        xs, vs = list(line["x"]), list(line["y"])
        if not xs:
            continue
        points = []
        for i, (x, v) in enumerate(zip(xs, vs, strict=False)):
            if v != v:
                continue
            if line.get("step") and i > 0 and vs[i - 1] == vs[i - 1]:
                points.append(f"{px(x):.1f},{py(vs[i - 1]):.1f}")
            points.append(f"{px(x):.1f},{py(v):.1f}")
        if len(points) == 1:  # a single month: a dot
            cx, cy = points[0].split(",")
            out.append(f'<circle cx="{cx}" cy="{cy}" r="2" fill="{line["colour"]}"/>')
        else:
            out.append(f'<polyline points="{" ".join(points)}" fill="none" '
                       f'stroke="{line["colour"]}" stroke-width="1.4"/>')
    labelled = [line for line in lines if line.get("label")]
    if labelled and len(labelled) <= 10:
        cols = 1 + (len(labelled) - 1) // 5
        rows = min(len(labelled), 5)
        out.append(f'<rect x="{left + 2}" y="{top + 2}" width="{cols * 110 + 4}" '
                   f'height="{rows * 12 + 4}" fill="white" fill-opacity="0.8"/>')
        for i, line in enumerate(labelled):
            lx, ly = left + 6 + (i // 5) * 110, top + 12 + (i % 5) * 12
            out.append(f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 14}" y2="{ly - 4}" '
                       f'stroke="{line["colour"]}" stroke-width="2"/>'
                       f'<text x="{lx + 18}" y="{ly}" class="lg">{html.escape(line["label"])}</text>')
    if placeholder:
        out.append(f'<text x="{left + w / 2}" y="{top + h / 2}" class="ph" text-anchor="middle">'
                   f"{html.escape(placeholder)}</text>")
    return "".join(out)


def charts_svg(model: VizModel) -> str:
    """Six panels over time: balances, budgets, activity, inequality gap, groups, trust.

    Drawn as plain SVG (a few milliseconds a month, where a six-axes matplotlib figure takes
    hundreds); groups come and go, each keeps its colour.
    """
    s = model.series
    colours = group_colours(model)
    years = [m / 12.0 for m in s.months]
    horizon = model.horizon / 12.0
    empty = "press Step or ▶" if not years else None

    def per_group(table, step=False):
        return [{"x": [m / 12.0 for m in xs], "y": [v / 1e6 for v in vs],
                 "colour": colours[code], "step": step} for code, (xs, vs) in table.items()]

    budgets = per_group(s.allocation, step=True)
    for line, code in zip(budgets, s.allocation, strict=True):
        line["label"] = code
    panels = [
        ("Group balances (£m)", per_group(s.balance), {"zero_line": True}),
        ("Group budgets: programme allocation (£m a year)", budgets, {}),
        ("Activity per 1,000 patients a year", [
            {"x": years, "y": s.emergency_rate, "colour": "#d62728",
             "label": "emergency admissions"},
            {"x": years, "y": s.referral_rate, "colour": "#1f77b4", "label": "referrals"},
        ], {}),
        ("Inequality gap: allocation per need, max/min − 1 (%)", [
            {"x": years, "y": [100.0 * g for g in s.inequality_gap], "colour": "#9467bd"},
        ], {}),
        ("Commissioning groups", [
            {"x": years, "y": s.n_groups, "colour": "#222222", "step": True},
        ], {"integer": True}),
        ("Mean trust within groups", [
            {"x": years, "y": s.within_trust, "colour": "#2ca02c"},
        ], {"y_range": (0.0, 1.0)}),
    ]
    body = []
    for i, (title, lines, options) in enumerate(panels):
        x0, y0 = (i % 3) * PANEL_W, (i // 3) * PANEL_H
        body.append(panel_svg(x0, y0, title, lines, horizon, placeholder=empty, **options))
    width, height = 3 * PANEL_W, 2 * PANEL_H
    style = (
        "<style>text{font-family:Roboto,'DejaVu Sans',Arial,sans-serif;fill:#222}"
        ".t{font-size:12px}.tk{font-size:10px;fill:#444}.lg{font-size:10px}"
        ".ph{font-size:12px;fill:#999}.frame{fill:none;stroke:#888;stroke-width:0.8}"
        ".g{stroke:#e4e4e4;stroke-width:0.7}</style>"
    )
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}">{style}'
            f'<rect width="{width}" height="{height}" fill="white"/>{"".join(body)}</svg>')


def figure_svg(fig: Figure) -> bytes:
    """SVG with text kept as text: cheaper than PNG to make, sharp at any size."""
    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "ccgabm"}):
        fig.savefig(buf, format="svg")
    return buf.getvalue()


def charts_image(model: VizModel) -> bytes:
    """The time-series panels of ``model`` now (SVG bytes)."""
    return charts_svg(model).encode()


@solara.component
def TimeSeries(model: VizModel):
    update_counter.get()
    svg = solara.use_memo(lambda: locked(model, charts_image), [model, model.month])
    with solara.Card("Over time", margin=0):
        rw.Image(value=svg, format="svg+xml", layout={"width": "100%"})


# ---- tables ---------------------------------------------------------------------------------
def _money(value: float) -> str:
    return f"£{value / 1e6:,.1f}m"


def summary_html(model: VizModel) -> str:
    rows = model.datacollector.n_rows("monthly")
    patients = sum(p.list_size for p in model.practices if p.open)
    last = f"just finished {month_label(model.month - 1)}" if rows else "not started"
    text = (
        f"<b>Month {model.month} of {model.horizon}</b> ({last}) · "
        f"{len(model.active_groups)} groups · {sum(p.open for p in model.practices)} practices · "
        f"{patients:,} patients · seed {model.seed} · "
        f"budget pressure {model.cfg.finance.budget_pressure:g} · "
        f"initial trust {model.cfg.behaviour.initial_trust:g}"
    )
    if model.cfg.world.kind == "region":
        text += f" · deprivation gap {model.cfg.region.deprivation_gap:g}"
    if not model.running:
        text += " · <b>horizon reached</b>"
    return f'<div class="ccgabm-summary" style="font-size:15px;padding:4px 2px">{text}</div>'


@solara.component
def Summary(model: VizModel):
    update_counter.get()
    solara.HTML(tag="div", unsafe_innerHTML=locked(model, summary_html))


def groups_html(model: VizModel) -> str:
    colours = group_colours(model)
    per_need = model.board.allocation_per_need
    allocations = model.board.allocations
    known = [per_need[g.code] for g in model.active_groups if g.code in per_need]
    mean_per_need = float(np.mean(known)) if known else float("nan")
    head = ("<tr><th></th><th>group</th><th>practices</th><th>patients</th><th>balance</th>"
            '<th>budget</th><th title="allocation per unit of need, mean of groups = 100">'
            "per need</th></tr>")
    body = []
    for group in sorted(model.active_groups, key=lambda g: g.code):
        swatch = (f'<span style="display:inline-block;width:12px;height:12px;border-radius:6px;'
                  f'background:{colours[group.code]}"></span>')
        alloc = allocations.get(group.code)
        need = per_need.get(group.code)
        colour = "#c62828" if group.balance < 0 else "inherit"
        body.append(
            f"<tr><td>{swatch}</td><td>{html.escape(group.code)}</td>"
            f"<td>{sum(p.open for p in group.members)}</td><td>{group.population:,}</td>"
            f'<td style="color:{colour}">{_money(group.balance)}</td>'
            f"<td>{'–' if alloc is None else _money(alloc)}</td>"
            f"<td>{'–' if need is None or math.isnan(need) else f'{100 * need / mean_per_need:.1f}'}</td>"
            "</tr>"
        )
    gap = model.inequality_gap()
    return (
        '<div style="max-height:230px;overflow-y:auto">'
        '<table class="ccgabm-groups" style="width:100%;font-size:13px;border-collapse:collapse;'
        'text-align:right">'
        f"{head}{''.join(body)}</table></div>"
        f'<div style="font-size:13px;margin-top:4px">Inequality gap (allocation per need, '
        f"max/min − 1): <b>{100 * gap:.1f}%</b></div>"
    )


@solara.component
def GroupTable(model: VizModel):
    update_counter.get()
    with solara.Card("Groups", margin=0):
        solara.HTML(tag="div", unsafe_innerHTML=locked(model, groups_html))


def events_html(model: VizModel, n: int = 40) -> str:
    counts = model.event_counts()
    shown = (Event.FRACTURE, Event.DEFECTION, Event.RETURN, Event.VOLUNTARY_MERGER,
             Event.FORCED_MERGER, Event.CONSOLIDATION_MERGER, Event.DISSOLVED, Event.DECOMMISSIONING)
    tally = " · ".join(f"{kind} {counts[kind]}" for kind in shown)
    rows = []
    for e in model.log_events(n):
        colour = KIND_COLOURS.get(e["kind"], "#555555")
        value = e["value"]
        extra = e["detail"] or ("" if value != value else f"{value:,.0f}")  # NaN check
        rows.append(
            f"<tr><td>{month_label(e['month'])}</td>"
            f'<td style="color:{colour};font-weight:600">{html.escape(e["kind"])}</td>'
            f"<td>{html.escape(e['group'])}</td><td>{html.escape(e['practice'])}</td>"
            f"<td>{html.escape(str(extra))}</td></tr>"
        )
    if not rows:
        rows.append('<tr><td colspan="5" style="color:#888">no organisational events yet</td></tr>')
    return (
        f'<div class="ccgabm-event-counts" style="font-size:13px;margin-bottom:4px">'
        f"Events so far: {tally}</div>"
        '<div style="max-height:300px;overflow-y:auto">'
        '<table class="ccgabm-events" style="width:100%;font-size:12px;border-collapse:collapse">'
        "<tr><th align=left>when</th><th align=left>event</th><th align=left>group</th>"
        "<th align=left>practice</th><th align=left>detail</th></tr>"
        f"{''.join(rows)}</table></div>"
    )


@solara.component
def EventLog(model: VizModel):
    update_counter.get()
    with solara.Card("Event log (newest first)", margin=0):
        solara.HTML(tag="div", unsafe_innerHTML=locked(model, events_html))
