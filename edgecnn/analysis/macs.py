"""Multiply-accumulate counts of one layer call, from its module (or function) and its tensors.

Convention (the one torchvision's published "GFLOPS" and fvcore use): a MAC is one multiply-add of a
convolution, a fully connected layer, a matrix product or attention. Norms, activations, pooling and
element-wise ops are not counted: they are memory-bound and small next to the convolutions.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

Shape = tuple[int, ...]

_CONV_T = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


def layer_macs(module: nn.Module, in_shapes: Sequence[Shape], out_shape: Shape) -> int:
    """MACs of one call of `module` with tensor inputs of `in_shapes` (in call order) and first output `out_shape`."""
    if not in_shapes:
        return 0
    x = in_shapes[0]
    if isinstance(module, _CONV_T):
        # every input element is scattered through the kernel into out_channels/groups outputs
        return math.prod(x) * (module.out_channels // module.groups) * math.prod(module.kernel_size)
    if isinstance(module, _CONV):
        return math.prod(out_shape) * (module.in_channels // module.groups) * math.prod(module.kernel_size)
    if isinstance(module, nn.Linear):
        return math.prod(out_shape) * module.in_features
    if isinstance(module, nn.Bilinear):
        return math.prod(out_shape) * module.in1_features * module.in2_features
    if isinstance(module, nn.MultiheadAttention):
        return _attention_macs(module, in_shapes)
    return 0


def _attention_macs(module: nn.MultiheadAttention, in_shapes: Sequence[Shape]) -> int:
    """Q/K/V projections, scores (Q K^T), weighted sum (A V) and the output projection."""
    query = in_shapes[0]
    key = in_shapes[1] if len(in_shapes) > 1 else query
    seq_dim = 1 if module.batch_first and len(query) == 3 else 0
    batch = query[1 - seq_dim] if len(query) == 3 else 1
    lq, lk, e = query[seq_dim], key[seq_dim], module.embed_dim
    projections = batch * (lq * e * e + lk * (module.kdim + module.vdim) * e + lq * e * e)
    return projections + 2 * batch * lq * lk * e


_FUNCTIONAL_CONVS = tuple(getattr(mod, f"conv{n}d") for mod in (F, torch) for n in (1, 2, 3))
_MATMULS = (torch.matmul, torch.mm, torch.bmm, operator.matmul, "matmul", "mm", "bmm", "__matmul__")


def function_macs(target: Any, args: tuple, kwargs: dict, output: Any) -> int:
    """MACs of a functional call traced by torch.fx (a function, or a Tensor method given by name)."""
    if not isinstance(output, torch.Tensor):
        return 0
    weight = args[1] if len(args) > 1 else kwargs.get("weight")
    if target in _FUNCTIONAL_CONVS and isinstance(weight, torch.Tensor):
        return output.numel() * math.prod(weight.shape[1:])
    if target is F.linear and isinstance(weight, torch.Tensor):
        return output.numel() * weight.shape[-1]
    if target in _MATMULS and args and isinstance(args[0], torch.Tensor) and args[0].dim() > 0:
        return output.numel() * args[0].shape[-1]
    if target is torch.einsum:
        return _einsum_macs(args)
    return 0


def _einsum_macs(args: tuple) -> int:
    """A product of two or more operands costs one MAC per combination of all its distinct indices."""
    equation, operands = args[0], args[1:]
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not isinstance(equation, str) or "..." in equation or len(operands) < 2:
        return 0
    sizes: dict[str, int] = {}
    for letters, tensor in zip(equation.split("->")[0].replace(" ", "").split(","), operands):
        sizes.update(zip(letters, tensor.shape))
    return math.prod(sizes.values())
