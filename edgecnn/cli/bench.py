"""`edgecnn bench`: latency-regression benchmarks for CI (run a suite, compare with a baseline, A/B two models).

Exit codes: 0 passed, 3 a regression or a gate failed, 2 bad input (including an environment mismatch).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

_METRIC_HELP = (
    "Latency statistic: min, p10, p25, p50, p90 or mean (default: the suite's, p10 unless it says otherwise)."
)


def parse_fraction(text: str, *, what: str) -> float:
    """'10%' -> 0.10; '0.1' -> 0.1; a bare number of 1 or more is read as a percentage ('10' -> 0.10)."""
    from edgecnn.errors import InvalidInputError

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


def register(app: typer.Typer) -> None:
    bench = typer.Typer(
        help="Latency-regression benchmarks for CI: run suites, compare with a baseline, A/B two models.",
        no_args_is_help=True,
    )
    app.add_typer(bench, name="bench")

    @bench.command("run")
    def run_cmd(
        suite: Path = typer.Argument(..., help="Suite YAML file (see benchmarks/suites/)."),
        out: Path = typer.Option(..., "--out", "-o", help="Results JSON to write."),
        rounds: int | None = typer.Option(
            None, "--rounds", min=1, help="Override the suite's interleaved rounds (time per round kept)."
        ),
        work_dir: Path | None = typer.Option(
            None, "--work-dir", help="Keep the exported models here (default: a temporary folder)."
        ),
        markdown: Path | None = typer.Option(None, "--markdown", help="Also write a Markdown summary."),
    ) -> None:
        """Run a benchmark suite; exit 3 when one of its gates fails."""
        from edgecnn.bench.render import results_markdown
        from edgecnn.bench.results import write_results
        from edgecnn.bench.runner import run_suite, summary_rows
        from edgecnn.cli.console import console
        from edgecnn.errors import GateFailedError
        from edgecnn.fileio import atomic_write_text

        results = run_suite(suite, work_dir=work_dir, rounds=rounds)
        write_results(results, out)
        rows = summary_rows(results)
        _print_run(console, results, rows)
        if markdown:
            atomic_write_text(markdown, results_markdown(results, rows))
        console.print(f"results written to {out}", highlight=False)
        failed = [g for g in results["gates"] if g["verdict"] == "fail"]
        if failed:
            raise GateFailedError("; ".join(f"{g['name']} [{g['case']}]: {g['reason']}" for g in failed))

    @bench.command("compare")
    def compare_cmd(
        baseline: Path = typer.Argument(..., help="Baseline results JSON."),
        current: Path = typer.Argument(..., help="Current results JSON."),
        max_regression: str = typer.Option("10%", "--max-regression", help="Allowed slowdown, e.g. 10% or 0.1."),
        metric: str | None = typer.Option(None, "--metric", help=_METRIC_HELP),
        confidence: float = typer.Option(0.95, "--confidence", help="Bootstrap interval coverage."),
        seed: int = typer.Option(0, "--seed", help="Bootstrap seed (same inputs and seed: same verdict)."),
        allow_env_mismatch: bool = typer.Option(
            False, "--allow-env-mismatch", help="Compare even across different hardware or runtime versions."
        ),
        strict: bool = typer.Option(False, "--strict", help="Treat inconclusive cases as failures."),
        machine_check: bool = typer.Option(
            True,
            "--machine-check/--no-machine-check",
            help="Call slowdowns inconclusive when the reference workload shows the machine itself ran slower.",
        ),
        max_accuracy_drop: float = typer.Option(
            1.0, "--max-accuracy-drop", help="Top-1 points a case may lose against the baseline."
        ),
        max_size_growth: str | None = typer.Option(
            None, "--max-size-growth", help="Allowed model-file growth, e.g. 5% (default: not checked)."
        ),
        markdown: Path | None = typer.Option(
            None, "--markdown", help="Write the Markdown summary here (e.g. for $GITHUB_STEP_SUMMARY)."
        ),
        junit: Path | None = typer.Option(
            None, "--junit", help="Write JUnit XML here (one test case per benchmark case)."
        ),
        json_out: Path | None = typer.Option(None, "--json", help="Write the comparison as JSON here."),
    ) -> None:
        """Compare CURRENT with BASELINE case by case; exit 3 on a regression, a missing case or a failed gate."""
        from edgecnn.bench.compare import compare_results
        from edgecnn.bench.render import comparison_junit, comparison_markdown
        from edgecnn.bench.results import load_results
        from edgecnn.cli.console import console
        from edgecnn.errors import GateFailedError
        from edgecnn.fileio import atomic_write_text

        cmp = compare_results(
            load_results(baseline),
            load_results(current),
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
        if markdown:
            atomic_write_text(markdown, comparison_markdown(cmp))
        if junit:
            atomic_write_text(junit, comparison_junit(cmp))
        if json_out:
            atomic_write_text(json_out, json.dumps(cmp.to_dict(), indent=1) + "\n")
        _print_comparison(console, cmp)
        if not cmp.passed:
            raise GateFailedError(f"{len(cmp.failures)} failure(s): " + "; ".join(cmp.failures))

    @bench.command("ab")
    def ab_cmd(
        a: Path = typer.Argument(..., help="Model file A (the reference)."),
        b: Path = typer.Argument(..., help="Model file B (the candidate)."),
        target: str = typer.Option("onnxruntime", "--target", help="onnxruntime, openvino or cuda."),
        threads: int | None = typer.Option(1, "--threads", min=1, help="Runtime threads for both."),
        batch: int = typer.Option(
            1, "--batch", min=1, help="Batch size (the models need a dynamic or matching batch)."
        ),
        rounds: int = typer.Option(12, "--rounds", min=1, help="Interleaved rounds (A B, B A, ...)."),
        seconds: float = typer.Option(3.0, "--seconds", min=0.0, help="Timed seconds per model, over all rounds."),
        metric: str | None = typer.Option(None, "--metric", help=_METRIC_HELP),
        max_regression: str = typer.Option("10%", "--max-regression", help="B may be this much slower than A."),
        json_out: Path | None = typer.Option(
            None, "--json", help="Write the result (with per-round timings) as JSON here."
        ),
    ) -> None:
        """Time A and B interleaved in one process; exit 3 when B is slower than A beyond --max-regression."""
        import dataclasses

        from edgecnn.bench.ab import ab_compare
        from edgecnn.bench.stats import DEFAULT_METRIC
        from edgecnn.bench.suite import DEFAULT_PROTOCOL
        from edgecnn.cli.console import console
        from edgecnn.errors import GateFailedError
        from edgecnn.fileio import atomic_write_text

        per_round_iters = max(1, DEFAULT_PROTOCOL.min_iters // DEFAULT_PROTOCOL.rounds)
        protocol = dataclasses.replace(
            DEFAULT_PROTOCOL,
            rounds=rounds,
            min_seconds=seconds,
            min_iters=per_round_iters * rounds,
            max_iters=max(DEFAULT_PROTOCOL.max_iters, per_round_iters * rounds),
        )
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
        console.print(
            f"A {result['a']['path']}: {result['a']['value_ms']:.4f} ms ({result['metric']})\n"
            f"B {result['b']['path']}: {result['b']['value_ms']:.4f} ms\n"
            f"B/A = {lat['ratio']:.3f} (interval {lat['ci_low']:.3f}-{lat['ci_high']:.3f}): {result['verdict']}, {result['reason']}",
            highlight=False,
        )
        if result["suggestion"]:
            console.print(f"suggestion: {result['suggestion']}", highlight=False)
        if result["verdict"] == "regression":
            raise GateFailedError(f"B is slower than A: {result['reason']}")


def _print_run(console, results, rows) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"bench {results['suite']['name']} ({results['metric']} latency, ms)")
    for col in ("case", results["metric"], "p50", "p90", "iterations", "top-1", "MB"):
        table.add_column(col, justify="left" if col == "case" else "right")
    for r in rows:
        table.add_row(
            r["id"],
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
    from rich.markup import escape
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
        table.add_row(c.id, *nums, f"[{style.get(c.verdict, 'white')}]{c.verdict}[/]: {escape(c.reason)}")
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
