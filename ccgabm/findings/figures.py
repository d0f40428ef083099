"""Small matplotlib helpers shared by the experiment scripts (Agg backend, PNG files)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ccgabm.findings.stats import Estimate  # noqa: E402

__all__ = ["effects_plot", "plt", "save"]


def effects_plot(
    estimates: dict[str, Estimate],
    path: Path,
    title: str,
    xlabel: str,
    bands: dict[str, tuple[float, float]] | None = None,
) -> Path:
    """Horizontal point-and-interval plot; optional shaded published range per row."""
    labels = list(estimates)
    fig, ax = plt.subplots(figsize=(7, 0.7 * len(labels) + 1.4))
    for i, label in enumerate(labels):
        e = estimates[label]
        if bands and label in bands:
            lo, hi = bands[label]
            ax.fill_betweenx([i - 0.3, i + 0.3], lo, hi, color="tab:orange", alpha=0.3,
                             label="published range" if i == 0 or "published range" not in
                             ax.get_legend_handles_labels()[1] else None)
        ax.errorbar([e.value], [i], xerr=[[e.value - e.low], [e.high - e.value]], fmt="o",
                    color="tab:blue", capsize=4)
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    if bands:
        ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return save(fig, path)


def save(fig, path: Path) -> Path:
    """Save and close a figure."""
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)
