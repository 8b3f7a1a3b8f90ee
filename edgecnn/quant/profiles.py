"""What int8 looks like on each target: the format that is actually fast there (see DESIGN.md, Targets)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


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
