"""Step types a recipe may list: the torch passes (by their registry name) and the ONNX-level `quantize`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from edgecnn.registry import Registry


@dataclass(frozen=True)
class QuantizeStep:
    """Config of the `quantize` step (see `edgecnn.quantize`)."""

    precision: Literal["int8", "fp16"] = "int8"
    calibration_method: Literal["minmax", "percentile", "entropy", "distribution"] = "minmax"
    equalize: bool = False
    bias_correction: bool = False
    max_accuracy_drop: float | None = None
    min_agreement: float | None = None
    sensitivity: bool = False
    op_types: list[str] | None = None
    check_latency: bool = True
    keep_io_types: bool = True


@dataclass(frozen=True)
class StepSpec:
    name: str
    stage: Literal["torch", "onnx"]
    config_ref: str  # "module:attr" of the config dataclass, resolved lazily (torch passes import torch)

    @property
    def config(self) -> type:
        import importlib

        module, _, attr = self.config_ref.partition(":")
        obj = getattr(importlib.import_module(module), attr)
        return getattr(obj, "Config", obj)


STEPS: Registry[StepSpec] = Registry("step type")
for _name, _ref in (
    ("fold_bn", "edgecnn.passes.fold_bn:FoldBN"),
    ("dw_separable", "edgecnn.passes.dw_separable:DepthwiseSeparable"),
    ("distill", "edgecnn.passes.distill:Distill"),
    ("prune", "edgecnn.passes.prune:Prune"),
    ("sparsify", "edgecnn.passes.sparsify:Sparsify"),
):
    STEPS.add(_name, StepSpec(_name, "torch", _ref))
STEPS.add("quantize", StepSpec("quantize", "onnx", "edgecnn.pipeline.steps:QuantizeStep"))


def step_config_schema(name: str) -> dict[str, Any]:
    """JSON schema of one step: {type: const, ...its config fields}, no other keys."""
    from pydantic import TypeAdapter

    spec = STEPS.get(name)
    schema = TypeAdapter(spec.config).json_schema()
    schema.pop("title", None)
    schema.setdefault("properties", {})
    schema["properties"] = {"type": {"const": name}, **schema["properties"]}
    schema["required"] = ["type"]
    schema["additionalProperties"] = False
    schema["title"] = name
    schema["description"] = (spec.config.__doc__ or "").strip().splitlines()[0] if spec.config.__doc__ else name
    return schema


def config_fields(name: str) -> list[str]:
    return [f.name for f in dataclasses.fields(STEPS.get(name).config)]
