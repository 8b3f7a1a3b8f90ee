"""`edgecnn quantize`: a model or fp32 ONNX file -> a verified int8 QDQ (or fp16) ONNX model and its report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer


def register(app: typer.Typer) -> None:
    @app.command("quantize")
    def quantize_cmd(
        model: str = typer.Argument(
            ..., help="Zoo name, weights file (with --arch), package.module:factory, or an fp32 .onnx file."
        ),
        target: str = typer.Option(
            "onnxruntime",
            "--target",
            "-t",
            help="onnxruntime, openvino, arm (U8S8) or tensorrt, cuda (symmetric S8S8).",
        ),
        fp16: bool = typer.Option(False, "--fp16", help="Convert to fp16 instead of int8."),
        calib_data: str | None = typer.Option(
            None, "--calib-data", help="Image folder or .npy/.npz (default: the bundled photos)."
        ),
        calib_size: int = typer.Option(300, "--calib-size", help="Calibration samples."),
        method: str = typer.Option(
            "minmax", "--method", help="Calibration: minmax, percentile, entropy or distribution."
        ),
        profile: str | None = typer.Option(None, "--profile", help="Override the target's int8 format: u8s8 or s8s8."),
        op_types: str | None = typer.Option(
            None, "--op-types", help="Comma-separated op types to quantize (default: all ORT can)."
        ),
        exclude: str | None = typer.Option(None, "--exclude", help="Comma-separated node names to keep in float."),
        reduce_range: bool | None = typer.Option(
            None, "--reduce-range/--full-range", help="7-bit weights (default: on for x86 CPUs without VNNI)."
        ),
        equalize: bool = typer.Option(
            False, "--equalize", help="Cross-layer equalization of consecutive conv pairs first."
        ),
        bias_correction: bool = typer.Option(
            False, "--bias-correction", help="Correct each layer's mean output shift."
        ),
        eval_data: str | None = typer.Option(
            None, "--eval-data", help="Labelled data (ImageFolder, .npz with x/y, or 'digits') for accuracy."
        ),
        max_drop: float | None = typer.Option(
            None,
            "--max-accuracy-drop",
            help="Top-1 points allowed to lose (needs --eval-data); keeps sensitive layers float.",
        ),
        min_agreement: float | None = typer.Option(
            None, "--min-agreement", help="Minimum top-1 agreement with fp32, percent (no labels needed)."
        ),
        sensitivity: bool = typer.Option(False, "--sensitivity", help="Rank every layer by its int8 sensitivity."),
        latency: bool = typer.Option(
            True, "--latency/--no-latency", help="Time int8 vs fp32 side by side on the target backend."
        ),
        threads: int | None = typer.Option(None, "--threads", help="Inference threads for checks and timing."),
        out: Path | None = typer.Option(
            None, "--out", "-o", help="Output .onnx file (default: MODEL.PRECISION.TARGET.onnx)."
        ),
        report_path: Path | None = typer.Option(None, "--report", help="Also write the report as JSON here."),
        weights: str = typer.Option("auto", "--weights", help="auto, pretrained, random, or a state-dict file."),
        arch: str | None = typer.Option(None, "--arch", help="Architecture for a weights file given as MODEL."),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    ) -> None:
        """Quantize to int8 (QDQ ONNX, the target's format) or fp16, checked for accuracy and speed against fp32."""
        from edgecnn.fileio import atomic_write_text
        from edgecnn.quant.api import quantize
        from edgecnn.quant.config import AdvancedQuantization

        source: Any = model
        if not model.lower().endswith(".onnx"):
            from edgecnn.zoo.loader import load_model

            source = load_model(model, weights=weights, arch=arch)
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
                sensitivity=sensitivity,
                check_latency=latency,
                threads=threads,
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
    from edgecnn.cli.console import console

    console.print(f"[bold]{report['precision']}[/] model for {report['target']}: {path}", highlight=False)
    if report.get("profile"):
        console.print(
            f"format: {report['profile']['label']} ({report['profile']['activation_type']} activations"
            f"{', symmetric' if report['profile']['activation_symmetric'] else ''}), "
            f"reduce_range={report.get('reduce_range', {}).get('value')}",
            highlight=False,
        )
    fid = report.get("fidelity")
    if fid:
        console.print(
            f"fidelity vs fp32 ({report.get('evaluation', {}).get('data')}): top-1 agreement {fid['top1_agreement']:.2f}%, "
            f"SQNR {fid['sqnr_db']:.2f} dB",
            highlight=False,
        )
    acc = report.get("accuracy")
    if acc and acc.get("top1") is not None:
        console.print(
            f"accuracy: fp32 {acc['fp32_top1']:.2f}% -> {acc['top1']:.2f}% ({-acc['drop_points']:+.2f} points)",
            highlight=False,
        )
    for step in report.get("steps", []):
        effect = step.get("effect", {}).get("sqnr_db")
        if effect:
            console.print(f"{step['type']}: SQNR {effect['without']:.2f} -> {effect['with']:.2f} dB", highlight=False)
    lat = report.get("latency") or {}
    if "ratio" in lat:
        colour = "green" if lat.get("faster") else "bold red"
        console.print(
            f"[{colour}]latency: fp32 {lat['fp32_p50_ms']:.3f} ms -> {lat.get('int8_p50_ms', lat.get('p50_ms')):.3f} ms "
            f"(x{lat['speedup']:.2f})[/]",
            highlight=False,
        )
    elif lat.get("skipped"):
        console.print(f"[yellow]latency not measured:[/] {lat['skipped']}", highlight=False)
    for warning in report.get("warnings", []):
        console.print(f"[bold red]WARNING: {warning}[/]", highlight=False)


def _names(text: str | None) -> tuple[str, ...] | None:
    return tuple(t.strip() for t in text.split(",") if t.strip()) if text else None
