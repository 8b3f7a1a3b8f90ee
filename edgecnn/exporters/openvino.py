"""OpenVINO IR (.xml + .bin): from fp32 or int8 QDQ ONNX, or quantized by NNCF straight from PyTorch.

OpenVINO runs a QDQ ONNX model in int8 (its low-precision transformations fuse the Q/DQ pairs into int8
kernels), so the QDQ route shares one int8 model with ONNX Runtime. NNCF is offered as the alternative
quantizer for this target: it quantizes `ov.convert_model(torch_model)`, which ran faster than the model
converted from the exported ONNX file (see FACTS.md).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path
from typing import Any, Literal

import numpy as np

from edgecnn.artifact import Artifact, Precision, _onnx_precision
from edgecnn.errors import InvalidInputError, require
from edgecnn.exporters.staging import staged
from edgecnn.runtime.openvino import port_name
from edgecnn.spec import ModelSpec

log = logging.getLogger("edgecnn.export")

NncfPreset = Literal["performance", "mixed"]


def export_openvino(onnx_path: str | Path, out: str | Path, *, compress_to_fp16: bool = False) -> Artifact:
    """Convert an ONNX file (fp32 or int8 QDQ) to OpenVINO IR at `out` (.xml; the .bin beside it).

    compress_to_fp16 stores float weights as fp16 (half the size); the inference precision is still chosen
    at compile time (the openvino backend forces f32 unless told otherwise).
    """
    ov = require("openvino", extra="openvino", why="needed to write OpenVINO IR")

    onnx_path, out = Path(onnx_path), _xml_path(out)
    try:
        model = ov.convert_model(str(onnx_path))
    except Exception as exc:  # OpenVINO raises its own GeneralFailure/OpConversionFailure types
        raise InvalidInputError(f"OpenVINO cannot convert {onnx_path}: {str(exc).splitlines()[0][:300]}") from None
    source_precision = _onnx_precision(onnx_path)
    precision: Precision = "fp16" if compress_to_fp16 and source_precision == "fp32" else source_precision
    _save(ov, model, out, compress_to_fp16=compress_to_fp16)
    return Artifact(
        path=out,
        format="openvino",
        precision=precision,
        target="openvino",
        inputs=model_io(model.inputs, "input"),
        outputs=model_io(model.outputs, "output"),
        provenance={
            "source": str(onnx_path),
            "converter": f"openvino {ov.__version__} convert_model (ONNX)",
            "compress_to_fp16": compress_to_fp16,
            "quantizer": "qdq" if precision == "int8" else None,
        },
    )


def nncf_quantize_openvino(
    spec: ModelSpec,
    out: str | Path,
    *,
    calib_data: np.ndarray,
    dynamic_batch: bool = False,
    preset: NncfPreset = "performance",
    fast_bias_correction: bool = True,
    output_names: list[str] | None = None,
) -> Artifact:
    """Quantize `spec` to int8 with NNCF post-training quantization and write OpenVINO IR at `out`.

    calib_data: preprocessed float32 samples (N, C, H, W) fed one at a time, as the model runs at batch 1.
    preset "performance" makes activations symmetric (fastest); "mixed" makes them asymmetric.
    """
    ov = require("openvino", extra="openvino", why="needed for NNCF quantization to OpenVINO IR")
    nncf = require("nncf", extra="openvino", why="NNCF is the OpenVINO target's alternative quantizer")
    import torch

    calib = np.asarray(calib_data, dtype=np.float32)
    if calib.ndim != len(spec.input.shape) or tuple(calib.shape[1:]) != spec.input.shape[1:]:
        raise InvalidInputError(
            f"calibration data of shape {calib.shape} does not fit the model input {spec.input.shape}"
        )
    out = _xml_path(out)
    shape = [-1 if dynamic_batch else spec.input.shape[0], *spec.input.shape[1:]]
    example = torch.from_numpy(calib[:1])
    with torch.no_grad():
        model = ov.convert_model(spec.module.eval(), example_input=example, input=[shape])
    _name_io(model, [spec.input.name], output_names or ["logits"])
    dataset = nncf.Dataset([calib[i : i + 1] for i in range(len(calib))])
    with contextlib.redirect_stdout(sys.stderr):  # NNCF's progress bars print to stdout, which --json owns
        quantized = nncf.quantize(
            model,
            dataset,
            preset=nncf.QuantizationPreset(preset),
            subset_size=len(calib),
            fast_bias_correction=fast_bias_correction,
        )
    _save(ov, quantized, out, compress_to_fp16=False)
    return Artifact(
        path=out,
        format="openvino",
        precision="int8",
        target="openvino",
        inputs=model_io(quantized.inputs, "input", layout=spec.input.layout),
        outputs=model_io(quantized.outputs, "output"),
        provenance={
            "model": spec.describe(),
            "quantizer": "nncf",
            "converter": f"openvino {ov.__version__} convert_model (PyTorch) + nncf {nncf.__version__}",
            "nncf": {"preset": preset, "calibration_samples": len(calib), "fast_bias_correction": fast_bias_correction},
        },
    )


def model_io(ports: Any, kind: str, *, layout: str | None = None) -> list[dict[str, Any]]:
    """Name (`port_name`), shape (a dynamic dimension becomes "batch" at 0, else null), dtype of OpenVINO ports."""
    io = []
    for index, port in enumerate(ports):
        shape: list[int | str | None] = []
        for i, dim in enumerate(port.get_partial_shape()):
            shape.append(dim.get_length() if dim.is_static else ("batch" if i == 0 else None))
        entry: dict[str, Any] = {
            "name": port_name(port, index, kind),
            "shape": shape,
            "dtype": port.get_element_type().to_dtype().name,
        }
        if layout:
            entry["layout"] = layout
        io.append(entry)
    return io


def _name_io(model: Any, input_names: list[str], output_names: list[str]) -> None:
    # models converted from PyTorch get tracer names (x, 123); give them the names the ONNX route has
    for port, name in zip(model.inputs, input_names):
        port.get_tensor().set_names({name})
    for port, name in zip(model.outputs, output_names):
        port.get_tensor().set_names({name})


def _save(ov: Any, model: Any, out: Path, *, compress_to_fp16: bool) -> None:
    bin_name = out.with_suffix(".bin").name
    with staged(out, bin_name) as stage:
        # save_model compresses weights to fp16 unless told not to: an fp32 export must say so
        ov.save_model(model, str(stage), compress_to_fp16=compress_to_fp16)


def _xml_path(out: str | Path) -> Path:
    out = Path(out)
    if out.suffix.lower() != ".xml":
        raise InvalidInputError(f"an OpenVINO IR path must end in .xml (the weights go to a .bin beside it), got {out}")
    return out
