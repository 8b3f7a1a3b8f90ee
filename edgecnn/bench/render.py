"""CI renderings of a comparison (Markdown for a job summary, JUnit XML with one test case per benchmark case)
and of a single run (Markdown). All are made from the same dicts the JSON outputs hold.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from edgecnn.bench.compare import Comparison

_ICON = {
    "pass": "✅",
    "regression": "❌",
    "missing": "❌",
    "accuracy": "❌",
    "size": "❌",
    "fail": "❌",
    "inconclusive": "⚠️",
    "new": "🆕",
}


def _md_cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;").replace("\n", " ")


def comparison_markdown(cmp: Comparison) -> str:
    status = "passed" if cmp.passed else "FAILED"
    counts = ", ".join(f"{n} {v}" for v, n in sorted(cmp.counts().items()))
    lines = [
        f"## edgecnn bench: {cmp.suite} {status}",
        "",
        f"Metric **{cmp.metric}**, allowed slowdown **{cmp.max_regression:.0%}**, "
        f"{cmp.confidence:.0%} bootstrap interval "
        f"over rounds. Cases: {counts}.",
        "",
    ]
    if cmp.machine:
        m = cmp.machine
        lines += [
            f"Reference workload (the machine's own speed): current/baseline **{m.ratio:.3f}** "
            f"(interval {m.low:.3f}–{m.high:.3f}).",
            "",
        ]
    lines += [
        "| case | baseline ms | current ms | ratio | interval | verdict | notes |",
        "|---|---:|---:|---:|---|---|---|",
    ]
    for c in cmp.cases:
        e = c.estimate
        nums = (
            [f"{e.baseline_value:.4f}", f"{e.current_value:.4f}", f"{e.ratio:.3f}", f"{e.low:.3f}–{e.high:.3f}"]
            if e
            else ["", "", "", ""]
        )
        notes = list(c.notes)
        if c.artifact_changed is False:
            notes.append("same model file")
        lines.append(
            f"| `{_md_cell(c.id)}` | "
            + " | ".join(nums)
            + f" | {_ICON.get(c.verdict, '')} {c.verdict}: {_md_cell(c.reason)} | "
            f"{_md_cell('; '.join(notes))} |"
        )
    suggestions = [f"- `{_md_cell(c.id)}`: {c.suggestion}" for c in cmp.cases if c.suggestion]
    if suggestions:
        lines += ["", "**Inconclusive:** the data cannot decide yet.", *suggestions]
    if cmp.gates:
        lines += ["", "### Gates (current run)", "", "| gate | case | value | verdict |", "|---|---|---:|---|"]
        for g in cmp.gates:
            value = "" if g["value"] is None else f"{g['value']:.3f}"
            lines.append(
                f"| {_md_cell(g['name'])} | `{_md_cell(g['case'])}` | {value} | "
                f"{_ICON.get(g['verdict'], '')} {g['verdict']}: {_md_cell(g['reason'])} |"
            )
    if cmp.environment:
        lines += [
            "",
            "### Environment differences"
            + (" (comparison allowed with --allow-env-mismatch)" if cmp.allow_env_mismatch else ""),
            "",
        ]
        lines += [
            f"- {'**' if d.critical else ''}{d.field}{'**' if d.critical else ''}: `{d.baseline}` → `{d.current}`"
            for d in cmp.environment
        ]
    if cmp.failures:
        lines += ["", "### Failures", "", *[f"- {_md_cell(f)}" for f in cmp.failures]]
    return "\n".join(lines) + "\n"


def comparison_junit(cmp: Comparison) -> str:
    """JUnit XML: a test suite of latency cases (one test case each) and one of the current run's gates."""
    root = ET.Element("testsuites", name=f"edgecnn bench {cmp.suite}")
    cases = ET.SubElement(root, "testsuite", name=f"{cmp.suite} latency", tests=str(len(cmp.cases)))
    failures = skipped = 0
    for c in cmp.cases:
        tc = ET.SubElement(cases, "testcase", classname=f"edgecnn.bench.{cmp.suite}", name=c.id, time="0")
        message = f"{c.verdict}: {c.reason}"
        if c.failed or (cmp.strict and c.verdict == "inconclusive"):
            failures += 1
            ET.SubElement(tc, "failure", message=message, type=c.verdict).text = "\n".join([message, *c.notes])
        elif c.verdict in ("inconclusive", "new"):
            skipped += 1
            ET.SubElement(tc, "skipped", message=message + (f" ({c.suggestion})" if c.suggestion else ""))
        else:
            ET.SubElement(tc, "system-out").text = "\n".join([message, *c.notes])
    cases.set("failures", str(failures))
    cases.set("skipped", str(skipped))
    cases.set("errors", "0")
    gates = ET.SubElement(root, "testsuite", name=f"{cmp.suite} gates", tests=str(len(cmp.gates)))
    g_fail = g_skip = 0
    for g in cmp.gates:
        tc = ET.SubElement(
            gates, "testcase", classname=f"edgecnn.bench.{cmp.suite}.gates", name=f"{g['name']} [{g['case']}]", time="0"
        )
        if g["verdict"] == "fail" or (cmp.strict and g["verdict"] == "inconclusive"):
            g_fail += 1
            ET.SubElement(tc, "failure", message=g["reason"], type=g["type"])
        elif g["verdict"] == "inconclusive":
            g_skip += 1
            ET.SubElement(tc, "skipped", message=g["reason"])
    gates.set("failures", str(g_fail))
    gates.set("skipped", str(g_skip))
    gates.set("errors", "0")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def not_compared(suite: str, reason: str) -> tuple[str, str, dict[str, Any]]:
    """(Markdown, JUnit XML, JSON) for a comparison that could not be made (e.g. another environment): CI still
    gets its reports, and they say why."""
    md = f"## edgecnn bench: {suite} NOT compared\n\n{_md_cell(reason)}\n"
    root = ET.Element("testsuites", name=f"edgecnn bench {suite}")
    cases = ET.SubElement(root, "testsuite", name=f"{suite} latency", tests="1", failures="0", errors="1", skipped="0")
    tc = ET.SubElement(cases, "testcase", classname=f"edgecnn.bench.{suite}", name="compare", time="0")
    ET.SubElement(tc, "error", message=reason, type="not compared").text = reason
    ET.indent(root)
    xml = '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
    return (
        md,
        xml,
        {
            "suite": suite,
            "passed": False,
            "compared": False,
            "reason": reason,
        },
    )


def results_markdown(results: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """One run: a latency table per case and the gates."""
    metric = results["metric"]
    env = results["environment"]
    lines = [
        f"## edgecnn bench run: {results['suite']['name']}",
        "",
        f"{env.get('cpu')}, {env.get('cores')} cores; {results['protocol']['rounds']} interleaved rounds; "
        f"created {results['created']}",
        "",
        f"| case | {metric} ms | p50 ms | p90 ms | iterations | top-1 | MB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        top1 = "" if r["top1"] is None else f"{r['top1']:.2f}%"
        lines.append(
            f"| `{_md_cell(r['id'])}` | {r['metric']:.4f} | {r['p50']:.4f} | {r['p90']:.4f} | "
            f"{r['iterations']} | {top1} | {r['mb']:.3f} |"
        )
    if results.get("gates"):
        lines += ["", "| gate | case | verdict |", "|---|---|---|"]
        lines += [
            f"| {_md_cell(g['name'])} | `{_md_cell(g['case'])}` | "
            f"{_ICON.get(g['verdict'], '')} {g['verdict']}: {_md_cell(g['reason'])} |"
            for g in results["gates"]
        ]
    return "\n".join(lines) + "\n"
