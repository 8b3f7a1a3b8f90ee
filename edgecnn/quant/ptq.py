"""Static int8 post-training quantization of an fp32 ONNX model to one QDQ graph, via ONNX Runtime's tooling.

ONNX Runtime already does the hard parts (shape-inference pre-processing, calibrators, QDQ insertion,
per-channel weights); this module maps a target's QuantProfile onto its options, calibrates once into a
range cache so later re-quantizations (sensitivity, fallback, bias correction) skip calibration, and
checks the result.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgecnn.errors import InvalidInputError, first_line
from edgecnn.onnx_graph import GraphIndex, data_inputs
from edgecnn.progress import track
from edgecnn.quant.config import CALIBRATION_METHODS, CalibrationMethod
from edgecnn.targets import QuantProfile

log = logging.getLogger("edgecnn.quant")

# ops whose int8 kernels pay off on CPU; everything else around them stays float (see latency fallback)
COMPUTE_OPS = ("Conv", "Gemm", "MatMul")
_CALIB_BATCH = 8
_CHUNK_SAMPLES = 16  # samples per collection chunk: bounds the memory held in intermediate outputs


@dataclass(frozen=True)
class PTQConfig:
    """How to quantize: the target's profile plus calibration and scope options."""

    profile: QuantProfile
    calibration_method: CalibrationMethod = "minmax"
    op_types: tuple[str, ...] | None = None  # None: every op ONNX Runtime can quantize
    nodes_to_exclude: tuple[str, ...] = ()
    nodes_to_quantize: tuple[str, ...] = ()  # non-empty: only these nodes (one-layer sensitivity)
    reduce_range: bool = False  # 7-bit weights: avoids int16 saturation of U8S8 on x86 without VNNI
    percentile: float = 99.999
    keep_removable_activations: bool = False  # keep Relu/Clip between QDQ (TensorRT fuses them itself)
    extra_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.calibration_method not in CALIBRATION_METHODS:
            raise InvalidInputError(
                f"unknown calibration method '{self.calibration_method}'; use one of {', '.join(CALIBRATION_METHODS)}"
            )
        if not 0 < self.percentile <= 100:
            raise InvalidInputError(f"percentile must be in (0, 100], got {self.percentile}")

    def with_changes(self, **changes: Any) -> PTQConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["profile"] = {**dataclasses.asdict(self.profile), "label": self.profile.label}
        return d


