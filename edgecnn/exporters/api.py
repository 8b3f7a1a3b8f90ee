"""`edgecnn.export(...)`: a model (or ONNX file) -> a checked artifact for one target and precision.

The flow is the one in DESIGN.md: PyTorch -> fp32 ONNX -> (int8 QDQ via `edgecnn.quantize`, or fp16) ->
the target's format (ONNX for ONNX Runtime, IR for OpenVINO, an engine for TensorRT). The final
artifact is always run against the reference (PyTorch when given a model, else the source ONNX) and the
errors land in `artifact.provenance["check"]`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np

from edgecnn.artifact import Artifact, _onnx_precision
from edgecnn.errors import InvalidInputError, UserError
from edgecnn.exporters.onnx import export_onnx, save_onnx
from edgecnn.exporters.tensorrt import BatchRange, _cannot_build_reason, export_tensorrt
from edgecnn.fileio import check_out_file
from edgecnn.metrics import flat_outputs, measure_fidelity
from edgecnn.quant.api import quantize
from edgecnn.quant.calibration import input_spec_of_onnx
from edgecnn.quant.config import AdvancedQuantization
from edgecnn.runtime import load_session
from edgecnn.spec import ModelSpec, as_spec
from edgecnn.targets import TARGETS, get_target

log = logging.getLogger("edgecnn.export")

ExportTarget = str  # a name in edgecnn.targets.TARGETS
ExportPrecision = Literal["fp32", "fp16", "int8"]
Quantizer = Literal["qdq", "nncf"]
CHECK_SAMPLES = 8
# fp32 artifacts must reproduce PyTorch to this relative error (max |diff| / max |reference|)
FP32_TOLERANCE = 1e-4
# below this top-1 agreement, or above this max relative error, an exported artifact is flagged (any precision)
MIN_AGREEMENT = 0.9
MAX_REL_ERROR = 0.5


def export(
    model_or_onnx: Any,
    *,
    target: ExportTarget = "onnxruntime",
    out: str | os.PathLike,
    precision: ExportPrecision = "fp32",
    quantizer: Quantizer = "qdq",
    calib_data: Any = None,
    calib_size: int = 300,
    input_shape: tuple[int, ...] | None = None,
    dynamic_batch: bool = False,
    opset: int | None = None,
    simplify: bool | str = True,
    check: bool = True,
    check_inputs: np.ndarray | None = None,
    batch_range: tuple[int, int, int] | None = None,
    build_engine: bool | None = None,
    quantize_advanced: AdvancedQuantization | None = None,
    seed: int = 0,
) -> Artifact:
    """Export a ModelSpec, nn.Module (with input_shape), zoo name, or ONNX file for `target` at `out`.

    out: the final file: .onnx (onnxruntime, cuda, arm), .xml (openvino), .engine/.plan (tensorrt); the
    intermediate ONNX files are kept beside it. precision "int8" quantizes with `edgecnn.quantize` (the
    target's QDQ profile) unless the ONNX is already QDQ; quantizer "nncf" (openvino only) quantizes the
    PyTorch model with NNCF instead. calib_data: anything `load_calibration` takes (None: default photos).
    For tensorrt without TensorRT/GPU the TensorRT-ready ONNX is returned with `provenance["engine_built"]`
    False and the build commands in `provenance["build_commands"]`. quantize_advanced: the rare knobs of
    `edgecnn.quantize` (an `AdvancedQuantization`, e.g. calibration_method, check_latency); calib_size wins
    over its calib_size.
    """
    tgt = get_target(target)
    if precision not in ("fp32", "fp16", "int8"):
        raise InvalidInputError(f"precision must be fp32, fp16 or int8, got {precision!r}")
    if quantizer not in ("qdq", "nncf"):
        raise InvalidInputError(f"quantizer must be qdq or nncf, got {quantizer!r}")
    if quantizer == "nncf" and (tgt.export_format != "openvino" or precision != "int8"):  # NNCF writes OpenVINO IR
        raise InvalidInputError(
            "quantizer='nncf' is the OpenVINO int8 quantizer: use it with target='openvino', precision='int8'"
        )
    out = Path(out)
    _check_suffix(out, tgt.export_format)
    if batch_range is not None and tgt.export_format == "tensorrt":
        dynamic_batch = True  # a TensorRT profile over batch sizes needs a batch axis that can take them
    spec, onnx_source = _resolve_model(model_or_onnx, input_shape, seed)
    if spec is None and quantizer == "nncf":
        raise InvalidInputError(
            "NNCF quantizes the PyTorch model: pass a model, not an ONNX file, or use quantizer='qdq'"
        )
    calib = calib_data  # an ONNX source: edgecnn.quantize reads the data against the ONNX input itself
    if spec is not None and precision == "int8":
        from edgecnn.quant.calibration import load_calibration

        calib = load_calibration(calib_data, spec, size=calib_size, seed=seed)
    intermediates: dict[str, str] = {}
    if quantizer == "nncf":
        from edgecnn.exporters.openvino import nncf_quantize_openvino

        artifact = nncf_quantize_openvino(spec, out, calib_data=calib, dynamic_batch=dynamic_batch)  # type: ignore[arg-type]
    else:
        onnx_path = _model_onnx(
            spec,
            onnx_source,
            out,
            tgt,
            precision,
            calib,
            calib_size,
            intermediates,
            quantize_advanced or AdvancedQuantization(),
            dynamic_batch=dynamic_batch,
            opset=opset,
            simplify=simplify,
        )
        artifact = _to_target(onnx_path, out, tgt.export_format, precision, batch_range, build_engine)
    artifact.target = tgt.name
    artifact.provenance["intermediates"] = intermediates
    if spec is not None:
        artifact.provenance.setdefault("model", spec.describe())
    if check:
        artifact.provenance["check"] = verify(
            artifact, spec=spec, reference_onnx=onnx_source, inputs=check_inputs, seed=seed
        )
        _warn_if_unfaithful(artifact)
    return artifact


def _warn_if_unfaithful(artifact: Artifact) -> None:
    """A check that shows the artifact disagreeing with its reference is a warning, never just a number."""
    check = artifact.provenance["check"]
    agreement, rel = check.get("top1_agreement"), check.get("max_rel_error")
    if agreement is None or (agreement >= MIN_AGREEMENT and (rel or 0.0) < MAX_REL_ERROR):
        return
    why = check.get("flat_outputs")
    message = (
        f"{artifact.path.name} ({artifact.precision}) agrees with {check['reference']} on top-1 for only "
        f"{agreement:.0%} of {check.get('samples', CHECK_SAMPLES)} inputs (max relative error {rel:.2g})"
        + (f"; {why}: check with trained weights before trusting it" if why else "")
    )
    log.warning("%s", message)
    artifact.provenance.setdefault("warnings", []).append(message)


def _model_onnx(
    spec: ModelSpec | None,
    onnx_source: Path | None,
    out: Path,
    tgt: Any,
    precision: str,
    calib: Any,
    calib_size: int,
    intermediates: dict[str, str],
    advanced: AdvancedQuantization,
    **onnx_options: Any,
) -> Path:
    """The ONNX the target converts: the source or a fresh fp32 export, quantized when int8/fp16 is asked."""

    final_is_onnx = tgt.export_format == "onnx"
    source_precision = _onnx_precision(onnx_source) if onnx_source else "fp32"
    # fp16 for OpenVINO/TensorRT is a conversion/build option; only ONNX targets need an fp16 ONNX
    needs_quant = (precision == "int8" and source_precision != "int8") or (
        precision == "fp16" and final_is_onnx and source_precision == "fp32"
    )
    if onnx_source is None:
        onnx_source = out if final_is_onnx and not needs_quant else _beside(out, ".fp32.onnx")
        export_onnx(spec, onnx_source, check=False, **onnx_options)  # type: ignore[arg-type]
        intermediates["fp32_onnx"] = str(onnx_source)
    elif not needs_quant and final_is_onnx and source_precision != precision and source_precision != "int8":
        raise InvalidInputError(f"{onnx_source} is {source_precision}; cannot export it as {precision}")
    if not needs_quant:
        return _copy_to(onnx_source, out) if final_is_onnx else onnx_source
    # TensorRT reads the ONNX beside its engine (<engine name>.onnx, e.g. m.engine.onnx); OpenVINO keeps the QDQ
    # model as <xml name>.int8.onnx
    quant_out = (
        out if final_is_onnx else _beside(out, ".onnx" if tgt.export_format == "tensorrt" else f".{precision}.onnx")
    )
    result = _quantize(
        onnx_source,
        target=tgt.name,
        precision=precision,
        calib=calib,
        out=quant_out,
        advanced=advanced if advanced.calib_size else advanced.replace(calib_size=calib_size),
    )
    intermediates[f"{precision}_onnx"] = str(result.artifact.path)
    return Path(result.artifact.path)


def _to_target(
    onnx_path: Path,
    out: Path,
    export_format: str,
    precision: str,
    batch_range: tuple[int, int, int] | None,
    build_engine: bool | None,
) -> Artifact:
    if export_format == "onnx":
        return Artifact.from_path(onnx_path)
    if export_format == "openvino":
        from edgecnn.exporters.openvino import export_openvino

        return export_openvino(onnx_path, out, compress_to_fp16=precision == "fp16")

    batch = BatchRange(*batch_range) if batch_range else None
    return export_tensorrt(onnx_path, out, precision=precision, batch=batch, build=build_engine)  # type: ignore[arg-type]


def _quantize(
    onnx_path: Path, *, target: str, precision: str, calib: Any, out: Path, advanced: AdvancedQuantization
) -> Any:
    """Quantize with `edgecnn.quantize` (the target's QDQ profile); returns its QuantizationResult."""

    return quantize(
        str(onnx_path), target=target, precision=precision, calib_data=calib, out=str(out), advanced=advanced
    )


def verify(
    artifact: Artifact,
    *,
    spec: ModelSpec | None,
    reference_onnx: Path | None = None,
    inputs: np.ndarray | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Run `artifact` and its reference (PyTorch, else the source ONNX) on the same inputs; compare outputs.

    Default inputs: real photos (the default calibration set, another seed) for a model with image
    preprocessing, else seeded random data. Reports max abs/relative error, top-1 agreement and what ran.
    """

    if artifact.format == "tensorrt" and not _can_run_tensorrt():
        return {"skipped": "no TensorRT/GPU here to run the engine"}
    x = inputs if inputs is not None else _check_inputs(spec, reference_onnx, seed)
    options: dict[str, Any] = {}
    if artifact.format == "onnx" and artifact.target in TARGETS:
        # an ONNX file is checked the way its target checks it here (Q/DQ simulated for a GPU runtime's int8)
        check = get_target(artifact.target).validation(artifact, artifact)
        options = {"backend": check.backend, **check.options}
    with load_session(artifact, **options) as session:
        out = _run_each(session, x)
        described = session.describe()
    if spec is not None:
        with load_session(spec, backend="torch") as reference_session:
            ref = reference_session.run(x)[0]
        reference = "pytorch"
    else:
        with load_session(Artifact.from_path(reference_onnx)) as reference_session:  # type: ignore[arg-type]
            ref = _run_each(reference_session, x)
        reference = f"onnxruntime ({reference_onnx})"
    result: dict[str, Any] = {"reference": reference, **measure_fidelity(ref, out).to_dict()}
    flat = flat_outputs(ref)
    if flat:
        result["flat_outputs"] = flat
    result["runtime"] = described
    if artifact.precision == "fp32" and result["max_rel_error"] > FP32_TOLERANCE:
        log.warning(
            "%s differs from %s by %.2e relative (tolerance %.0e)",
            artifact.path.name,
            reference,
            result["max_rel_error"],
            FP32_TOLERANCE,
        )
    return result


def _check_inputs(spec: ModelSpec | None, reference_onnx: Path | None, seed: int) -> np.ndarray:
    if spec is not None and spec.preprocess is not None and spec.input.layout == "NCHW":
        from edgecnn.quant.calibration import load_calibration

        return load_calibration(None, spec, size=CHECK_SAMPLES, seed=seed + 1)
    if spec is not None:
        return spec.example_input(CHECK_SAMPLES, seed=seed + 1).numpy()

    shape = input_spec_of_onnx(reference_onnx).with_batch(CHECK_SAMPLES).shape  # type: ignore[arg-type]
    return np.random.default_rng(seed + 1).standard_normal(shape).astype(np.float32)


def _run_each(session: Any, x: np.ndarray) -> np.ndarray:
    """Run sample by sample: a static-batch model takes one at a time, and batch 1 is what devices run."""
    return np.concatenate([session.run(x[i : i + 1])[0] for i in range(len(x))])


def _resolve_model(
    model: Any, input_shape: tuple[int, ...] | None, seed: int = 0
) -> tuple[ModelSpec | None, Path | None]:
    if isinstance(model, (str, os.PathLike)) and str(model).lower().endswith(".onnx"):
        path = Path(model)
        if not path.exists():
            raise InvalidInputError(f"ONNX model not found: {path}")
        return None, path
    if isinstance(model, Artifact):
        if model.format != "onnx":
            raise InvalidInputError(f"export starts from a model or an ONNX artifact, not a {model.format} artifact")
        return None, model.path
    if isinstance(model, (str, os.PathLike)):
        from edgecnn.zoo.loader import load_model

        return load_model(str(model), input_shape=input_shape, seed=seed), None

    return as_spec(model, input_shape=input_shape), None


def _beside(out: Path, suffix: str) -> Path:
    """An intermediate named after `out`'s full name (out/m.engine -> out/m.engine.fp32.onnx): it can never be
    another export's file (out/m.onnx), so an export writes only paths derived from the one it was given."""
    return out.with_name(out.name + suffix)


def _copy_to(source: Path, out: Path) -> Path:
    if source.resolve() == out.resolve():
        return source
    import onnx

    return save_onnx(onnx.load(str(source)), out, external_data=source.with_name(source.name + ".data").exists())


def export_suffixes(export_format: str) -> tuple[str, ...]:
    """The file suffixes an export of `export_format` may be written to."""
    return {"onnx": (".onnx",), "openvino": (".xml",), "tensorrt": (".engine", ".plan")}[export_format]


def _check_suffix(out: Path, export_format: str) -> None:
    allowed = export_suffixes(export_format)
    if out.suffix.lower() not in allowed:
        raise UserError(f"--out for a {export_format} export must end in {' or '.join(allowed)}, got {out}")
    check_out_file(out, suffixes=allowed)  # a folder or an unwritable place: one line, before any work


def _can_run_tensorrt() -> bool:

    return _cannot_build_reason() is None
