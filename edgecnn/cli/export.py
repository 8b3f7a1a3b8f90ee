"""`edgecnn export`: a model or ONNX file -> a checked artifact for ONNX Runtime, OpenVINO or TensorRT.

`edgecnn trt-rules FILE.onnx` checks a QDQ model against TensorRT's explicit-quantization rules.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("export")
    def export_cmd(
        model: str = typer.Argument(
            ..., help="Zoo name, weights file (with --arch), package.module:factory, or an .onnx file."
        ),
        out: Path = typer.Option(
            ..., "--out", "-o", help="Output file: .onnx (onnxruntime), .xml (openvino), .engine (tensorrt)."
        ),
        target: str = typer.Option(
            "onnxruntime", "--target", "-t", help="onnxruntime, openvino, tensorrt, cuda or arm."
        ),
        precision: str = typer.Option("fp32", "--precision", "-p", help="fp32, fp16 or int8."),
        quantizer: str = typer.Option(
            "qdq", "--quantizer", help="int8 route: qdq (edgecnn quantize) or nncf (openvino only)."
        ),
        calib: str | None = typer.Option(
            None, "--calib", help="Calibration images folder or .npy/.npz (default: bundled photos)."
        ),
        calib_size: int = typer.Option(300, "--calib-size", help="Calibration samples."),
        weights: str = typer.Option("auto", "--weights", help="auto, pretrained, random, or a state-dict file."),
        arch: str | None = typer.Option(None, "--arch", help="Architecture for a weights file given as MODEL."),
        input_shape: str | None = typer.Option(None, "--input-shape", help="N,C,H,W (e.g. 1,3,224,224)."),
        dynamic_batch: bool = typer.Option(False, "--dynamic-batch", help="Export with a dynamic batch dimension."),
        batch_range: str | None = typer.Option(
            None, "--batch-range", help="TensorRT profile min,opt,max batch (e.g. 1,4,8)."
        ),
        opset: int | None = typer.Option(None, "--opset", help="ONNX opset (default: the installed exporter's)."),
        simplifier: str = typer.Option("onnxslim", "--simplifier", help="onnxslim, onnxsim or none."),
        check: bool = typer.Option(
            True, "--check/--no-check", help="Compare the artifact's outputs with the reference."
        ),
        build_engine: bool | None = typer.Option(
            None,
            "--build-engine/--no-build-engine",
            help="TensorRT: require / skip the engine build (default: build when possible).",
        ),
        as_json: bool = typer.Option(False, "--json", help="Print the artifact record as JSON."),
    ) -> None:
        """Export a model for a target (ONNX, OpenVINO IR, TensorRT engine) and check it against the reference."""
        from edgecnn.exporters.api import export

        source = (
            model
            if model.lower().endswith(".onnx")
            else _load(model, weights=weights, arch=arch, input_shape=input_shape)
        )
        artifact = export(
            source,
            target=target,
            out=out,
            precision=precision,
            quantizer=quantizer,  # type: ignore[arg-type]
            calib_data=calib,
            calib_size=calib_size,
            dynamic_batch=dynamic_batch,
            opset=opset,
            simplify=simplifier,
            check=check,
            batch_range=_ints(batch_range, 3, "--batch-range"),
            build_engine=build_engine,
        )
        if as_json:
            typer.echo(json.dumps(artifact.to_dict(), indent=2, default=str))
        else:
            _print(artifact)

    @app.command("trt-rules")
    def trt_rules_cmd(onnx_file: Path = typer.Argument(..., help="A QDQ ONNX model.")) -> None:
        """Check a QDQ ONNX model against TensorRT's explicit-quantization rules (exit 2 if it breaks them)."""
        from edgecnn.cli.console import console
        from edgecnn.errors import InvalidInputError
        from edgecnn.exporters.trt_rules import check_tensorrt_qdq

        if not onnx_file.exists():
            raise InvalidInputError(f"ONNX model not found: {onnx_file}")
        report = check_tensorrt_qdq(onnx_file)
        console.print(f"[green]{report.summary()}[/]", highlight=False)
        for rule, nodes in report.warnings.items():
            console.print(f"[yellow]warning[/]: {rule} ({len(nodes)}x, e.g. {nodes[0]})", highlight=False)


def _load(model: str, *, weights: str, arch: str | None, input_shape: str | None):
    from edgecnn.zoo.loader import load_model

    shape = _ints(input_shape, None, "--input-shape")
    return load_model(model, weights=weights, arch=arch, input_shape=shape)


def _ints(text: str | None, count: int | None, flag: str) -> tuple[int, ...] | None:
    from edgecnn.errors import InvalidInputError

    if not text:
        return None
    try:
        values = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise InvalidInputError(f"{flag} takes comma-separated integers, got {text!r}") from None
    if count is not None and len(values) != count:
        raise InvalidInputError(f"{flag} takes {count} integers, got {text!r}")
    return values


def _print(artifact) -> None:
    from rich.markup import escape
    from rich.table import Table

    from edgecnn.cli.console import console

    prov = artifact.provenance
    table = Table(title=f"exported for {artifact.target}", show_header=False)
    table.add_column("field")
    table.add_column("value")
    table.add_row("artifact", " + ".join(str(p) for p in artifact.files))
    engine = f" (engine: {prov['engine_precision']})" if "engine_precision" in prov else ""
    table.add_row("format / precision", f"{artifact.format} / {artifact.precision}{engine}")
    for role, path in prov.get("intermediates", {}).items():
        table.add_row(role, path)
    check = prov.get("check") or {}
    if "max_rel_error" in check:
        agreement = f", top-1 agreement {check['top1_agreement']:.1%}" if "top1_agreement" in check else ""
        table.add_row(
            "check",
            f"vs {check['reference']} on {check['samples']} inputs: max abs {check['max_abs_error']:.2e}, "
            f"max rel {check['max_rel_error']:.2e}{agreement}",
        )
        runtime = check.get("runtime", {})
        if "inference_precision_hint" in runtime:
            table.add_row(
                "OpenVINO precision",
                f"{runtime['inference_precision_hint']} (compute layers: {runtime['compute_layer_precisions']})",
            )
    elif check:
        table.add_row("check", escape(str(check)))
    if prov.get("rules_check"):
        table.add_row("TensorRT rules", "OK" if prov["rules_check"]["ok"] else "FAILED")
    console.print(table)
    if prov.get("engine_built") is False:
        console.print(
            f"[bold yellow]No TensorRT engine was built[/]: {escape(prov['why_not_built'])}.\n"
            "The TensorRT-ready ONNX is written; build the engine on the device that will run it with either:",
            highlight=False,
        )
        commands = prov["build_commands"]
        console.print(escape(f"  {commands['trtexec']}\n  {commands['edgecnn']}"), highlight=False, soft_wrap=True)
