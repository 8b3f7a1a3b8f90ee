"""Roofline: how close a model gets to this machine's achievable MAC/s, measured, not taken from a datasheet.

The peak is measured once per machine, runtime, thread count and precision by running a large,
compute-bound conv stack (four 3x3 256->256 convolutions at 56x56, 7.4 GMAC) through the same runtime
the models run in, and cached in the user cache directory (platformdirs; ~/.cache/edgecnn on Linux,
`EDGECNN_CACHE` moves it) in peak.json, keyed by the machine fingerprint. Processes that profile at once
take turns on a file lock around measuring and updating it: measurements do not disturb each other and no
process's entry is lost.
A model's achieved MAC/s is its MACs (counted from the ONNX graph, or the PyTorch module) over its
median latency.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import filelock
import numpy as np
import platformdirs

from edgecnn.errors import InvalidInputError
from edgecnn.fileio import atomic_write_text
from edgecnn.onnx_graph import GraphIndex
from edgecnn.profiling.environment import fingerprint, machine_key
from edgecnn.profiling.timing import TimingProtocol, measure
from edgecnn.runtime import load_session
from edgecnn.spec import InputSpec, ModelSpec

log = logging.getLogger("edgecnn.profile")

PEAK_CHANNELS, PEAK_SIZE, PEAK_LAYERS = 256, 56, 4
PEAK_MACS = PEAK_LAYERS * PEAK_SIZE * PEAK_SIZE * PEAK_CHANNELS * PEAK_CHANNELS * 9
ONNX_PEAK_BACKENDS = ("onnxruntime", "openvino")
LOCK_TIMEOUT_S = 600.0  # another process measuring a peak takes seconds; ten minutes means something is stuck


def cache_path() -> Path:
    root = os.environ.get("EDGECNN_CACHE") or platformdirs.user_cache_path("edgecnn", appauthor=False)
    return Path(root) / "peak.json"


# ---------------------------------------------------------------- MAC counting on ONNX graphs


def onnx_macs(path: str | Path) -> int:
    """Multiply-accumulates of Conv, ConvTranspose, Gemm and MatMul nodes for one input item.

    Works on fp32 and QDQ graphs alike (a quantized conv's weight shape is read through its
    DequantizeLinear). Symbolic (dynamic) dimensions count as 1, i.e. batch 1.
    """
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    try:
        model = onnx.shape_inference.infer_shapes(model)
    except Exception as exc:  # shape inference fails on some custom ops; count what is known
        log.debug("shape inference failed on %s: %s", path, exc)
    shapes: dict[str, list[int]] = {}
    for vi in [*model.graph.input, *model.graph.value_info, *model.graph.output]:
        dims = vi.type.tensor_type.shape.dim
        shapes[vi.name] = [d.dim_value if d.HasField("dim_value") else 1 for d in dims]
    for init in model.graph.initializer:
        shapes[init.name] = list(init.dims)
    index = GraphIndex(model.graph)

    def shape(name: str) -> list[int] | None:
        if name in shapes:
            return shapes[name]
        node = index.producer(name)  # weights reached through DequantizeLinear / Cast / Identity
        if node is not None and node.op_type in ("DequantizeLinear", "Cast", "Identity") and node.input:
            return shape(node.input[0])
        return None

    total = 0
    for node in model.graph.node:
        out = shape(node.output[0]) if node.output else None
        if node.op_type == "Conv":
            w = shape(node.input[1])
            if out and w:
                total += int(np.prod(out[1:])) * int(np.prod(w[1:]))
        elif node.op_type == "ConvTranspose":
            x, w = shape(node.input[0]), shape(node.input[1])
            if x and w:
                total += int(np.prod(x[1:])) * int(np.prod(w[1:]))
        elif node.op_type in ("Gemm", "MatMul"):
            a = shape(node.input[0])
            if out and a:
                trans_a = any(at.name == "transA" and at.i for at in node.attribute)
                k = a[-2] if trans_a and len(a) >= 2 else a[-1]
                total += int(np.prod(out[1:] if len(out) > 2 else out[-1:])) * int(k)
    return int(total)


def model_macs(model: Any) -> int | None:
    """MACs per item of an Artifact/ONNX path or a ModelSpec; None where they cannot be counted."""
    if hasattr(model, "module"):
        try:
            from edgecnn.analysis.summary import count_params_macs
        except ImportError:
            return None
        macs = count_params_macs(model)[1]
        return None if macs is None else int(macs)  # TorchScript hides its layers: no MACs to count
    path = Path(getattr(model, "path", model))
    if path.suffix == ".onnx":
        try:
            return onnx_macs(path)
        except ImportError:
            return None
    return None


# ---------------------------------------------------------------- peak measurement


def _conv_stack_onnx(path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    c, s = PEAK_CHANNELS, PEAK_SIZE
    nodes, inits, prev = [], [], "x"
    for i in range(PEAK_LAYERS):
        w = (rng.standard_normal((c, c, 3, 3)) * (2.0 / (9 * c)) ** 0.5).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(np.zeros(c, np.float32), f"b{i}")]
        nodes.append(helper.make_node("Conv", [prev, f"w{i}", f"b{i}"], [f"c{i}"], pads=[1, 1, 1, 1]))
        nodes.append(helper.make_node("Relu", [f"c{i}"], [f"r{i}"]))
        prev = f"r{i}"
    graph = helper.make_graph(
        nodes,
        "peak_conv_stack",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, s, s])],
        [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [1, c, s, s])],
        inits,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


def quantize_u8s8(
    src: str | Path,
    dst: str | Path,
    calibration: np.ndarray,
    *,
    input_name: str | None = None,
    reduce_range: bool = False,
) -> Path:
    """QDQ U8S8 per-channel ONNX (the int8 format that is fast on ONNX Runtime / OpenVINO CPUs, DESIGN.md).

    Used for the peak workload, and by benchmarks/tests as a fallback where `edgecnn.quantize` is not
    available; `calibration` is a batch whose items are fed one at a time. `reduce_range` (7-bit
    weights) avoids the int16 saturation of u8*s8 products in x86 AVX2 kernels without VNNI.
    """
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    name = input_name or onnx.load(str(src), load_external_data=False).graph.input[0].name

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter([{name: calibration[i : i + 1]} for i in range(len(calibration))])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # quantize_static logs a "consider pre-processing" warning on the root logger
    try:
        quantize_static(
            str(src),
            str(dst),
            _Reader(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=reduce_range,
        )
    finally:
        root.setLevel(level)
    return Path(dst)


def _time_gmacs(session: Any, x: Any, seconds: float) -> float:

    stats = measure(session, x, TimingProtocol(warmup=2, min_iters=5, min_seconds=seconds))
    # the best decile, not the median: the peak is what the hardware can do when nobody else is using it
    return PEAK_MACS / (stats.percentile(10) / 1e3) / 1e9


def measure_peak(backend: str, *, threads: int, seconds: float = 1.0) -> dict[str, float | None]:
    """Measure fp32 and int8 GMAC/s of `backend` ("onnxruntime", "openvino", "torch") with `threads` threads."""

    x = np.random.default_rng(1).standard_normal((1, PEAK_CHANNELS, PEAK_SIZE, PEAK_SIZE)).astype(np.float32)
    with tempfile.TemporaryDirectory(prefix="edgecnn-peak-") as tmp:
        fp32, int8 = Path(tmp) / "peak_fp32.onnx", Path(tmp) / "peak_int8.onnx"
        _conv_stack_onnx(fp32)
        if backend == "torch":
            return {"fp32": _torch_peak(x, threads, seconds), "int8": None}
        quantize_u8s8(fp32, int8, x, input_name="x")
        out: dict[str, float | None] = {}
        for precision, path in (("fp32", fp32), ("int8", int8)):
            with load_session(path, backend=backend, threads=threads) as session:
                out[precision] = round(_time_gmacs(session, x, seconds), 2)
        return out


def _torch_peak(x: np.ndarray, threads: int, seconds: float) -> float:
    import torch
    from torch import nn

    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for _ in range(PEAK_LAYERS):
        layers += [nn.Conv2d(PEAK_CHANNELS, PEAK_CHANNELS, 3, padding=1), nn.ReLU()]
    spec = ModelSpec(module=nn.Sequential(*layers), input=InputSpec(tuple(x.shape)), name="peak_conv_stack")
    with load_session(spec, backend="torch", threads=threads) as session:
        return round(_time_gmacs(session, x, seconds), 2)


def get_peak(backend: str, *, threads: int, refresh: bool = False) -> dict[str, Any] | None:
    """This machine's fp32/int8 GMAC/s for `backend` at `threads`, from the cache or measured now (a few seconds).

    `refresh` measures again and keeps the better of the old and new values. None for backends whose
    peak is not measured here (remote devices, GPUs).
    """

    if backend not in (*ONNX_PEAK_BACKENDS, "torch"):
        return None
    path = cache_path()
    fp = fingerprint()
    key, entry = machine_key(fp), f"{backend}/threads={threads}"
    old = _read_cache(path).get(key, {}).get("peaks", {}).get(entry)  # no lock: writes are atomic renames
    if not refresh and old:
        return old
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with filelock.FileLock(f"{path}.lock", timeout=LOCK_TIMEOUT_S):
            cache = _read_cache(path)  # again, under the lock: another process may have added entries meanwhile
            machine = cache.setdefault(key, {"cpu": fp["cpu"], "flags": fp["flags"], "cores": fp["cores"], "peaks": {}})
            old = machine["peaks"].get(entry)
            if not refresh and old:
                return old
            machine["peaks"][entry] = peak = _measured_peak(backend, threads, old, path)
            atomic_write_text(path, json.dumps(cache, indent=2))
    except filelock.Timeout:
        raise InvalidInputError(
            f"the peak cache {path} stayed locked by another process for {LOCK_TIMEOUT_S:.0f} s; "
            "set EDGECNN_CACHE to another directory or pass roofline=False"
        ) from None
    return peak


def _read_cache(path: Path) -> dict[str, Any]:
    try:
        cache = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return cache if isinstance(cache, dict) else {}


def _measured_peak(backend: str, threads: int, old: dict[str, Any] | None, path: Path) -> dict[str, Any]:
    log.info("measuring the %s peak with %d threads (cached in %s)", backend, threads, path)
    measured = measure_peak(backend, threads=threads)
    # the achievable peak is the best ever seen here: a measurement on a busy machine only lowers it
    best = {
        k: max((v for v in (measured.get(k), (old or {}).get(k)) if v is not None), default=None)
        for k in ("fp32", "int8")
    }
    return {
        **best,
        "unit": "GMAC/s",
        "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "measurements": int((old or {}).get("measurements", 0)) + 1,
        "workload": (
            f"{PEAK_LAYERS}x conv3x3 {PEAK_CHANNELS}->{PEAK_CHANNELS} at {PEAK_SIZE}x{PEAK_SIZE}, batch 1, best decile"
        ),
    }


def roofline_entry(
    macs: int | None, p50_ms: float, batch: int, precision: str, peak: dict[str, Any] | None
) -> dict[str, Any]:
    """Achieved GMAC/s and its share of the measured fp32 and int8 peaks (null where unknown)."""
    achieved = macs * batch / (p50_ms / 1e3) / 1e9 if macs and p50_ms > 0 else None
    out: dict[str, Any] = {
        "macs_per_item": macs,
        "achieved_gmacs": round(achieved, 3) if achieved else None,
        "precision": precision,
        "peak_gmacs": {k: peak.get(k) for k in ("fp32", "int8")} if peak else None,
    }
    for k in ("fp32", "int8"):
        p = peak.get(k) if peak else None
        out[f"pct_of_{k}_peak"] = round(100.0 * achieved / p, 2) if achieved and p else None
    return out
