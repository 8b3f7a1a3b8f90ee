"""The sweep leaderboard's renderings: Markdown (for CI) and one self-contained HTML page (a sortable table and a
latency-vs-accuracy plot per target), both made from the leaderboard dict that report.json holds.

A row (`edgecnn.sweeps.results` makes them): id, model, recipe, target, device, status, reason, attempts,
precision, baseline_p50_ms, optimized_p50_ms, speedup, accuracy, agreement, size_ratio, gates_passed, timings.
"""

from __future__ import annotations

from typing import Any

from edgecnn.profiling.plots import figure_png, png_data_uri
from edgecnn.report.html import TEMPLATES

COLUMNS = (
    ("model", "model"),
    ("recipe", "recipe"),
    ("target", "target"),
    ("device", "device"),
    ("status", "status"),
    ("precision", "precision"),
    ("baseline_p50_ms", "float p50 (ms)"),
    ("optimized_p50_ms", "optimized p50 (ms)"),
    ("speedup", "speed-up"),
    ("accuracy", "top-1 (%)"),
    ("agreement", "top-1 agreement"),
    ("size_ratio", "size ratio"),
    ("gates_passed", "gates"),
    ("measured_on", "measured on"),
    ("attempts", "attempts"),
)


def cell_text(row: dict[str, Any], key: str) -> str:
    """A row's value as table text; a failed cell shows its reason in the status column."""
    value = row.get(key)
    if key == "status" and value != "ok":
        return f"FAILED: {row.get('reason') or 'unknown reason'}"
    if value is None:
        return "—" if row.get("status") != "ok" or key != "device" else ""
    if key == "speedup":
        return f"{value:.2f}x"
    if key == "agreement":
        return f"{value:.1%}"
    if key == "gates_passed":
        return "passed" if value else "FAILED"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def to_markdown(board: dict[str, Any]) -> str:
    rows = board["rows"]
    failed = [r for r in rows if r["status"] != "ok"]
    lines = [
        f"# Sweep {board['name']}: {len(rows) - len(failed)} of {len(rows)} cells finished",
        "",
        f"edgecnn {board['edgecnn_version']}, {board['created']}; every latency is a median measured with its "
        "host (or device) held by that cell alone.",
        "",
        "| " + " | ".join(title for _, title in COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for row in rows:
        lines.append("| " + " | ".join(cell_text(row, key).replace("|", "\\|") for key, _ in COLUMNS) + " |")
    if failed:
        lines += ["", f"**{len(failed)} cell(s) failed**: " + "; ".join(f"{r['id']}: {r['reason']}" for r in failed)]
    return "\n".join(lines) + "\n"


def target_plot(rows: list[dict[str, Any]], target: str) -> str | None:
    """Optimized latency vs accuracy (or top-1 agreement with float, without labelled data) of a target's cells."""
    done = [r for r in rows if r["target"] == target and r.get("optimized_p50_ms") is not None]
    if not done:
        return None
    from matplotlib.figure import Figure

    use_accuracy = all(r.get("accuracy") is not None for r in done)
    fig = Figure(figsize=(7, 4.2))
    ax = fig.subplots()
    for r in done:
        y = r["accuracy"] if use_accuracy else (r["agreement"] * 100 if r.get("agreement") is not None else None)
        if y is None:
            continue
        ax.scatter(r["optimized_p50_ms"], y, s=50)
        ax.annotate(
            f"{r['model']} / {r['recipe']}",
            (r["optimized_p50_ms"], y),
            fontsize=7,
            xytext=(4, 3),
            textcoords="offset points",
        )
    ax.set_xlabel("optimized latency p50 (ms)")
    ax.set_ylabel("top-1 accuracy (%)" if use_accuracy else "top-1 agreement with float (%)")
    ax.set_title(f"Latency vs accuracy on {target}")
    ax.grid(alpha=0.3)
    return png_data_uri(figure_png(fig, dpi=90, bbox_inches="tight"))


def to_html(board: dict[str, Any]) -> str:
    rows = board["rows"]
    targets = list(dict.fromkeys(r["target"] for r in rows))
    plots = [(t, uri) for t in targets if (uri := target_plot(rows, t))]
    table = [
        {
            "failed": r["status"] != "ok",
            "cells": [(cell_text(r, key), _sort_value(r.get(key))) for key, _ in COLUMNS],
        }
        for r in rows
    ]
    return TEMPLATES.get_template("leaderboard.html.j2").render(
        board=board,
        columns=[title for _, title in COLUMNS],
        table=table,
        plots=plots,
        failed=sum(r["status"] != "ok" for r in rows),
    )


def _sort_value(value: Any) -> Any:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else ""
