"""`edgecnn bench run|compare|ab`: latency-regression benchmarks for CI (run a suite, compare with a baseline, A/B).

The three subcommands are plain functions here; `edgecnn.cli.main` registers them under the `bench` group.

Exit codes: 0 passed, 3 a regression or a gate failed, 2 bad input (including an environment mismatch).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from edgecnn.bench.ab import ab_compare
from edgecnn.bench.compare import EnvironmentMismatchError, compare_results
from edgecnn.bench.render import comparison_junit, comparison_markdown, not_compared, results_markdown
from edgecnn.bench.results import load_results, write_results
from edgecnn.bench.runner import run_suite, summary_rows
from edgecnn.bench.stats import DEFAULT_METRIC
from edgecnn.cli.console import console, escape, say
from edgecnn.errors import GateFailedError, InvalidInputError
from edgecnn.fileio import atomic_write_text, check_out_file
from edgecnn.profiling.timing import BENCH_PROTOCOL

Metric = Annotated[
    str | None,
    typer.Option(
        "--metric",
        help="Latency statistic: min, p10, p25, p50, p90 or mean (default: the suite's, p10 unless it says otherwise).",
    ),
]
MaxRegression = Annotated[str, typer.Option("--max-regression", help="Allowed slowdown, e.g. 10% or 0.1.")]


def parse_fraction(text: str, *, what: str) -> float:
    """'10%' -> 0.10; '0.1' -> 0.1; a bare number of 1 or more is read as a percentage ('10' -> 0.10)."""

    raw = text.strip()
    try:
        value = float(raw.rstrip("%"))
    except ValueError:
        raise InvalidInputError(
            f"{what}: expected a percentage like 10% or a fraction like 0.1, got '{text}'"
        ) from None
    if raw.endswith("%") or value >= 1:
        value /= 100
    if value < 0:
        raise InvalidInputError(f"{what} must not be negative, got '{text}'")
    return value


def run_cmd(
    suite: Annotated[Path, typer.Argument(help="Suite YAML file (see benchmarks/suites/).", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Results JSON to write.", show_default=False)],
    rounds: Annotated[
        int | None,
        typer.Option("--rounds", min=1, help="Override the suite's interleaved rounds (time per round kept)."),
    ] = None,
    work_dir: Annotated[
        Path | None,
        typer.Option("--work-dir", help="Keep the exported models here (default: a temporary folder)."),
    ] = None,
    markdown: Annotated[Path | None, typer.Option("--markdown", help="Also write a Markdown summary.")] = None,
) -> None:
    """Run a benchmark suite; exit 3 when one of its gates fails."""
    check_out_file(out, suffixes=(".json",))  # before minutes of timing, not after
    if markdown:
        check_out_file(markdown, suffixes=(".md",), flag="--markdown")
    results = run_suite(suite, work_dir=work_dir, rounds=rounds)
    write_results(results, out)
    rows = summary_rows(results)
    _print_run(console, results, rows)
    if markdown:
        atomic_write_text(markdown, results_markdown(results, rows))
    say(f"results written to {out}")
    failed = [g for g in results["gates"] if g["verdict"] == "fail"]
    if failed:
        raise GateFailedError("; ".join(f"{g['name']} [{g['case']}]: {g['reason']}" for g in failed))


def compare_cmd(
    baseline: Annotated[Path, typer.Argument(help="Baseline results JSON.", show_default=False)],
    current: Annotated[Path, typer.Argument(help="Current results JSON.", show_default=False)],
    max_regression: MaxRegression = "10%",
    metric: Metric = None,
    confidence: Annotated[float, typer.Option("--confidence", help="Bootstrap interval coverage.")] = 0.95,
    seed: Annotated[int, typer.Option("--seed", help="Bootstrap seed (same inputs and seed: same verdict).")] = 0,
    allow_env_mismatch: Annotated[
        bool,
        typer.Option("--allow-env-mismatch", help="Compare even across different hardware or runtime versions."),
    ] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Treat inconclusive cases as failures.")] = False,
    machine_check: Annotated[
        bool,
        typer.Option(
            "--machine-check/--no-machine-check",
            help="Call slowdowns inconclusive when the reference workload shows the machine itself ran slower.",
        ),
    ] = True,
    max_accuracy_drop: Annotated[
        float, typer.Option("--max-accuracy-drop", help="Top-1 points a case may lose against the baseline.")
    ] = 1.0,
    max_size_growth: Annotated[
        str | None,
        typer.Option("--max-size-growth", help="Allowed model-file growth, e.g. 5% (default: not checked)."),
    ] = None,
    markdown: Annotated[
        Path | None,
        typer.Option("--markdown", help="Write the Markdown summary here (e.g. for $GITHUB_STEP_SUMMARY)."),
    ] = None,
    junit: Annotated[
        Path | None, typer.Option("--junit", help="Write JUnit XML here (one test case per benchmark case).")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the comparison as JSON here.")] = None,
) -> None:
    """Compare CURRENT with BASELINE case by case; exit 3 on a regression, a missing case or a failed gate."""

    base, cur = load_results(baseline), load_results(current)
    try:
        cmp = compare_results(
            base,
            cur,
            max_regression=parse_fraction(max_regression, what="--max-regression"),
            metric=metric,
            confidence=confidence,
            seed=seed,
            allow_env_mismatch=allow_env_mismatch,
            strict=strict,
            machine_check=machine_check,
            max_accuracy_drop=max_accuracy_drop,
            max_size_growth=parse_fraction(max_size_growth, what="--max-size-growth") if max_size_growth else None,
        )
    except EnvironmentMismatchError as exc:  # CI still gets its reports, and they say why nothing was compared
        md, xml, data = not_compared(str(cur["suite"].get("name")), str(exc))
        for path, text in ((markdown, md), (junit, xml), (json_out, json.dumps(data, indent=1) + "\n")):
            if path:
                atomic_write_text(path, text)
        raise
    if markdown:
        atomic_write_text(markdown, comparison_markdown(cmp))
    if junit:
        atomic_write_text(junit, comparison_junit(cmp))
    if json_out:
        atomic_write_text(json_out, json.dumps(cmp.to_dict(), indent=1) + "\n")
    _print_comparison(console, cmp)
    if not cmp.passed:
        raise GateFailedError(f"{len(cmp.failures)} failure(s): " + "; ".join(cmp.failures))


def ab_cmd(
    a: Annotated[Path, typer.Argument(help="Model file A (the reference).", show_default=False)],
    b: Annotated[Path, typer.Argument(help="Model file B (the candidate).", show_default=False)],
    target: Annotated[str, typer.Option("--target", help="onnxruntime, openvino or cuda.")] = "onnxruntime",
    threads: Annotated[int | None, typer.Option("--threads", min=1, help="Runtime threads for both.")] = 1,
    batch: Annotated[
        int, typer.Option("--batch", min=1, help="Batch size (the models need a dynamic or matching batch).")
    ] = 1,
    rounds: Annotated[
        int, typer.Option("--rounds", min=1, help="Interleaved rounds (A B, B A, ...).")
    ] = BENCH_PROTOCOL.rounds,
    seconds: Annotated[
        float, typer.Option("--seconds", min=0.0, help="Timed seconds per model, over all rounds.")
    ] = BENCH_PROTOCOL.min_seconds,
    metric: Metric = None,
    max_regression: Annotated[str, typer.Option("--max-regression", help="B may be this much slower than A.")] = "10%",
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the result (with per-round timings) as JSON here.")
    ] = None,
) -> None:
    """Time A and B interleaved in one process; exit 3 when B is slower than A beyond --max-regression."""
    protocol = BENCH_PROTOCOL.with_rounds(rounds, seconds=seconds)
    result = ab_compare(
        a,
        b,
        target=target,
        threads=threads,
        batch=batch,
        protocol=protocol,
        metric=metric or DEFAULT_METRIC,
        max_regression=parse_fraction(max_regression, what="--max-regression"),
    )
    if json_out:
        atomic_write_text(json_out, json.dumps(result, indent=1) + "\n")
    lat = result["latency"]
    say(
        f"A {result['a']['path']}: {result['a']['value_ms']:.4f} ms ({result['metric']})\n"
        f"B {result['b']['path']}: {result['b']['value_ms']:.4f} ms\n"
        f"B/A = {lat['ratio']:.3f} (interval {lat['ci_low']:.3f}-{lat['ci_high']:.3f}): "
        f"{result['verdict']}, {result['reason']}"
    )
    if result["suggestion"]:
        say(f"suggestion: {result['suggestion']}")
    if result["verdict"] == "regression":
        raise GateFailedError(f"B is slower than A: {result['reason']}")


def _print_run(console, results, rows) -> None:
    from rich.table import Table

    table = Table(title=f"bench {results['suite']['name']} ({results['metric']} latency, ms)")
    for col in ("case", results["metric"], "p50", "p90", "iterations", "top-1", "MB"):
        table.add_column(col, justify="left" if col == "case" else "right")
    for r in rows:
        table.add_row(
            escape(r["id"]),
            f"{r['metric']:.4f}",
            f"{r['p50']:.4f}",
            f"{r['p90']:.4f}",
            str(r["iterations"]),
            "" if r["top1"] is None else f"{r['top1']:.2f}%",
            f"{r['mb']:.3f}",
        )
    console.print(table)
    for g in results["gates"]:
        console.print(escape(f"gate {g['verdict']}: {g['name']} [{g['case']}]: {g['reason']}"), highlight=False)


def _print_comparison(console, cmp) -> None:
    from rich.table import Table

    table = Table(title=f"bench compare {cmp.suite}: {cmp.metric}, max regression {cmp.max_regression:.0%}")
    for col in ("case", "baseline", "current", "ratio", "interval", "verdict"):
        table.add_column(col, justify="left" if col in ("case", "verdict") else "right")
    style = {
        "pass": "green",
        "regression": "red",
        "missing": "red",
        "accuracy": "red",
        "size": "red",
        "inconclusive": "yellow",
    }
    for c in cmp.cases:
        e = c.estimate
        nums = (
            [f"{e.baseline_value:.4f}", f"{e.current_value:.4f}", f"{e.ratio:.3f}", f"{e.low:.3f}-{e.high:.3f}"]
            if e
            else ["", "", "", ""]
        )
        table.add_row(escape(c.id), *nums, f"[{style.get(c.verdict, 'white')}]{c.verdict}[/]: {escape(c.reason)}")
    console.print(table)
    if cmp.machine:
        console.print(
            f"reference workload (the machine's own speed), current/baseline: {cmp.machine.ratio:.3f} "
            f"({cmp.machine.low:.3f}-{cmp.machine.high:.3f})",
            highlight=False,
        )
    for c in cmp.cases:
        if c.suggestion:
            console.print(escape(f"{c.id}: {c.suggestion}"), highlight=False)
    for d in cmp.environment:
        console.print(
            escape(f"environment {'MISMATCH' if d.critical else 'differs'}: {d.field}: {d.baseline} -> {d.current}"),
            highlight=False,
        )
    for g in cmp.gates:
        console.print(escape(f"gate {g['verdict']}: {g['name']} [{g['case']}]: {g['reason']}"), highlight=False)
    console.print("[green]passed[/]" if cmp.passed else "[red]FAILED[/]")
