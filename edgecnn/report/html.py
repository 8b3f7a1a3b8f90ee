"""report.html: one self-contained page (inline CSS, plots as base64 PNG) rendered from report.json."""

from __future__ import annotations

import base64
import html
import io
import json
from typing import Any

from edgecnn.profiling.plots import latency_plot_data_uri
from edgecnn.report.markdown import (
    TECHNIQUE_COLUMNS,
    quantize_search,
    search_summary,
    summary_rows,
    technique_rows,
)

_CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1000px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:left}
th{background:#f3f3f3}.bad{color:#b00;font-weight:bold}.good{color:#070}img{max-width:100%}
code{background:#f6f6f6;padding:1px 4px}details{margin:1em 0}"""


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def latency_plot(report: dict[str, Any]) -> str | None:
    """Latency distribution, baseline vs optimized (per-iteration times)."""
    b, o = report.get("baseline") or {}, report.get("optimized") or {}
    if not b.get("times_ms") or not o.get("times_ms"):
        return None

    uri = latency_plot_data_uri(
        {"float baseline": b["times_ms"], "optimized": o["times_ms"]},
        title=f"Latency per inference on {o.get('backend') or report['target']}",
    )
    return f'<img alt="latency distribution" src="{uri}">'


def sensitivity_plot(report: dict[str, Any]) -> str | None:
    """Per-layer quantization sensitivity, most sensitive first (from the quantize step's report)."""
    ranking = None
    for step in report.get("steps", []):
        ranking = (step.get("report") or {}).get("sensitivity") or ranking
    if not ranking:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = ranking[:25]
    names = [r.get("layer") or r.get("name") for r in rows]
    values = [r.get("sqnr_db", r.get("score", 0.0)) for r in rows]
    fig, ax = plt.subplots(figsize=(8, 0.3 * len(rows) + 1.2))
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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
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
    e = html.escape
    model = report["model"]
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>edgecnn report: {e(str(model.get('name')))}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{e(str(model.get('name')))} &rarr; {e(report['target'])}</h1>",
        f"<p>edgecnn {e(report['edgecnn_version'])}, {e(report['created'])}; "
        f"weights: <b>{e(str(model.get('weights')))}</b></p>",
    ]
    if model.get("weights") == "random":
        parts.append("<p class='bad'>Random weights: accuracy and agreement figures are not meaningful.</p>")
    parts.append("<table><tr><th>metric</th><th>float baseline</th><th>optimized</th></tr>")
    parts += [f"<tr><td>{e(m)}</td><td>{e(b)}</td><td>{e(o)}</td></tr>" for m, b, o in summary_rows(report)]
    parts.append("</table>")
    speedup = report.get("speedup")
    if speedup is not None and speedup < 1:
        parts.append(f"<p class='bad'>The optimized model is SLOWER than its float baseline ({speedup:.2f}x).</p>")
    for title, plot in (
        ("Latency", latency_plot(report)),
        ("Quantization sensitivity", sensitivity_plot(report)),
        ("Variants", variants_plot(report)),
    ):
        if plot:
            parts.append(f"<h2>{e(title)}</h2>{plot}")
    search = quantize_search(report)
    if search is not None:
        parts.append(f"<h2>Quantization techniques</h2><p>{e(search_summary(search))}</p>")
        if search.get("candidates"):
            parts.append("<table><tr>" + "".join(f"<th>{e(c)}</th>" for c in TECHNIQUE_COLUMNS) + "</tr>")
            for row in technique_rows(search):
                cls = " class='good'" if row[5] else ""
                cells = "".join(f"<td>{e(c.replace('**', ''))}</td>" for c in row)
                parts.append(f"<tr{cls}>{cells}</tr>")
            parts.append("</table>")
        plot = agreement_plot(report)
        if plot:
            parts.append(plot)
    if report.get("gates"):
        parts.append("<h2>Gates</h2><table><tr><th>gate</th><th>threshold</th><th>value</th><th>passed</th></tr>")
        for g in report["gates"]:
            cls = {True: "good", False: "bad", None: ""}[g.get("passed")]
            word = {True: "yes", False: "NO", None: "skipped"}[g.get("passed")]
            parts.append(
                f"<tr><td>{e(g['name'])}</td><td>{e(str(g['threshold']))}</td><td>{e(str(g.get('value')))}</td>"
                f"<td class='{cls}'>{word} {e(g.get('reason') or '')}</td></tr>"
            )
        parts.append("</table>")
    for title, key in (("Not done", "not_done"), ("Notes", "notes")):
        if report.get(key):
            parts.append(f"<h2>{title}</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in report[key]) + "</ul>")
    if report.get("artifacts"):
        parts.append(
            "<h2>Artifacts</h2><table><tr><th>role</th><th>format</th><th>precision</th><th>bytes</th><th>sha256</th><th>path</th></tr>"
        )
        for a in report["artifacts"]:
            parts.append(
                f"<tr><td>{e(a['role'])}</td><td>{e(a['format'])}</td><td>{e(str(a.get('precision')))}</td>"
                f"<td>{a.get('bytes')}</td><td><code>{e(str(a.get('sha256'))[:16])}</code></td><td><code>{e(a['path'])}</code></td></tr>"
            )
        parts.append("</table>")
    parts.append(
        "<details><summary>report.json</summary><pre>"
        + e(
            json.dumps({k: v for k, v in report.items() if k not in ("baseline", "optimized")}, indent=1, default=str)[
                :20000
            ]
        )
        + "</pre></details></body></html>"
    )
    return "\n".join(parts)
