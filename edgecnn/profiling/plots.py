"""Latency distribution plots (baseline vs optimized) as PNG bytes or a base64 data URI for the HTML report.

Uses matplotlib's object API (`matplotlib.figure.Figure`): no pyplot global state and no `matplotlib.use`, so
a user's notebook backend is never switched, and no display is needed.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from edgecnn.errors import InvalidInputError
from edgecnn.profiling.stats import percentile

_COLORS = ("#7f7f7f", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd")


def _times(series: Any) -> np.ndarray:
    """LatencyStats, a `to_dict()` result, or a plain sequence of milliseconds."""
    if hasattr(series, "times_ms"):
        series = series.times_ms
    elif isinstance(series, Mapping):
        series = series.get("times_ms") or []
    a = np.asarray(series, dtype=np.float64)
    return a[np.isfinite(a)]


def latency_plot_png(series: Mapping[str, Any], *, title: str | None = None, dpi: int = 110) -> bytes:
    """Histogram and empirical CDF of per-iteration latency for each named series (e.g. baseline, optimized).

    The x range stops at the 99th percentile of all samples so a few scheduler hiccups do not squash the
    plot; the medians are marked and listed in the legend.
    """
    from matplotlib.figure import Figure

    data = {name: _times(s) for name, s in series.items()}
    data = {name: a for name, a in data.items() if a.size}
    if not data:
        raise InvalidInputError("nothing to plot: every latency series is empty")
    hi = percentile(np.concatenate(list(data.values())), 99) * 1.05
    lo = min(float(a.min()) for a in data.values()) * 0.95
    fig = Figure(figsize=(9, 3.4), dpi=dpi, layout="constrained")
    hist_ax, cdf_ax = fig.subplots(1, 2)
    bins = np.linspace(lo, hi, 60)
    for (name, a), color in zip(data.items(), _COLORS * 4):
        med = percentile(a, 50)
        label = f"{name}: p50 {med:.3g} ms (n={a.size})"
        hist_ax.hist(np.clip(a, lo, hi), bins=bins, alpha=0.55, color=color, label=label)
        hist_ax.axvline(med, color=color, linestyle="--", linewidth=1)
        s = np.sort(a)
        cdf_ax.step(s, np.arange(1, s.size + 1) / s.size, where="post", color=color, label=name)
    hist_ax.set_xlabel("latency per iteration (ms)")
    hist_ax.set_ylabel("iterations")
    hist_ax.legend(fontsize=8)
    cdf_ax.set_xlim(lo, hi)
    cdf_ax.set_xlabel("latency per iteration (ms)")
    cdf_ax.set_ylabel("fraction of iterations")
    cdf_ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    return figure_png(fig)


def figure_png(fig: Any, **savefig: Any) -> bytes:
    """PNG bytes of a `matplotlib.figure.Figure` (savefig renders it with Agg; no backend is selected)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", **savefig)
    return buf.getvalue()


def png_data_uri(png: bytes) -> str:
    """A "data:image/png;base64,..." URI for an <img src=...> in a self-contained HTML report."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def latency_plot_data_uri(series: Mapping[str, Any], *, title: str | None = None) -> str:
    """`latency_plot_png` as a data URI."""
    return png_data_uri(latency_plot_png(series, title=title))


def profile_plot_data_uri(profile: Mapping[str, Any], *, title: str | None = None) -> str | None:
    """Plot a profile result dict (`ProfileResult.to_dict()` or the report's baseline/optimized); None without times."""
    series: dict[str, Sequence[float]] = {}
    for role in ("baseline", "optimized"):
        side = profile.get(role) or {}
        if side.get("times_ms"):
            series[role] = side["times_ms"]
    return latency_plot_data_uri(series, title=title) if series else None
