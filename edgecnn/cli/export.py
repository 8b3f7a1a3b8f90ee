"""`edgecnn export`: a model or ONNX file -> a checked artifact for ONNX Runtime, OpenVINO or TensorRT."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from edgecnn.cli.console import console, escape
from edgecnn.cli.options import (
    Arch,
    AsJson,
    CalibData,
    CalibSize,
    InputShape,
    ModelOrOnnx,
    Seed,
    Target,
    Weights,
)
from edgecnn.errors import InvalidInputError
from edgecnn.exporters.api import export, export_suffixes
from edgecnn.fileio import check_out_file
from edgecnn.targets import get_target
from edgecnn.zoo.loader import load_model


def export_cmd(
    model: ModelOrOnnx,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            "-o",
            help="Output file: .onnx (onnxruntime), .xml (openvino), .engine (tensorrt).",
            show_default=False,
        ),
    ],
    target: Target = "onnxruntime",
    precision: Annotated[str, typer.Option("--precision", "-p", help="fp32, fp16 or int8.")] = "fp32",
    quantizer: Annotated[
        str, typer.Option("--quantizer", help="int8 route: qdq (edgecnn quantize) or nncf (openvino only).")
    ] = "qdq",
    calib: CalibData = None,
    calib_size: CalibSize = 300,
    weights: Weights = "auto",
    seed: Seed = 0,
    arch: Arch = None,
    input_shape: InputShape = None,
    dynamic_batch: Annotated[
        bool, typer.Option("--dynamic-batch", help="Export with a dynamic batch dimension.")
    ] = False,
    batch_range: Annotated[
        str | None, typer.Option("--batch-range", help="TensorRT profile min,opt,max batch (e.g. 1,4,8).")
    ] = None,
    opset: Annotated[
        int | None, typer.Option("--opset", help="ONNX opset (default: the installed exporter's).")
    ] = None,
    simplifier: Annotated[str, typer.Option("--simplifier", help="onnxslim, onnxsim or none.")] = "onnxslim",
    check: Annotated[
        bool, typer.Option("--check/--no-check", help="Compare the artifact's outputs with the reference.")
    ] = True,
    build_engine: Annotated[
        bool | None,
        typer.Option(
            "--build-engine/--no-build-engine",
            help="TensorRT: require / skip the engine build (default: build when possible).",
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Export a model for a target (ONNX, OpenVINO IR, TensorRT engine) and check it against the reference."""

    # before the model is loaded: a folder, a wrong suffix or an unwritable place is one line, exit 2
    check_out_file(out, suffixes=export_suffixes(get_target(target).export_format))
    source = (
        model
        if model.lower().endswith(".onnx")
        else _load(model, weights=weights, arch=arch, input_shape=input_shape, seed=seed)
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
        seed=seed,
    )
    if as_json:
        typer.echo(json.dumps(artifact.to_dict(), indent=2, default=str))
    else:
        _print(artifact)


def _load(model: str, *, weights: str, arch: str | None, input_shape: tuple[int, ...] | None, seed: int = 0):

    return load_model(model, weights=weights, arch=arch, input_shape=input_shape, seed=seed)


def _ints(text: str | None, count: int | None, flag: str) -> tuple[int, ...] | None:

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
    from rich.table import Table

    prov = artifact.provenance
    table = Table(title=escape(f"exported for {artifact.target}"), show_header=False)
    table.add_column("field")
    table.add_column("value")
    table.add_row("artifact", escape(" + ".join(str(p) for p in artifact.files)))
    engine = f" (engine: {prov['engine_precision']})" if "engine_precision" in prov else ""
    table.add_row("format / precision", escape(f"{artifact.format} / {artifact.precision}{engine}"))
    for role, path in prov.get("intermediates", {}).items():
        table.add_row(escape(role), escape(path))
    check = prov.get("check") or {}
    if "max_rel_error" in check:
        agreement = f", top-1 agreement {check['top1_agreement']:.1%}" if "top1_agreement" in check else ""
        table.add_row(
            "check",
            escape(
                f"vs {check['reference']} on {check['samples']} inputs: max abs {check['max_abs_error']:.2e}, "
                f"max rel {check['max_rel_error']:.2e}{agreement}"
            ),
        )
        runtime = check.get("runtime", {})
        if "inference_precision_hint" in runtime:
            table.add_row(
                "OpenVINO precision",
                escape(
                    f"{runtime['inference_precision_hint']} (compute layers: {runtime['compute_layer_precisions']})"
                ),
            )
    elif check:
        table.add_row("check", escape(str(check)))
    for warning in prov.get("warnings", []):
        table.add_row("[bold red]warning[/]", escape(warning))
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
