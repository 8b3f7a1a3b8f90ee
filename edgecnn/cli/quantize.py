"""`edgecnn quantize`: a model or fp32 ONNX file -> a verified int8 QDQ (or fp16) ONNX model and its report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from edgecnn.cli.console import console, escape, say
from edgecnn.cli.options import (
    Arch,
    AsJson,
    CalibData,
    CalibSize,
    EvalData,
    Fp16,
    Latency,
    MaxAccuracyDrop,
    ModelOrOnnx,
    Out,
    ReportPath,
    Seed,
    Target,
    Threads,
    Weights,
)
from edgecnn.cli.options import names as _names
from edgecnn.fileio import atomic_write_text, check_out_file
from edgecnn.quant.api import quantize
from edgecnn.quant.config import AdvancedQuantization


def quantize_cmd(
    model: ModelOrOnnx,
    target: Target = "onnxruntime",
    fp16: Fp16 = False,
    calib_data: CalibData = None,
    calib_size: CalibSize = 300,
    method: Annotated[
        str, typer.Option("--method", help="Calibration: minmax, percentile, entropy or distribution.")
    ] = "minmax",
    profile: Annotated[
        str | None, typer.Option("--profile", help="Override the target's int8 format: u8s8 or s8s8.")
    ] = None,
    op_types: Annotated[
        str | None, typer.Option("--op-types", help="Comma-separated op types to quantize (default: all ORT can).")
    ] = None,
    exclude: Annotated[
        str | None, typer.Option("--exclude", help="Comma-separated node names to keep in float.")
    ] = None,
    reduce_range: Annotated[
        bool | None,
        typer.Option("--reduce-range/--full-range", help="7-bit weights (default: on for x86 CPUs without VNNI)."),
    ] = None,
    equalize: Annotated[
        bool, typer.Option("--equalize", help="Cross-layer equalization of consecutive conv pairs first.")
    ] = False,
    bias_correction: Annotated[
        bool, typer.Option("--bias-correction", help="Correct each layer's mean output shift.")
    ] = False,
    rounding: Annotated[
        str,
        typer.Option("--rounding", help="Weight rounding: nearest, or gptq (re-rounded for each layer's output)."),
    ] = "nearest",
    eval_data: EvalData = None,
    max_drop: MaxAccuracyDrop = None,
    min_agreement: Annotated[
        float | None,
        typer.Option("--min-agreement", help="Minimum top-1 agreement with fp32, a fraction, e.g. 0.99 (no labels)."),
    ] = None,
    sensitivity: Annotated[
        bool, typer.Option("--sensitivity", help="Rank every layer by its int8 sensitivity.")
    ] = False,
    latency: Latency = True,
    threads: Threads = None,
    out: Out("Output .onnx file (default: MODEL.PRECISION.TARGET.onnx).") = None,
    report_path: ReportPath = None,
    weights: Weights = "auto",
    seed: Seed = 0,
    arch: Arch = None,
    as_json: AsJson = False,
) -> None:
    """Quantize to int8 (QDQ ONNX, the target's format) or fp16, checked for accuracy and speed against fp32.

    The int8 format follows the target: U8S8 for onnxruntime, openvino and arm; symmetric S8S8 for tensorrt and
    cuda. With --max-accuracy-drop (needs --eval-data) sensitive layers are kept in float.
    """

    if out is not None:  # before the model is loaded: a bad --out is one line, exit 2
        check_out_file(out, suffixes=(".onnx",))
    if report_path is not None:
        check_out_file(report_path, flag="--report")
    source: Any = model
    if not model.lower().endswith(".onnx"):
        from edgecnn.zoo.loader import load_model

        source = load_model(model, weights=weights, arch=arch, seed=seed)
    result = quantize(
        source,
        target=target,
        precision="fp16" if fp16 else "int8",
        calib_data=calib_data,
        out=out,
        preset=profile,
        eval_data=eval_data,
        max_accuracy_drop=max_drop,
        min_agreement=min_agreement,
        advanced=AdvancedQuantization(
            calib_size=calib_size,
            calibration_method=method,
            op_types=_names(op_types),
            nodes_to_exclude=_names(exclude) or (),
            reduce_range=reduce_range,
            equalize=equalize,
            bias_correction=bias_correction,
            rounding=rounding,
            sensitivity=sensitivity,
            check_latency=latency,
            threads=threads,
            seed=seed,
        ),
    )
    text = json.dumps(result.report, indent=2, default=str)
    if report_path:
        atomic_write_text(report_path, text)
    if as_json:
        typer.echo(text)
    else:
        print_report(result.artifact.path, result.report)


def print_report(path: Path, report: dict[str, Any]) -> None:
    """A short human summary; warnings (slower int8, missed budget) in red."""

    console.print(
        f"[bold]{escape(report['precision'])}[/] model for {escape(report['target'])}: {escape(path)}", highlight=False
    )
    if report.get("profile"):
        say(
            f"format: {report['profile']['label']} ({report['profile']['activation_type']} activations"
            f"{', symmetric' if report['profile']['activation_symmetric'] else ''}), "
            f"reduce_range={report.get('reduce_range', {}).get('value')}"
        )
    fid = report.get("fidelity")
    if fid:
        say(
            f"fidelity vs fp32 ({report.get('evaluation', {}).get('data')}): "
            f"top-1 agreement {fid['top1_agreement']:.2%}, "
            f"SQNR {fid['sqnr_db']:.2f} dB"
        )
    acc = report.get("accuracy")
    if acc and acc.get("top1") is not None:
        say(f"accuracy: fp32 {acc['fp32_top1']:.2f}% -> {acc['top1']:.2f}% ({-acc['drop_points']:+.2f} points)")
    for step in report.get("steps", []):
        effect = step.get("effect", {}).get("sqnr_db")
        if effect:
            say(f"{step['type']}: SQNR {effect['without']:.2f} -> {effect['with']:.2f} dB")
    lat = report.get("latency") or {}
    if "ratio" in lat:
        say(
            f"latency: fp32 {lat['fp32_p50_ms']:.3f} ms -> {lat.get('int8_p50_ms', lat.get('p50_ms')):.3f} ms "
            f"(x{lat['speedup']:.2f})",
            style="green" if lat.get("faster") else "bold red",
        )
    elif lat.get("skipped"):
        say(lat["skipped"], prefix="[yellow]latency not measured:[/] ")
    for warning in report.get("warnings", []):
        say(f"WARNING: {warning}", style="bold red")
