"""Parameter and MAC totals of a model at batch 1: the totals of `inspect_model`, for callers that need only those."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgecnn.analysis.inspect import inspect_model
from edgecnn.spec import ModelSpec, as_spec

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn


def count_params_macs(
    spec_or_module: ModelSpec | nn.Module, *, input_shape: tuple[int, ...] | None = None
) -> tuple[int, int | None]:
    """(parameters, MACs) for one batch-1 input of the model's input shape (or `input_shape`).

    MACs count convolutions, linear layers and matmuls, as modules or functions (see
    `edgecnn.analysis.macs`); parameters shared by several layers are counted once. MACs are None for
    a TorchScript module, whose layers cannot be observed (rather than reporting a false 0).
    """

    spec = as_spec(spec_or_module, input_shape=input_shape)
    shape = tuple(input_shape) if input_shape is not None else spec.input.shape
    totals = inspect_model(spec, input_shape=(1, *shape[1:])).totals
    return totals.params, totals.macs
