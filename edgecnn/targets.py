"""The targets: a target name -> the int8 profile that is fast there, what to export, and which backend runs it.

Core: imported by every layer below the pipeline; imports nothing of edgecnn but the registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from edgecnn.registry import Registry


@dataclass(frozen=True)
class QuantProfile:
    name: str
    activation_type: Literal["uint8", "int8"]
    activation_symmetric: bool
    weight_type: Literal["int8"] = "int8"
    weight_symmetric: bool = True
    per_channel: bool = True
    quantize_bias: bool = True  # int32 bias Q/DQ: fine for ONNX Runtime, rejected by TensorRT

    @property
    def label(self) -> str:
        return "U8S8" if self.activation_type == "uint8" else "S8S8"


# ONNX Runtime CPU (x86 VNNI, ARM): uint8 asymmetric activations, int8 symmetric per-channel weights.
U8S8 = QuantProfile("u8s8", activation_type="uint8", activation_symmetric=False)
# TensorRT explicit quantization: int8 symmetric everywhere, zero-point 0.
S8S8_SYMMETRIC = QuantProfile("s8s8_symmetric", activation_type="int8", activation_symmetric=True, quantize_bias=False)

PROFILES = {p.name: p for p in (U8S8, S8S8_SYMMETRIC)}


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
    Target(
        "tensorrt",
        S8S8_SYMMETRIC,
        "tensorrt",
        "tensorrt",
        "cuda",
        "TensorRT engine on an NVIDIA GPU (explicit QDQ, symmetric int8)",
    ),
    Target("cuda", S8S8_SYMMETRIC, "onnx", "onnxruntime", "cuda", "PyTorch / ONNX Runtime CUDA (fp16/bf16)"),
    Target(
        "arm",
        U8S8,
        "onnx",
        "remote",
        "remote",
        "ONNX Runtime on an aarch64 device through the edgecnn agent (QDQ U8S8)",
    ),
):
    TARGETS.add(_t.name, _t)


def get_target(name: str) -> Target:
    return TARGETS.get(name)
