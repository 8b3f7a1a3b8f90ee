"""Parameter and MAC totals of a model at batch 1, measured with forward hooks on a real forward pass."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgecnn.spec import ModelSpec, as_spec

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn


def count_params_macs(spec_or_module: "ModelSpec | nn.Module", *, input_shape: tuple[int, ...] | None = None) -> tuple[int, int | None]:
    """(parameters, MACs) for one batch-1 input of the model's input shape (or `input_shape`).

    MACs count convolutions and linear layers (see `edgecnn.analysis.macs`); parameters shared by
    several layers are counted once. MACs are None for a TorchScript module: its layers do not run
    Python hooks, so they cannot be counted (rather than reporting a false 0).
    """
    import torch

    from edgecnn.analysis.macs import MAC_LAYERS, layer_macs
    from edgecnn.analysis.probe import run_forward

    spec = as_spec(spec_or_module, input_shape=input_shape)
    shape = tuple(input_shape) if input_shape is not None else spec.input.shape
    module = spec.module
    if isinstance(module, torch.jit.ScriptModule):
        return sum(p.numel() for p in module.parameters()), None
    total = 0

    def hook(mod, args, output) -> None:
        nonlocal total
        if args and isinstance(args[0], torch.Tensor) and isinstance(output, torch.Tensor):
            total += layer_macs(mod, tuple(args[0].shape), tuple(output.shape))

    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, MAC_LAYERS)]
    try:
        run_forward(module, (1, *shape[1:]))
    finally:
        for h in handles:
            h.remove()
    params = sum(p.numel() for p in module.parameters())
    return params, total
