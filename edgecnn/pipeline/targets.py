"""The targets table: a target name -> the int8 profile it needs, what to export, and which backend runs it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from edgecnn.quant.profiles import S8S8_SYMMETRIC, U8S8, QuantProfile
from edgecnn.registry import Registry


@dataclass(frozen=True)
class Target:
    name: str
    quant: QuantProfile
    export_format: Literal["onnx", "openvino", "tensorrt"]
    backend: str  # runtime backend name in edgecnn.runtime.BACKENDS
    device: Literal["cpu", "cuda", "remote"]
    description: str


TARGETS: Registry[Target] = Registry("target")
for _t in (
    Target("onnxruntime", U8S8, "onnx", "onnxruntime", "cpu", "ONNX Runtime on the CPU (QDQ U8S8 int8)"),
    Target("openvino", U8S8, "openvino", "openvino", "cpu", "OpenVINO on the CPU (IR from QDQ ONNX, or NNCF)"),
    Target("tensorrt", S8S8_SYMMETRIC, "tensorrt", "tensorrt", "cuda", "TensorRT engine on an NVIDIA GPU (explicit QDQ, symmetric int8)"),
    Target("cuda", S8S8_SYMMETRIC, "onnx", "onnxruntime", "cuda", "PyTorch / ONNX Runtime CUDA (fp16/bf16)"),
    Target("arm", U8S8, "onnx", "remote", "remote", "ONNX Runtime on an aarch64 device through the edgecnn agent (QDQ U8S8)"),
):
    TARGETS.add(_t.name, _t)


def get_target(name: str) -> Target:
    return TARGETS.get(name)