def prepare_for_quantization(fp32_path: str | Path, out_path: str | Path) -> Path:
    """ONNX Runtime's quant pre-processing: graph optimisation (folds BN, fuses) and shape inference."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    try:
        quant_pre_process(str(fp32_path), str(out_path), skip_symbolic_shape=True)
    except Exception as exc:  # its optimiser can fail on exotic graphs: shape inference alone still helps
        log.warning("quant pre-processing with optimisation failed (%s); retrying without it", first_line(exc))
        quant_pre_process(str(fp32_path), str(out_path), skip_optimization=True, skip_symbolic_shape=True)
    return Path(out_path)


def quantize_qdq(
    prepared: str | Path, out_path: str | Path, calib: np.ndarray, config: PTQConfig, *, cache_path: str | Path
) -> Path:
    """Quantize `prepared` (an fp32 ONNX from `prepare_for_quantization`) to a QDQ model at `out_path`.

    Ranges come from `cache_path` when it exists (same calibration method and data), else `calib` is run
    through ONNX Runtime's calibrator and the ranges are saved there.
    """
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    if not Path(cache_path).exists():
        calibrate_ranges(prepared, calib, config, cache_path=cache_path)
    profile = config.profile
    extra = {
        "ActivationSymmetric": profile.activation_symmetric,
        "WeightSymmetric": profile.weight_symmetric,
        "QDQKeepRemovableActivations": config.keep_removable_activations,
        "QuantizeBias": profile.quantize_bias,
        **config.extra_options,
    }
    try:
        quantize_static(
            str(prepared),
            str(out_path),
            None,
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(config.op_types) if config.op_types else None,
            per_channel=profile.per_channel,
            reduce_range=config.reduce_range,
            activation_type=QuantType.QUInt8 if profile.activation_type == "uint8" else QuantType.QInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=list(config.nodes_to_exclude),
            nodes_to_quantize=list(config.nodes_to_quantize) or None,
            calibrate_method=_ort_method(config.calibration_method),
            extra_options=extra,
            calibration_cache_path=str(cache_path),
        )
    except ValueError as exc:
        raise InvalidInputError(
            f"ONNX Runtime could not quantize the model: {str(exc).splitlines()[0][:300]}"
        ) from None
    return Path(out_path)


def calibrate_ranges(prepared: str | Path, calib: np.ndarray, config: PTQConfig, *, cache_path: str | Path) -> Path:
    """Run ONNX Runtime's calibrator over `calib` and save the tensor ranges to `cache_path` (JSON).

    Why not let quantize_static calibrate: it feeds the model's fixed batch of 1 (one run per sample, of
    a graph that outputs every intermediate tensor) and keeps every output until the end. A dynamic-batch
    copy fed in batches, collected in chunks, is several times faster and bounded in memory.
    """
    import tempfile

    from onnxruntime.quantization.calibrate import create_calibrator, save_tensors_data
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    op_types = list(config.op_types) if config.op_types else sorted(set(QLinearOpsRegistry) | set(QDQRegistry))
    with tempfile.TemporaryDirectory(prefix="edgecnn-calib-") as tmp:
        model_path, batch = _batched_copy(Path(prepared), Path(tmp) / "batched.onnx")
        fixed = Path(model_path) == Path(prepared)  # no dynamic-batch copy: the model runs only its own batch
        if fixed and batch > len(calib):
            raise InvalidInputError(
                f"the model has a fixed batch of {batch} but there are only {len(calib)} calibration samples"
            )
        if fixed and len(calib) % batch:
            calib = calib[: len(calib) - len(calib) % batch]  # a fixed-batch model cannot take a short last batch
        reader = ArrayReader(calib, batch=batch).bind(graph_input_name(model_path))
        calibrator = create_calibrator(
            Path(model_path),
            op_types,
            augmented_model_path=str(Path(tmp) / "augmented.onnx"),
            calibrate_method=_ort_method(config.calibration_method),
            extra_options={"percentile": config.percentile},
        )
        _use_uniform_histograms(calibrator)
        per_chunk = max(1, _CHUNK_SAMPLES // reader.batch)
        for start in track(range(0, len(reader), per_chunk), f"calibrating ({config.calibration_method})"):
            reader.set_range(start, start + per_chunk)
            calibrator.collect_data(reader)
        save_tensors_data(calibrator.compute_data(), cache_path)
        del calibrator
    return Path(cache_path)


def _use_uniform_histograms(calibrator: Any) -> None:
    """Give ONNX Runtime's percentile calibrator a collector that bins on the uniform-bin fast path.

    Its own collector passes the (uniform) bin edges as an array after the first batch, which sends
    `np.histogram` down its general binary-search path: on EfficientNet-Lite1, 64 samples took 111 s instead
    of 40 s, the same ranges to the bit (tests/quant/test_ptq.py compares them).
    """
    if getattr(calibrator, "method", None) != "percentile" or not getattr(calibrator, "symmetric", False):
        return
    calibrator.collector = _uniform_histogram_collector()(
        method=calibrator.method,
        symmetric=True,
        num_bins=calibrator.num_bins,
        num_quantized_bins=calibrator.num_quantized_bins,
        percentile=calibrator.percentile,
        scenario=calibrator.scenario,
    )


def _uniform_histogram_collector() -> type:
    """The collector class, made on first use (onnxruntime is imported lazily)."""
    from onnxruntime.quantization.calibrate import HistogramCollector

    class UniformHistogramCollector(HistogramCollector):
        def collect_absolute_value(self, name_to_arr: dict[str, Any]) -> None:
            """ONNX Runtime's histogram of |x| (the same bins, edges grown by whole bins), binned uniformly."""
            for tensor, arrays in name_to_arr.items():
                # one array per calibration batch: a chunk's last batch may be shorter, so concatenate, never stack
                parts = arrays if isinstance(arrays, list) else [arrays]
                x = np.concatenate([np.asarray(a).ravel() for a in parts])
                lo, hi = (np.nanmin(x), np.nanmax(x)) if x.size else (np.float32(0), np.float32(0))
                x = np.abs(x)
                if tensor not in self.histogram_dict:
                    hist, edges = np.histogram(x, bins=self.num_bins)
                    self.histogram_dict[tensor] = (hist, edges.astype(x.dtype), lo, hi)
                    continue
                old, edges, old_lo, old_hi = self.histogram_dict[tensor]
                top = np.nanmax(x) if x.size else edges[-1]
                if top > edges[-1]:
                    width = edges[1] - edges[0]
                    edges = np.hstack((edges, np.arange(edges[-1] + width, top + width, width))).astype(x.dtype)
                hist, _ = np.histogram(x, bins=len(edges) - 1, range=(float(edges[0]), float(edges[-1])))
                hist[: len(old)] += old
                self.histogram_dict[tensor] = (hist, edges, min(old_lo, lo), max(old_hi, hi))

    return UniformHistogramCollector


