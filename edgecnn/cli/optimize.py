"""`edgecnn optimize`: the main job. Builds the same Recipe as `edgecnn.optimize` and runs it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from edgecnn.cli.console import console, escape, say
from edgecnn.cli.options import (
    Arch,
    AsJson,
    CalibData,
    CalibSize,
    Device,
    DryRun,
    EvalData,
    Fp16,
    InputShape,
    MaxAccuracyDrop,
    ModelOrRecipe,
    Out,
    Target,
    Threads,
    Token,
    Weights,
)
from edgecnn.errors import GateFailedError
from edgecnn.fileio import check_out_dir
from edgecnn.pipeline.build import build_recipe
from edgecnn.pipeline.runner import failed_gates_message, run_recipe
from edgecnn.pipeline.shipped import resolve_recipe
from edgecnn.report.markdown import delivered_line, summary_rows


def optimize(
    model: ModelOrRecipe = None,
    int8: Annotated[
        bool, typer.Option("--int8", help="Calibrated int8 post-training quantization for the target.")
    ] = False,
    fp16: Fp16 = False,
    qat: Annotated[
        bool,
        typer.Option("--qat", help="With --int8: quantization-aware fine-tuning by distillation first (slow; opt-in)."),
    ] = False,
    qat_steps: Annotated[
        int | None,
        typer.Option("--qat-steps", min=1, metavar="N", help="QAT optimizer steps (default 200; implies --qat)."),
    ] = None,
    prune: Annotated[
        float | None, typer.Option("--prune", metavar="RATIO", help="Structured channel pruning ratio in [0, 1).")
    ] = None,
    fold_bn: Annotated[
        bool | None, typer.Option("--fold-bn/--no-fold-bn", help="Fold BatchNorm into convolutions (default on).")
    ] = None,
    dw_separable: Annotated[
        bool,
        typer.Option("--dw-separable", help="Substitute dense kxk convs by depthwise-separable pairs, then distill."),
    ] = False,
    target: Target = None,
    device: Device = None,
    token: Token = None,
    calib_data: CalibData = None,
    calib_size: CalibSize = None,
    eval_data: EvalData = None,
    max_accuracy_drop: MaxAccuracyDrop = None,
    min_speedup: Annotated[
        float | None, typer.Option("--min-speedup", help="Gate: minimum speed-up over the float baseline.")
    ] = None,
    require_speedup: Annotated[
        bool, typer.Option("--require-speedup", help="Gate: fail (exit 3) if not faster than the baseline.")
    ] = False,
    weights: Weights = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Seed of weight initialisation and calibration (default: 0).")
    ] = None,
    arch: Arch = None,
    input_shape: InputShape = None,
    threads: Threads = None,
    recipe: Annotated[
        str | None, typer.Option("--recipe", help="Recipe file or shipped recipe name; flags override its fields.")
    ] = None,
    out: Out("Output directory.") = Path("edgecnn-out"),
    keep_failed: Annotated[
        bool,
        typer.Option("--keep-failed", help="Keep a failed or interrupted run's files in OUT.failed for a look."),
    ] = False,
    dry_run: DryRun = False,
    as_json: AsJson = False,
) -> None:
    """Optimize a model for a target: transforms, export, quantize, validate, profile vs float baseline, bundle, report.

    Defaults when neither flags nor --recipe say: target onnxruntime, 300 calibration samples, BatchNorm folded.
    """

    rec = build_recipe(
        model,
        recipe=resolve_recipe(recipe) if recipe else None,
        target=target,
        int8=int8,
        fp16=fp16,
        qat=qat,
        qat_steps=qat_steps,
        prune=prune,
        fold_bn=fold_bn,
        dw_separable=dw_separable,
        calib_data=calib_data,
        calib_size=calib_size,
        eval_data=eval_data,
        max_accuracy_drop=max_accuracy_drop,
        min_speedup=min_speedup,
        require_speedup=require_speedup,
        weights=weights,
        arch=arch,
        input_shape=list(input_shape) if input_shape else None,
        device=device,
        token=token,
        threads=threads,
        seed=seed,
    )
    if dry_run:
        typer.echo(rec.to_yaml(), nl=False)
        return

    check_out_dir(out, marker="report.json")  # before the model is loaded: a bad --out is one line, exit 2
    result = run_recipe(rec, out_dir=out, keep_failed=keep_failed)
    if as_json:
        typer.echo(json.dumps(result.report, indent=2, default=str))
    else:
        print_summary(result)
    failed = failed_gates_message(result)
    if failed:
        raise GateFailedError(failed)


def measured_where(report: dict) -> str:
    """The table title's last words: where latency was measured, or plainly that it was not."""
    base, opt = report.get("baseline") or {}, report.get("optimized") or {}
    timed_base, timed_opt = base.get("latency_ms") is not None, opt.get("latency_ms") is not None
    backend = opt.get("backend") or base.get("backend") or report["target"]
    if timed_base and timed_opt:
        return f"measured side by side on {backend}"
    if timed_opt:
        return f"optimized timed on {backend}; float baseline not timed"
    if timed_base:
        return f"float baseline timed on {backend}; optimized not timed"
    return f"latency not measured on {report['target']}: sizes and fidelity only"


def print_summary(result) -> None:
    """The closing table: float baseline vs optimized, then what was written and what was not done."""
    from rich.table import Table

    report = result.report
    table = Table(title=escape(f"{report['model']['name']} -> {report['target']} ({measured_where(report)})"))
    table.add_column("metric")
    table.add_column("float baseline", justify="right")
    table.add_column("optimized", justify="right")
    for metric, base, opt in summary_rows(report):
        style = (
            "bold red" if metric == "speed-up" and report.get("speedup") is not None and report["speedup"] < 1 else None
        )
        table.add_row(escape(metric), escape(base), escape(opt), style=style)
    console.print(table)
    delivered = delivered_line(report)
    if delivered:
        say(delivered, style="bold")
    for gate in report.get("gates", []):
        word = {True: "[green]passed[/]", False: "[bold red]FAILED[/]", None: "[yellow]skipped[/]"}[gate["passed"]]
        reason = " — " + escape(gate["reason"]) if gate.get("reason") else ""
        console.print(f"gate {escape(gate['name'])} (threshold {escape(gate['threshold'])}): {word}{reason}")
    for note in report.get("notes", []):
        say(note, prefix="[yellow]note:[/] ")
    for item in report.get("not_done", []):
        say(item, prefix="[bold yellow]not done:[/] ")
    for art in report.get("artifacts", []):
        say(f"wrote {art['role']:<11} {art['path']}")
    for path in result.report_paths.values():
        say(f"wrote report      {path}")
