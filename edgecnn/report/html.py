"""report.html: one self-contained page (inline CSS, plots as base64 PNG) rendered from report.json.

The page is a jinja2 template (`templates/report.html.j2`, shipped as package data) with autoescaping on:
model names, notes and gate reasons are user input, so nothing from the report reaches the page unescaped.
Plots use matplotlib's object API (`Figure`), never pyplot or `matplotlib.use`, so a user's backend stays.
"""

from __future__ import annotations

import json
from typing import Any

import jinja2

from edgecnn.profiling.plots import figure_png, latency_plot_data_uri, png_data_uri
from edgecnn.report.markdown import (
    TECHNIQUE_COLUMNS,
    delivered_line,
    quantize_search,
    search_summary,
    summary_rows,
    technique_rows,
)

# the package's HTML templates (report/templates/), autoescaped; the sweep leaderboard renders with it too
TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("edgecnn.report", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _png(fig: Any) -> str:
    return png_data_uri(figure_png(fig, dpi=90, bbox_inches="tight"))


def latency_plot(report: dict[str, Any]) -> str | None:
    """Latency distribution, baseline vs optimized (per-iteration times), as a data URI."""
    b, o = report.get("baseline") or {}, report.get("optimized") or {}
    if not b.get("times_ms") or not o.get("times_ms"):
        return None
    return latency_plot_data_uri(
        {"float baseline": b["times_ms"], "optimized": o["times_ms"]},
        title=f"Latency per inference on {o.get('backend') or report['target']}",
    )


def sensitivity_plot(report: dict[str, Any]) -> str | None:
    """Per-layer quantization sensitivity, most sensitive first (from the quantize step's report)."""
    ranking = None
    for step in report.get("steps", []):
        ranking = (step.get("report") or {}).get("sensitivity") or ranking
    if not ranking:
        return None
    from matplotlib.figure import Figure

    rows = ranking[:25]
    names = [r.get("layer") or r.get("name") for r in rows]
    values = [r.get("sqnr_db", r.get("score", 0.0)) for r in rows]
    fig = Figure(figsize=(8, 0.3 * len(rows) + 1.2))
    ax = fig.subplots()
    ax.barh(range(len(rows))[::-1], values, color="#c44")
    ax.set_yticks(range(len(rows))[::-1], names, fontsize=7)
    ax.set_xlabel("SQNR with only this layer quantized (dB, lower = more sensitive)")
    ax.set_title("Per-layer int8 sensitivity")
    return _png(fig)


def variants_plot(report: dict[str, Any]) -> str | None:
    """Size vs latency of every variant tried, annotated with accuracy or agreement."""
    variants = [v for v in report.get("variants", []) if v.get("p50_ms") is not None]
    if len(variants) < 2:
        return None
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.2))
    ax = fig.subplots()
    for v in variants:
        ax.scatter(v["size_bytes"] / 1e6, v["p50_ms"], s=60)
        acc = v.get("accuracy")
        label = v["name"] + (f"\n{acc:.1f}%" if isinstance(acc, (int, float)) else "")
        ax.annotate(label, (v["size_bytes"] / 1e6, v["p50_ms"]), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.set_xlabel("model size (MB)")
    ax.set_ylabel("latency p50 (ms)")
    ax.set_title("Every variant tried: size, latency, accuracy")
    ax.grid(alpha=0.3)
    return _png(fig)


def agreement_plot(report: dict[str, Any]) -> str | None:
    """Top-1 agreement vs int8/fp32 latency of every quantization candidate the search timed."""
    points = [
        v
        for v in report.get("variants", [])
        if v.get("top1_agreement") is not None and v.get("latency_ratio") is not None
    ]
    if not points:
        return None
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.2))
    ax = fig.subplots()
    for v in points:
        color = "#070" if v.get("chosen") else "#47a"
        ax.scatter(v["latency_ratio"], v["top1_agreement"], s=70 if v.get("chosen") else 45, color=color)
        ax.annotate(v["name"], (v["latency_ratio"], v["top1_agreement"]), textcoords="offset points", xytext=(6, 4))
    ax.axvline(1.0, color="#b00", lw=1, ls="--")
    ax.set_xlabel("latency / fp32 (interleaved; < 1 is faster)")
    ax.set_ylabel("top-1 agreement with fp32 (held-out)")
    ax.set_title("Quantization candidates: agreement vs latency")
    ax.grid(alpha=0.3)
    return _png(fig)


def render_html(report: dict[str, Any]) -> str:
    model = report["model"]
    speedup = report.get("speedup")
    plots = [
        ("Latency", "latency distribution", latency_plot(report)),
        ("Quantization sensitivity", "plot", sensitivity_plot(report)),
        ("Variants", "plot", variants_plot(report)),
    ]
    return TEMPLATES.get_template("report.html.j2").render(
        model_name=str(model.get("name")),
        target=report["target"],
        version=report["edgecnn_version"],
        created=report["created"],
        weights=str(model.get("weights")),
        random_weights=model.get("weights") == "random",
        summary=summary_rows(report),
        slower=f"{speedup:.2f}x" if speedup is not None and speedup < 1 else None,
        delivered=delivered_line(report),
        plots=[p for p in plots if p[2]],
        search=_search(report),
        gates=[_gate(g) for g in report.get("gates") or []],
        lists=[("Not done", report.get("not_done")), ("Notes", report.get("notes"))],
        artifacts=[_artifact(a) for a in report.get("artifacts") or []],
        report_json=json.dumps(
            {k: v for k, v in report.items() if k not in ("baseline", "optimized")}, indent=1, default=str
        )[:20000],
    )


def _search(report: dict[str, Any]) -> dict[str, Any] | None:
    search = quantize_search(report)
    if search is None:
        return None
    rows = technique_rows(search) if search.get("candidates") else []
    return {
        "summary": search_summary(search),
        "columns": TECHNIQUE_COLUMNS,
        "rows": [(bool(row[5]), [c.replace("**", "") for c in row]) for row in rows],
        "plot": agreement_plot(report),
    }


def _gate(g: dict[str, Any]) -> dict[str, Any]:
    passed = g.get("passed")
    return {
        "name": g["name"],
        "threshold": str(g["threshold"]),
        "value": str(g.get("value")),
        "css": {True: "good", False: "bad", None: ""}[passed],
        "word": {True: "yes", False: "NO", None: "skipped"}[passed],
        "reason": g.get("reason") or "",
    }


def _artifact(a: dict[str, Any]) -> dict[str, Any]:
    return {
        "role": a["role"],
        "format": a["format"],
        "precision": str(a.get("precision")),
        "bytes": a.get("bytes"),
        "sha256": str(a.get("sha256"))[:16],
        "path": a["path"],
    }