def _batched_copy(prepared: Path, out: Path) -> tuple[Path, int]:
    """A copy of `prepared` with a dynamic batch, if it runs at batch 2; else the model and its fixed batch."""
    import onnx
    import onnxruntime as ort

    fixed = _fixed_batch(prepared)
    if fixed is None:
        return prepared, _CALIB_BATCH
    model = onnx.load(str(prepared))
    for value in (*model.graph.input, *model.graph.output):
        dims = value.type.tensor_type.shape.dim
        if dims:
            dims[0].dim_param = "batch"
    del model.graph.value_info[:]
    onnx.save(model, str(out))
    try:
        so = ort.SessionOptions()
        # a failing probe is expected (the fallback below): keep ORT's red "GEMM: Dimension mismatch" quiet. The
        # kernel's failure is logged at ERROR (3) by the run's logger, so both levels are FATAL-only (4)
        so.log_severity_level = 4
        quiet = ort.RunOptions()
        quiet.log_severity_level = 4
        sess = ort.InferenceSession(str(out), sess_options=so, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        shape = [2, *[d if isinstance(d, int) else 1 for d in sess.get_inputs()[0].shape[1:]]]
        sess.run(None, {name: np.zeros(shape, np.float32)}, run_options=quiet)
    except Exception:  # a Reshape baked to batch 1, say: calibrate one sample at a time
        log.debug("the model does not run at batch 2; calibrating at its fixed batch %d", fixed)
        return prepared, fixed
    return out, _CALIB_BATCH


def _ort_method(name: str):
    from onnxruntime.quantization import CalibrationMethod as OrtMethod

    return {
        "minmax": OrtMethod.MinMax,
        "percentile": OrtMethod.Percentile,
        "entropy": OrtMethod.Entropy,
        "distribution": OrtMethod.Distribution,
    }[name]


class ArrayReader:
    """onnxruntime CalibrationDataReader over one float32 array, in batches the model accepts."""

    def __init__(self, x: np.ndarray, *, batch: int | None, input_name: str | None = None) -> None:
        self.x = x
        self.batch = batch or 16
        self.input_name = input_name
        self._starts = list(range(0, len(x), self.batch))
        self._pos, self._end = 0, len(self._starts)

    def bind(self, input_name: str) -> ArrayReader:
        self.input_name = input_name
        return self

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._pos >= self._end:
            return None
        start = self._starts[self._pos]
        self._pos += 1
        return {self.input_name: self.x[start : start + self.batch]}

    def __iter__(self):
        return self

    def __next__(self) -> dict[str, np.ndarray]:
        item = self.get_next()
        if item is None:
            raise StopIteration
        return item

    def __len__(self) -> int:
        return len(self._starts)

    def set_range(self, start_index: int, end_index: int) -> None:
        self._pos, self._end = start_index, min(end_index, len(self._starts))


def graph_input_name(path: str | Path) -> str:
    import onnx

    return data_inputs(onnx.load(str(path), load_external_data=False).graph)[0].name


def quantizable_nodes(path: str | Path, op_types: tuple[str, ...] = COMPUTE_OPS) -> list[str]:
    """Names of the nodes of the given op types (the layers sensitivity analysis ranks)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    inits = {i.name for i in model.graph.initializer}
    return [n.name for n in model.graph.node if n.op_type in op_types and any(i in inits for i in n.input[1:2])]


def count_qdq(path: str | Path) -> dict[str, int]:
    """How much of the graph is int8: Q/DQ counts and the compute nodes fed by a DequantizeLinear."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    index = GraphIndex(model.graph)
    compute = [n for n in model.graph.node if n.op_type in COMPUTE_OPS]
    return {
        "quantize_linear": sum(n.op_type == "QuantizeLinear" for n in model.graph.node),
        "dequantize_linear": sum(n.op_type == "DequantizeLinear" for n in model.graph.node),
        "compute_nodes": len(compute),
        # int8 when both the activation and the weight arrive through DequantizeLinear (ORT then fuses an int8 kernel)
        "compute_nodes_int8": sum(
            len(n.input) > 1 and all(index.producer(name, "DequantizeLinear") for name in n.input[:2]) for n in compute
        ),
    }


def _fixed_batch(path: str | Path) -> int | None:
    """The model's fixed batch size, or None when the batch dimension is dynamic."""
    import onnx

    first = data_inputs(onnx.load(str(path), load_external_data=False).graph)[0]
    dim = first.type.tensor_type.shape.dim[0]
    return int(dim.dim_value) if dim.HasField("dim_value") else None
