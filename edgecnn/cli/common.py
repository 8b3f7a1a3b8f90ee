"""Helpers several command modules share. Heavy libraries are imported inside the functions."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import typer

from edgecnn.errors import InvalidInputError
from edgecnn.fileio import atomic_path, atomic_write_text, check_out_file
from edgecnn.quant.calibration import load_calibration
from edgecnn.zoo.loader import load_model


def load_spec(model: str, weights: str | None = "auto", arch: str | None = None, **kwargs: Any) -> Any:
    """The zoo loader behind every command that takes a model (family aliases resolve there)."""

    return load_model(model, weights=weights or "auto", arch=arch, **kwargs)


def per_layer(items: list[str]) -> dict[str, float]:
    """--layer NAME=VALUE (repeatable) -> {NAME: VALUE}."""
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.rpartition("=")
        try:
            out[name] = float(value)
        except ValueError:
            name = ""
        if not sep or not name:
            raise InvalidInputError(f"--layer expects NAME=VALUE (e.g. layer3.0.conv1=0.5), got '{item}'")
    return out


def calibration(source: str | None, spec: Any, size: int) -> Any:

    return load_calibration(source, spec, size=size)


def finish(spec: Any, step: dict[str, Any], out: Path | None, report_path: Path | None, as_json: bool, show) -> None:
    """Save the model (if --out), write the report (if --report), then print JSON or the human summary."""

    if out is not None:
        step["report"]["output"] = str(save_model(spec, out))
    text = json.dumps(step, indent=2, default=str)
    if report_path:
        atomic_write_text(report_path, text)
    if as_json:
        typer.echo(text)
    else:
        show(step["report"])


MODEL_SUFFIXES = (".onnx", ".pt", ".ts", ".pth")


def check_outputs(out: Path | None, report_path: Path | None) -> None:
    """Check --out and --report before the model is loaded: a bad path is one line and exit 2, not a lost run."""
    if out is not None:
        check_out_file(out, suffixes=MODEL_SUFFIXES)
    if report_path is not None:
        check_out_file(report_path, flag="--report")


def save_model(spec: Any, out: Path) -> Path:
    """.onnx: checked ONNX export; .pt/.ts: TorchScript (`edgecnn` loads it back by path); .pth: state dict."""
    import torch

    suffix = out.suffix.lower()
    if suffix == ".onnx":
        from edgecnn.exporters.onnx import export_onnx

        return export_onnx(spec, out).path
    if suffix not in (".pt", ".ts", ".pth"):
        raise InvalidInputError(f"--out must end in .onnx, .pt, .ts or .pth, got {out.name}")
    with atomic_path(out) as tmp:
        if suffix == ".pth":  # the architecture is unchanged only when no channel was removed (sparsify)
            torch.save(spec.module.state_dict(), tmp)
        else:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch.jit's deprecation notice; TorchScript still loads everywhere
                torch.jit.trace(spec.module.eval(), spec.example_input(1)).save(str(tmp))
    return out
