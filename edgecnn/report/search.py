"""The `edgecnn search` report: search.json (the data), search.md (the Pareto front table) and pareto.png."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgecnn.fileio import atomic_write_text

_COLUMNS = ("rank", "trial", "point", "latency x fp32", "p50 ms", "accuracy drop", "size MB", "delivered", "yaml")


def describe(params: dict[str, Any]) -> str:
    """A trial's point in a few words: 'int8 minmax float2 +bc, prune 0.25/8, dw m1'."""
    parts = [params.get("precision", "?")]
    if parts[0] == "int8":
        parts[0] += f" {params.get('calibration', '')} float{params.get('float_layers', 0)}".rstrip()
        parts[0] += " +bc" if params.get("bias_correction") else ""
        parts[0] += f" qat{params['qat_steps']}" if params.get("qat_steps") else ""
    if params.get("prune"):
        parts.append(f"prune {params['prune']:g}/{params.get('round_to')}")
    if params.get("dw_separable"):
        parts.append(f"dw m{params.get('depth_multiplier')}")
    return ", ".join(parts)


def render_search_markdown(data: dict[str, Any]) -> str:
    budgets = data["budgets"]
    lines = [
        f"# Search: {data['model']} on {data['target']}" + (f" ({data['device']})" if data.get("device") else ""),
        "",
        f"Budgets: latency {budgets['max_latency'] or 'none'}, accuracy drop <= {budgets['max_drop']} points. "
        f"{sum(not t['cached'] for t in data['trials'])} trials built ({len(data['trials'])} proposals, repeats "
        f"read back), {len(data['front'])} on the Pareto front (within budget). "
        "Latency is each trial's p50 over the float baseline's, timed interleaved on the target.",
        "",
        "| " + " | ".join(_COLUMNS) + " |",
        "|" + "---|" * len(_COLUMNS),
    ]
    for row in data["front"]:
        mark = " **chosen**" if row.get("chosen") else ""
        ci = row.get("ratio_ci")
        ratio = f"{row['latency_ratio']:.3f}" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")
        lines.append(
            f"| {row['rank']}{mark} | {row['trial']} | {describe(row['params'])} | {ratio} | "
            f"{row['p50_ms']:.3f} | {row['accuracy_drop']:.2f} | {row['size_mb']:.3f} | {row['delivered']} | "
            f"{Path(row['yaml']).name} |"
        )
    ref = data.get("reference")
    if ref:
        lines += [
            "",
            f"Reference `optimize --int8`: {ref['latency_ratio']:.3f}x of fp32, p50 {ref['p50_ms']:.3f} ms, "
            f"accuracy drop {ref['accuracy_drop']:.2f}, {ref['size_mb']:.3f} MB.",
        ]
    lines += ["", *[f"- {note}" for note in data.get("notes", [])], ""]
    return "\n".join(lines)


def pareto_png(data: dict[str, Any]) -> bytes | None:
    """Latency ratio vs accuracy drop of every measured trial, the front joined, the budgets drawn."""
    import io

    from matplotlib.figure import Figure

    done = [r for r in data["trials"] if r.get("latency_ratio") is not None]
    if not done:
        return None
    fig = Figure(figsize=(6.4, 4.2), dpi=110, layout="constrained")
    ax = fig.subplots()
    ax.scatter([r["latency_ratio"] for r in done], [r["accuracy_drop"] for r in done], c="#7f7f7f", label="trials")
    front = sorted(data["front"], key=lambda r: r["latency_ratio"])
    if front:
        xs, ys = [r["latency_ratio"] for r in front], [r["accuracy_drop"] for r in front]
        ax.plot(xs, ys, "o-", color="#1f77b4", label="Pareto front (within budget)")
        ax.scatter(xs[:1], ys[:1], s=140, facecolors="none", edgecolors="#d62728", label="chosen")
    ref = data.get("reference")
    if ref:
        ax.scatter([ref["latency_ratio"]], [ref["accuracy_drop"]], marker="x", c="#ff7f0e", label="optimize --int8")
    ax.axhline(data["budgets"]["max_drop"], color="#d62728", linestyle=":", linewidth=1)
    latency = data["budgets"]["max_latency"]
    if latency and latency.endswith("x"):
        ax.axvline(float(latency[:-1]), color="#d62728", linestyle=":", linewidth=1)
    ax.set_xlabel("latency / float baseline (p50, interleaved)")
    ax.set_ylabel("accuracy drop (points)")
    ax.legend(fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def write_search_report(data: dict[str, Any], out: Path) -> dict[str, Path]:
    paths = {"json": out / "search.json", "md": out / "search.md"}
    atomic_write_text(paths["json"], json.dumps(data, indent=2, default=str))
    atomic_write_text(paths["md"], render_search_markdown(data))
    png = pareto_png(data)
    if png is not None:
        paths["png"] = out / "pareto.png"
        paths["png"].write_bytes(png)
    return paths
