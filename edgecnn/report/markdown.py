"""report.md: the summary table (float baseline vs optimized) and the run's steps, gates and notes."""

from __future__ import annotations

from typing import Any


def _ms(stats: dict[str, Any] | None, key: str) -> str:
    if not stats or not stats.get("latency_ms"):
        return "n/a"
    return f"{stats['latency_ms'][key]:.3f}"


def _mb(n: int | None) -> str:
    return "n/a" if n is None else f"{n / 1e6:.2f} MB"


def _acc(side: dict[str, Any] | None) -> str:
    acc = (side or {}).get("accuracy")
    if not acc or acc.get("top1") is None:
        return "n/a" + (f" ({acc['reason']})" if acc and acc.get("reason") else "")
    return f"{acc['top1']:.2f}%"


def summary_rows(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(metric, baseline, optimized) rows shared by the Markdown, HTML and terminal renderings."""
    b, o = report.get("baseline") or {}, report.get("optimized") or {}
    fid = report.get("fidelity") or {}
    rows = [
        ("latency p50 (ms)", _ms(b, "p50"), _ms(o, "p50")),
        ("latency p90 (ms)", _ms(b, "p90"), _ms(o, "p90")),
        (
            "throughput (items/s)",
            f"{b['throughput']:.1f}" if b.get("throughput") else "n/a",
            f"{o['throughput']:.1f}" if o.get("throughput") else "n/a",
        ),
        (
            "speed-up",
            "1.00x" if report.get("speedup") else "n/a",
            f"{report['speedup']:.2f}x" if report.get("speedup") else "n/a",
        ),
        ("model size", _mb(b.get("size_bytes")), _mb(o.get("size_bytes"))),
        (
            "MACs",
            f"{b['macs'] / 1e9:.3f} G" if b.get("macs") else "n/a",
            f"{o['macs'] / 1e9:.3f} G" if o.get("macs") else "n/a",
        ),
        ("precision", str(b.get("precision") or "n/a"), str(o.get("precision") or "n/a")),
        ("accuracy (top-1)", _acc(b), _acc(o)),
    ]
    if fid.get("top1_agreement") is not None:
        note = "" if fid.get("meaningful", True) else f" ({fid.get('reason') or 'not meaningful'})"
        rows.append(("top-1 agreement vs float", "100%", f"{fid['top1_agreement']:.2%}{note}"))
    return rows


def delivered_line(report: dict[str, Any]) -> str | None:
    """Which model was delivered as "optimized" and why (the Markdown, HTML and terminal summaries say it)."""
    d = report.get("deliverable")
    if not d:
        return None
    name = d["artifact"].replace("\\", "/").rsplit("/", 1)[-1]
    return f"Delivered: {d['precision']} ({name}): {d['why']}"


def render_markdown(report: dict[str, Any]) -> str:
    model = report["model"]
    lines = [
        f"# edgecnn report: {model.get('name')} -> {report['target']}",
        "",
        f"edgecnn {report['edgecnn_version']}, {report['created']}; weights: {model.get('weights')}",
        "",
    ]
    lines += ["| metric | float baseline | optimized |", "|---|---|---|"]
    lines += [f"| {m} | {b} | {o} |" for m, b, o in summary_rows(report)]
    delivered = delivered_line(report)
    if delivered:
        lines += ["", f"**{delivered}**"]
    backend = (report.get("optimized") or {}).get("backend") or (report.get("baseline") or {}).get("backend")
    if backend:
        lines += ["", f"Both measured side by side (interleaved) on **{backend}**, same process, same inputs."]
    if report.get("steps"):
        lines += ["", "## Steps", "", "| step | seconds | summary |", "|---|---|---|"]
        for s in report["steps"]:
            lines.append(f"| {s['type']} | {s.get('seconds') or 0:.2f} | {_step_summary(s.get('report') or {})} |")
    search = quantize_search(report)
    if search is not None:
        lines += ["", "## Quantization techniques", "", search_summary(search), ""]
        if search.get("candidates"):
            lines += ["| " + " | ".join(TECHNIQUE_COLUMNS) + " |", "|" + "---|" * len(TECHNIQUE_COLUMNS)]
            lines += ["| " + " | ".join(row) + " |" for row in technique_rows(search)]
    if report.get("gates"):
        lines += ["", "## Gates", "", "| gate | threshold | value | passed |", "|---|---|---|---|"]
        for g in report["gates"]:
            value = "n/a" if g.get("value") is None else f"{g['value']:.4g}"
            passed = {True: "yes", False: "**NO**", None: "skipped"}[g.get("passed")]
            reason = f" — {g['reason']}" if g.get("reason") else ""
            lines.append(f"| {g['name']} | {g['threshold']} | {value} | {passed}{reason} |")
    if report.get("artifacts"):
        lines += ["", "## Artifacts", "", "| role | format | precision | size | path |", "|---|---|---|---|---|"]
        for a in report["artifacts"]:
            lines.append(
                f"| {a['role']} | {a['format']} | {a.get('precision')} | {_mb(a.get('bytes'))} | `{a['path']}` |"
            )
    for title, key in (("Not done", "not_done"), ("Notes", "notes")):
        if report.get(key):
            lines += ["", f"## {title}", ""] + [f"- {n}" for n in report[key]]
    env = report.get("environment") or {}
    lines += [
        "",
        "## Environment",
        "",
        f"{env.get('cpu')} ({env.get('arch')}), {env.get('cores')} cores, flags: "
        f"{', '.join(env.get('flags') or []) or 'none detected'}; threads: {env.get('threads')}; "
        + ", ".join(f"{k} {v}" for k, v in (env.get("versions") or {}).items() if v),
    ]
    return "\n".join(lines) + "\n"


TECHNIQUE_COLUMNS = (
    "candidate",
    "agreement",
    "SQNR (dB)",
    "accuracy (%)",
    "latency / fp32",
    "chosen",
    "note",
    "bought (dB SQNR)",
)


def quantize_search(report: dict[str, Any]) -> dict[str, Any] | None:
    """The quantize step's accuracy-first search record (`steps[].report.search`), if any."""
    for step in report.get("steps", []):
        rep = step.get("report") or {}
        if step.get("type") == "quantize" and isinstance(rep.get("search"), dict):
            return rep["search"]
    return None


def search_summary(search: dict[str, Any]) -> str:
    if search.get("skipped"):
        return f"Accuracy-first search skipped: {search['skipped']}."
    return (
        f"Each candidate measured on {search.get('held_out_samples')} held-out calibration samples "
        f"({search.get('split')}), calibrated on the other {search.get('calibration_samples')}; kept: the most "
        f"faithful one faster than fp32 (**{search.get('chosen')}**), {search.get('seconds')} s"
        + (f"; stopped early: {search['stopped_early']}" if search.get("stopped_early") else "")
        + "."
        + "".join(f" {r}." for r in search.get("reverted", []))
    )


def technique_rows(search: dict[str, Any]) -> list[tuple[str, ...]]:
    """One row per candidate: what each technique bought, on held-out samples."""

    def num(v: Any, fmt: str) -> str:
        return "" if v is None else format(v, fmt)

    rows = []
    for c in search.get("candidates", []):
        quick = " (quick)" if c.get("measured") == "quick" else ""
        rows.append(
            (
                c["name"],
                num(c.get("top1_agreement"), ".3f") + quick if c.get("top1_agreement") is not None else "",
                num(c.get("sqnr_db"), ".1f") + quick if c.get("sqnr_db") is not None else "",
                num(c.get("eval_top1"), ".2f"),
                num(c.get("latency_ratio"), ".2f"),
                "**yes**" if c.get("chosen") else "",
                str(c.get("note") or ""),
                "" if c.get("gain_db") is None else f"{c['gain_db']:+.1f} over {c.get('over')}",
            )
        )
    return rows


def _step_summary(rep: dict[str, Any]) -> str:
    keys = [
        k
        for k, v in rep.items()
        if isinstance(v, (int, float, str, bool)) and not isinstance(v, bool) or isinstance(v, bool)
    ]
    return ", ".join(f"{k}={_fmt(rep[k])}" for k in keys[:6])


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
