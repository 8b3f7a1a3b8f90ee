"""`inspect_model`: every layer in execution order with its window, shapes, receptive field, params and MACs.

The JSON form (`Inspection.to_dict()`, `edgecnn inspect --json`) is documented in docs/inspect.md;
bump SCHEMA_VERSION when a field changes meaning or disappears.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from edgecnn.analysis.probe import analysis_mode
from edgecnn.errors import InvalidInputError
from edgecnn.spec import InputSpec, ModelSpec, as_spec

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from edgecnn.analysis.trace import Call

log = logging.getLogger("edgecnn.analysis")

SCHEMA_VERSION = 1
BYTES_PER_WEIGHT = {"fp32": 4, "fp16": 2, "int8": 1}


@dataclass(frozen=True)
class LayerInfo:
    """One layer call. Window fields are None for layers without a sliding window (BN, ReLU, Linear, add...)."""

    index: int
    name: str
    type: str
    inputs: list[str]
    input_shapes: list[list[int]]
    output_shape: list[int]
    kernel: list[int] | None
    stride: list[float] | None
    padding: list[int] | None
    dilation: list[int] | None
    groups: int | None
    ceil_mode: bool | None
    expected_spatial: list[int] | None
    receptive_field: list[float] | None
    jump: list[float] | None
    params: int
    macs: int

    @property
    def shape_ok(self) -> bool | None:
        """Formula vs forward pass: None when the layer has no formula (no window)."""
        if self.expected_spatial is None:
            return None
        return self.expected_spatial == self.output_shape[2:]

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "type": self.type,
            "inputs": self.inputs,
            "input_shapes": self.input_shapes,
            "output_shape": self.output_shape,
            "kernel": self.kernel,
            "stride": self.stride,
            "padding": self.padding,
            "dilation": self.dilation,
            "groups": self.groups,
            "ceil_mode": self.ceil_mode,
            "expected_spatial": self.expected_spatial,
            "shape_ok": self.shape_ok,
            "receptive_field": self.receptive_field,
            "jump": self.jump,
            "params": self.params,
            "macs": self.macs,
        }


@dataclass(frozen=True)
class Totals:
    params: int
    macs: int | None
    peak_activation_bytes: int | None
    weight_bytes: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {
            "params": self.params,
            "macs": self.macs,
            "peak_activation_bytes": self.peak_activation_bytes,
            "weight_bytes": dict(self.weight_bytes),
        }


@dataclass
class Inspection:
    model: str
    source: str
    input: InputSpec
    method: str  # "fx" (graph traced), "hooks" (fallback) or "opaque" (TorchScript: totals only)
    layers: list[LayerInfo]
    totals: Totals
    outputs: list[list[int]]
    notes: list[str] = field(default_factory=list)

    @property
    def mismatches(self) -> list[dict[str, Any]]:
        """Layers whose real output size differs from the formula's prediction."""
        return [
            {
                "layer": layer.name,
                "type": layer.type,
                "expected_spatial": layer.expected_spatial,
                "actual_spatial": layer.output_shape[2:],
            }
            for layer in self.layers
            if layer.shape_ok is False
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "model": {"name": self.model, "source": self.source},
            "input": self.input.to_dict(),
            "method": self.method,
            "layers": [layer.to_dict() for layer in self.layers],
            "outputs": self.outputs,
            "totals": self.totals.to_dict(),
            "mismatches": self.mismatches,
            "notes": list(self.notes),
        }


def inspect_model(model: ModelSpec | nn.Module | str, *, input_shape: tuple[int, ...] | None = None) -> Inspection:
    """Inspect a ModelSpec, an nn.Module (with `input_shape`) or a zoo name, on one real forward pass.

    input_shape: the full input shape, e.g. (1, 3, 224, 224) or (1, 1, 128); defaults to the spec's.
    Raises InvalidInputError naming the layer whose output would be empty when the input is too small.
    """
    import torch

    from edgecnn.analysis.trace import walk

    if isinstance(model, str):
        from edgecnn.zoo.loader import load_model

        model = load_model(model, weights="random")
    spec = as_spec(model, input_shape=input_shape)
    shape = tuple(int(d) for d in input_shape) if input_shape is not None else spec.input.shape
    if len(shape) not in (3, 4):
        raise InvalidInputError(f"input shape {shape} must be (N, C, L) or (N, C, H, W)")
    input_spec = InputSpec(shape, layout="NCL" if len(shape) == 3 else "NCHW", name=spec.input.name)
    module = spec.module
    params = sum(p.numel() for p in module.parameters())
    weight_bytes = {k: params * v for k, v in BYTES_PER_WEIGHT.items()}
    device = next((t.device for t in (*module.parameters(), *module.buffers())), torch.device("cpu"))
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0)).to(device)
    with analysis_mode(module):
        if isinstance(module, torch.jit.ScriptModule):
            return _opaque(spec, module, x, input_spec, Totals(params, None, None, weight_bytes))
        result = walk(module, x)
    layers = [_layer(i, call) for i, call in enumerate(result.calls)]
    inspection = Inspection(
        model=spec.name,
        source=spec.source,
        input=input_spec,
        method=result.method,
        layers=layers,
        totals=Totals(params, sum(layer.macs for layer in layers), result.peak_activation_bytes, weight_bytes),
        outputs=[list(s) for s in result.outputs],
        notes=list(result.notes),
    )
    for bad in inspection.mismatches:
        log.warning(
            "output size of %s (%s) is %s but the formula predicts %s",
            bad["layer"],
            bad["type"],
            bad["actual_spatial"],
            bad["expected_spatial"],
        )
    return inspection


def _layer(index: int, call: Call) -> LayerInfo:
    geo = call.geometry
    window = geo is not None and bool(geo.kernel)
    return LayerInfo(
        index=index,
        name=call.name,
        type=call.type,
        inputs=list(call.inputs),
        input_shapes=[list(s) for s in call.input_shapes],
        output_shape=list(call.output_shape or ()),
        kernel=list(geo.kernel) if window else None,
        stride=list(geo.stride) if window else None,
        padding=list(geo.padding) if window else None,
        dilation=list(geo.dilation) if window else None,
        groups=geo.groups if geo is not None else None,
        ceil_mode=geo.ceil_mode if geo is not None and geo.kind == "pool" else None,
        expected_spatial=list(call.expected_spatial) if call.expected_spatial is not None else None,
        receptive_field=list(call.field.rf) if call.field is not None else None,
        jump=list(call.field.jump) if call.field is not None else None,
        params=call.params,
        macs=call.macs,
    )


def _opaque(spec: ModelSpec, module, x, input_spec: InputSpec, totals: Totals) -> Inspection:
    """TorchScript hides its layers from fx and hooks: report what one forward pass shows."""
    from edgecnn.analysis.trace import tensors_of

    try:
        out = module(x)
    except RuntimeError as exc:
        text = str(exc).strip().splitlines()
        raise InvalidInputError(
            f"the model cannot run on an input of shape {tuple(x.shape)}: {text[0][:200] if text else ''}"
        ) from None
    return Inspection(
        model=spec.name,
        source=spec.source,
        input=input_spec,
        method="opaque",
        layers=[],
        totals=totals,
        outputs=[list(t.shape) for t in tensors_of(out)],
        notes=[
            "TorchScript model: layers, MACs and activation memory are not visible; inspect the Python model "
            "(zoo name, package.module:factory, or a weights file with --arch) for the per-layer view"
        ],
    )
