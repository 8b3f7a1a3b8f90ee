"""TensorRT engines from ONNX (int8 QDQ, fp16 or fp32), built on the device that runs them.

Written against the TensorRT 10/11 Python API: ONNX parser, a strongly typed network where the ONNX
carries its own precision (QDQ int8, fp16 weights), `BuilderFlag.FP16` for an fp32 ONNX asked to run in
fp16, an optimization profile for dynamic batch, a persistent timing cache, and the serialized engine with
a JSON sidecar recording the TensorRT version and GPU (an engine only runs where it was built).

Where TensorRT or a GPU is missing, the exporter still writes the TensorRT-ready ONNX next to the engine
path, checks int8 models against TensorRT's explicit-quantization rules, and returns the exact commands
that build the engine on the device (`artifact.provenance["engine_built"]` is False).
"""

from __future__ import annotations

import json
import logging
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from edgecnn.artifact import Artifact, _onnx_precision
from edgecnn.errors import DeviceUnavailableError, InvalidInputError
from edgecnn.exporters.staging import staged
from edgecnn.exporters.trt_rules import check_tensorrt_qdq
from edgecnn.fileio import atomic_write_text
from edgecnn.onnx_graph import data_inputs

log = logging.getLogger("edgecnn.export")

TrtPrecision = Literal["fp32", "fp16", "int8"]


@dataclass(frozen=True)
class BatchRange:
    """The optimization profile for a dynamic batch dimension: min, opt (tuned for), max."""

    min: int = 1
    opt: int = 1
    max: int = 8

    def __post_init__(self) -> None:
        if not 1 <= self.min <= self.opt <= self.max:
            raise InvalidInputError(f"batch range needs 1 <= min <= opt <= max, got {self.min}/{self.opt}/{self.max}")


def export_tensorrt(
    onnx_path: str | Path,
    out: str | Path,
    *,
    precision: TrtPrecision = "int8",
    batch: BatchRange | None = None,
    workspace_mb: int | None = None,
    timing_cache: str | Path | None = None,
    build: bool | None = None,
) -> Artifact:
    """Prepare (and where possible build) a TensorRT engine at `out` (.engine or .plan).

    onnx_path: fp32 ONNX, or the symmetric int8 QDQ ONNX for precision "int8". The TensorRT-ready ONNX is
    written beside `out` as `<out name>.onnx` (m.engine -> m.engine.onnx, never another export's m.onnx).
    build: None builds when TensorRT and a CUDA GPU are present; True requires them; False only prepares.
    Returns the engine Artifact when built, else the ONNX Artifact with `provenance["engine_built"] = False`
    and `provenance["build_commands"]`.
    """

    onnx_path, out = Path(onnx_path), _engine_path(out)
    if not onnx_path.exists():
        raise InvalidInputError(f"ONNX model not found: {onnx_path}")
    if precision not in ("fp32", "fp16", "int8"):
        raise InvalidInputError(f"TensorRT precision must be fp32, fp16 or int8, got {precision}")
    source_precision = _onnx_precision(onnx_path)
    if precision == "int8" and source_precision != "int8":
        raise InvalidInputError(
            f"{onnx_path} has no Q/DQ nodes: TensorRT 11 builds int8 only from an explicitly quantized (QDQ) model; "
            "quantize it first (edgecnn quantize --target tensorrt) or ask for fp16/fp32"
        )
    fixed = [i for i in _onnx_inputs(onnx_path) if isinstance(i["shape"][0], int)]
    static = [i["name"] for i in fixed if batch is not None and {batch.min, batch.opt, batch.max} != {i["shape"][0]}]
    if static:
        raise InvalidInputError(
            f"{onnx_path} has a static batch dimension (input {static[0]!r}): it cannot take the batch range "
            f"{batch.min},{batch.opt},{batch.max}; export it from the model with the batch range (or --dynamic-batch)"
        )
    rules = check_tensorrt_qdq(onnx_path).to_dict() if source_precision == "int8" else None
    ready = _write_ready_onnx(onnx_path, ready_onnx_path(out))
    inputs = _onnx_inputs(ready)
    if batch is None and any(not isinstance(i["shape"][0], int) for i in inputs):
        batch = BatchRange()  # a dynamic batch needs an optimization profile
    cache = Path(timing_cache) if timing_cache else out.with_name(out.name + ".timing.cache")
    strongly_typed = source_precision in ("int8", "fp16")
    commands = build_commands(
        ready,
        out,
        precision=precision,
        strongly_typed=strongly_typed,
        inputs=inputs,
        batch=batch,
        timing_cache=cache,
        workspace_mb=workspace_mb,
    )
    provenance: dict[str, Any] = {
        "source": str(onnx_path),
        "rules_check": rules,
        "build_commands": commands,
        "strongly_typed": strongly_typed,
    }
    reason = _cannot_build_reason()
    if build is False or (build is None and reason):
        log.warning("no TensorRT engine was built (%s); the TensorRT-ready ONNX is %s", reason or "build=False", ready)
        return Artifact(
            path=ready,
            format="onnx",
            precision=source_precision,
            target="tensorrt",
            inputs=inputs,
            provenance={
                **provenance,
                "engine_built": False,
                "engine_precision": precision,
                "why_not_built": reason or "build=False",
            },
        )
    if reason:
        raise DeviceUnavailableError(f"cannot build a TensorRT engine here: {reason}")
    meta = _build_engine(
        ready,
        out,
        precision=precision,
        strongly_typed=strongly_typed,
        inputs=inputs,
        batch=batch,
        workspace_mb=workspace_mb,
        timing_cache=cache,
    )
    return Artifact(
        path=out,
        format="tensorrt",
        precision=precision,
        target="tensorrt",
        inputs=inputs,
        provenance={**provenance, "engine_built": True, "engine": meta},
    )


