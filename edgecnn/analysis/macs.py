"""Multiply-accumulate counts of one layer call, from its module and its input/output tensors.

Convention (the one torchvision's published "GFLOPS" and fvcore use): a MAC is one multiply-add of a
convolution or a fully connected layer. Norms, activations, pooling and element-wise adds are not
counted: they are memory-bound and negligible next to the convolutions.
"""

from __future__ import annotations

import math

from torch import nn

MAC_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d, nn.Linear, nn.Bilinear)


def layer_macs(module: nn.Module, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> int:
    """MACs of one call of `module` that mapped a tensor of `in_shape` to one of `out_shape`."""
    if isinstance(module, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
        # every input element is scattered through the kernel into out_channels/groups outputs
        return math.prod(in_shape) * (module.out_channels // module.groups) * math.prod(module.kernel_size)
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        return math.prod(out_shape) * (module.in_channels // module.groups) * math.prod(module.kernel_size)
    if isinstance(module, nn.Linear):
        return math.prod(out_shape) * module.in_features
    if isinstance(module, nn.Bilinear):
        return math.prod(out_shape) * module.in1_features * module.in2_features
    return 0


def function_macs(target, args: tuple, kwargs: dict, output) -> int:
    """MACs of a functional conv/linear/matmul call traced by torch.fx (same convention as `layer_macs`)."""
    import operator

    import torch
    import torch.nn.functional as F

    if not isinstance(output, torch.Tensor):
        return 0
    weight = args[1] if len(args) > 1 else kwargs.get("weight")
    if target in _FUNCTIONAL_CONVS and isinstance(weight, torch.Tensor):
        return output.numel() * math.prod(weight.shape[1:])
    if target is F.linear and isinstance(weight, torch.Tensor):
        return output.numel() * weight.shape[-1]
    if target in (torch.matmul, torch.mm, torch.bmm, operator.matmul) and isinstance(args[0], torch.Tensor):
        return output.numel() * args[0].shape[-1]
    return 0


def _functional_convs() -> tuple:
    import torch
    import torch.nn.functional as F

    return tuple(getattr(mod, f"conv{n}d") for mod in (F, torch) for n in (1, 2, 3))


_FUNCTIONAL_CONVS = _functional_convs()
