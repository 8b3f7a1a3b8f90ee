"""OpenVINO backend (CPU): IR (.xml) or ONNX files, with the inference precision stated and reported.

OpenVINO picks bf16 by itself on CPUs that have AVX512-BF16/AMX, which changes both speed and numbers;
a session here forces f32 unless another precision is asked for, and `describe()` reports what the
compiled model actually runs (the hint it settled on and the precisions of its compute layers).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edgecnn.errors import DeviceUnavailableError, InvalidInputError, first_line, require
from edgecnn.runtime.base import SessionBase, SessionOptions, feed

# edgecnn precision names -> OpenVINO INFERENCE_PRECISION_HINT values; "auto" leaves OpenVINO's own choice
_PRECISION_HINTS = {"fp32": "f32", "f32": "f32", "bf16": "bf16", "fp16": "f16", "f16": "f16", "auto": None}
_COMPUTE_OPS = {"Convolution", "GroupConvolution", "MatMul", "FullyConnected", "Subgraph"}


def port_name(port: Any, index: int, kind: str) -> str:
    """A model port's name, or `input0` / `output0` ... for a port saved without one (OpenVINO then raises on
    `get_any_name()`)."""
    return port.get_any_name() if port.get_names() else f"{kind}{index}"


class OpenVinoSession(SessionBase):
    backend = "openvino"

    def __init__(self, path: str | Path, options: SessionOptions) -> None:
        ov = require("openvino", extra="openvino", why="needed to run OpenVINO models")
        self._ov = ov
        precision = (options.precision or "fp32").lower()
        if precision not in _PRECISION_HINTS:
            raise InvalidInputError(
                f"unknown OpenVINO precision '{options.precision}'; choose one of {', '.join(_PRECISION_HINTS)}"
            )
        device = options.device.split(":")[0].upper()
        core = ov.Core()
        if device not in core.available_devices:
            raise DeviceUnavailableError(
                f"OpenVINO has no {device} device here (available: {', '.join(core.available_devices)})"
            )
        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
        if _PRECISION_HINTS[precision]:
            config["INFERENCE_PRECISION_HINT"] = _PRECISION_HINTS[precision]
        if options.threads:
            config["INFERENCE_NUM_THREADS"] = int(options.threads)
        try:
            self._compiled = core.compile_model(str(path), device, config)
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses with multi-line messages
            raise InvalidInputError(f"OpenVINO cannot load {path}: {str(exc).strip().splitlines()[0][:300]}") from None
        self._request = self._compiled.create_infer_request()
        self.options = options
        self.requested_precision = precision
        self.input_names = [port_name(p, i, "input") for i, p in enumerate(self._compiled.inputs)]
        # static dims as ints, dynamic ones as None (validation and evaluation batch by these)
        self.input_shapes = [
            [d.get_length() if d.is_static else None for d in p.get_partial_shape()] for p in self._compiled.inputs
        ]
        self.output_names = [port_name(p, i, "output") for i, p in enumerate(self._compiled.outputs)]

    def run(self, inputs: np.ndarray | dict[str, np.ndarray]) -> list[np.ndarray]:
        if self._request is None:
            raise InvalidInputError("this OpenVINO session is closed")
        data = feed(self.input_names, inputs)
        try:
            # by index: a port may have no name (an IR saved without them)
            result = self._request.infer({self.input_names.index(k): np.ascontiguousarray(v) for k, v in data.items()})
        except Exception as exc:
            raise InvalidInputError(f"input does not fit the model: {first_line(exc)}") from None
        # infer() returns views into the request's buffers, overwritten by the next call: copy them out
        return [np.array(result[port]) for port in self._compiled.outputs]

    def precision_used(self) -> dict[str, Any]:
        """The inference precision hint the compiled model settled on and the precisions its compute layers run in."""
        hint = str(self._compiled.get_property("INFERENCE_PRECISION_HINT")).replace("<Type: '", "").rstrip("'>")
        layers: dict[str, int] = {}
        for op in self._compiled.get_runtime_model().get_ops():
            info = op.get_rt_info()
            if "layerType" in info and info["layerType"].astype(str) in _COMPUTE_OPS and "runtimePrecision" in info:
                key = info["runtimePrecision"].astype(str)
                layers[key] = layers.get(key, 0) + 1
        return {"inference_precision_hint": hint, "compute_layer_precisions": layers}

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "version": self._ov.__version__,
            "device": self.options.device,
            "threads": int(self._compiled.get_property("INFERENCE_NUM_THREADS")),
            "requested_precision": self.requested_precision,
            **self.precision_used(),
        }

    def close(self) -> None:
        # the infer request and compiled model hold the weights and buffers
        self._request = self._compiled = None


class OpenVinoBackend:
    name = "openvino"

    def load(self, artifact: Any, options: SessionOptions) -> OpenVinoSession:
        return OpenVinoSession(getattr(artifact, "path", artifact), options)