def build_commands(
    onnx_path: Path,
    engine: Path,
    *,
    precision: str,
    strongly_typed: bool,
    inputs: list[dict[str, Any]],
    batch: BatchRange | None,
    timing_cache: Path,
    workspace_mb: int | None,
) -> dict[str, str]:
    """The trtexec command and the equivalent edgecnn command that build this engine on the device."""
    trtexec = ["trtexec", f"--onnx={onnx_path}", f"--saveEngine={engine}", f"--timingCacheFile={timing_cache}"]
    if strongly_typed:
        trtexec.append("--stronglyTyped")
    elif precision == "fp16":
        trtexec.append("--fp16")
    if workspace_mb:
        trtexec.append(f"--memPoolSize=workspace:{workspace_mb}M")
    edgecnn = [
        "edgecnn",
        "export",
        str(onnx_path),
        "--target",
        "tensorrt",
        "--precision",
        precision,
        "--out",
        str(engine),
    ]
    if batch:
        for flag, n in (("--minShapes", batch.min), ("--optShapes", batch.opt), ("--maxShapes", batch.max)):
            trtexec.append(
                flag + "=" + ",".join(f"{i['name']}:{'x'.join(str(d) for d in [n, *i['shape'][1:]])}" for i in inputs)
            )
        edgecnn += ["--batch-range", f"{batch.min},{batch.opt},{batch.max}"]
    return {"trtexec": shlex.join(trtexec), "edgecnn": shlex.join(edgecnn)}


def _build_engine(
    onnx_path: Path,
    out: Path,
    *,
    precision: str,
    strongly_typed: bool,
    inputs: list[dict[str, Any]],
    batch: BatchRange | None,
    workspace_mb: int | None,
    timing_cache: Path,
) -> dict[str, Any]:
    import tensorrt as trt

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0
    typed_flag = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    strongly_typed = strongly_typed and typed_flag is not None
    if strongly_typed:
        flags |= 1 << int(typed_flag)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(parser.get_error(i).desc() for i in range(parser.num_errors))
        raise InvalidInputError(f"TensorRT's ONNX parser rejected {onnx_path}: {errors[:400]}")
    config = builder.create_builder_config()
    if workspace_mb:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mb << 20)
    if not strongly_typed:
        _set_precision_flags(trt, config, precision)
    if batch:
        profile = builder.create_optimization_profile()
        for spec in inputs:
            dims = [int(d) for d in spec["shape"][1:]]
            profile.set_shape(spec["name"], [batch.min, *dims], [batch.opt, *dims], [batch.max, *dims])
        config.add_optimization_profile(profile)
    cache = config.create_timing_cache(timing_cache.read_bytes() if timing_cache.exists() else b"")
    config.set_timing_cache(cache, False)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise InvalidInputError(f"TensorRT could not build an engine from {onnx_path} (see the TensorRT log above)")
    with staged(out) as stage:
        stage.write_bytes(bytes(serialized))
    with staged(timing_cache) as stage:
        stage.write_bytes(bytes(config.get_timing_cache().serialize()))
    meta = {
        "tensorrt_version": trt.__version__,
        "gpu": _gpu_description(),
        "precision": precision,
        "strongly_typed": strongly_typed,
        "batch_range": batch.__dict__ if batch else None,
        "timing_cache": str(timing_cache),
        "inputs": inputs,
    }
    atomic_write_text(out.with_name(out.name + ".json"), json.dumps(meta, indent=2))
    return meta


def _set_precision_flags(trt: Any, config: Any, precision: str) -> None:
    if precision == "fp16":
        if not hasattr(trt.BuilderFlag, "FP16"):
            raise InvalidInputError(
                "this TensorRT has no FP16 builder flag (weak typing removed): give it an fp16 ONNX "
                "(edgecnn quantize --precision fp16) so the strongly typed network carries fp16"
            )
        config.set_flag(trt.BuilderFlag.FP16)
    if precision == "int8" and hasattr(trt.BuilderFlag, "INT8"):
        config.set_flag(trt.BuilderFlag.INT8)  # TensorRT 8/9 need it even for explicit QDQ in weakly typed networks


def _cannot_build_reason() -> str | None:
    import importlib.util

    if importlib.util.find_spec("tensorrt") is None:
        return 'TensorRT is not installed (pip install "edgecnn[tensorrt]" on an NVIDIA GPU machine)'
    try:
        import torch

        if not torch.cuda.is_available():
            return "no CUDA GPU is available"
    except ImportError:
        return "PyTorch with CUDA is needed to check for a GPU"
    return None


def _gpu_description() -> dict[str, Any]:
    import torch

    index = torch.cuda.current_device()
    props = torch.cuda.get_device_properties(index)
    return {
        "name": props.name,
        "compute_capability": f"{props.major}.{props.minor}",
        "memory_gb": round(props.total_memory / 2**30, 1),
        "cuda": torch.version.cuda,
    }


def _write_ready_onnx(source: Path, ready: Path) -> Path:
    """Copy the ONNX (and its external data) next to the engine path, atomically, unless it is already there."""
    if source.resolve() == ready.resolve():
        return ready
    data = source.with_name(source.name + ".data")
    if data.exists():
        import onnx

        from edgecnn.exporters.onnx import save_onnx

        return save_onnx(onnx.load(str(source)), ready, external_data=True)
    with staged(ready) as stage:
        shutil.copyfile(source, stage)
    return ready


def _onnx_inputs(path: Path) -> list[dict[str, Any]]:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    out = []
    for value in data_inputs(model.graph):
        dims = [
            d.dim_value if d.HasField("dim_value") else (d.dim_param or "batch")
            for d in value.type.tensor_type.shape.dim
        ]
        out.append(
            {
                "name": value.name,
                "shape": dims,
                "dtype": onnx.helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type).name,
            }
        )
    return out


def ready_onnx_path(engine: str | Path) -> Path:
    """The TensorRT-ready ONNX beside an engine, named after the engine's full name (m.engine -> m.engine.onnx),
    so it never replaces another export's m.onnx."""
    engine = Path(engine)
    return engine.with_name(engine.name + ".onnx")


def _engine_path(out: str | Path) -> Path:
    out = Path(out)
    if out.suffix.lower() not in (".engine", ".plan"):
        raise InvalidInputError(f"a TensorRT engine path must end in .engine or .plan, got {out}")
    return out
