"""The window geometry (kernel, stride, padding, dilation, groups) of conv/pool layers, as modules or functions.

A `Geometry` predicts a layer's output size from its input size (edgecnn.analysis.shapes) and moves the
receptive field through it (edgecnn.analysis.receptive).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from edgecnn.analysis.receptive import Field
from edgecnn.analysis.shapes import adaptive_pool_window, conv_output_size, conv_transpose_output_size, pool_output_size

Kind = Literal["conv", "conv_transpose", "pool", "adaptive_pool", "resize"]


@dataclass(frozen=True)
class Geometry:
    kind: Kind
    ndim: int
    kernel: tuple[int, ...] = ()
    stride: tuple[int, ...] = ()
    padding: tuple[int, ...] = ()
    dilation: tuple[int, ...] = ()
    groups: int | None = None
    ceil_mode: bool = False
    same_padding: bool = False  # conv padding="same": output size equals input size
    output_padding: tuple[int, ...] = ()
    output_size: tuple[int | None, ...] = ()  # adaptive pooling / resize targets
    scale: tuple[float, ...] = ()  # resize by factor

    def expected(self, size: Sequence[int]) -> tuple[int, ...]:
        """The output spatial size the formula predicts for an input of spatial size `size`."""
        if self.kind == "conv":
            if self.same_padding:
                return tuple(size)
            return tuple(
                conv_output_size(n, k, stride=s, padding=p, dilation=d)
                for n, k, s, p, d in zip(size, self.kernel, self.stride, self.padding, self.dilation)
            )
        if self.kind == "pool":
            return tuple(
                pool_output_size(n, k, stride=s, padding=p, dilation=d, ceil_mode=self.ceil_mode)
                for n, k, s, p, d in zip(size, self.kernel, self.stride, self.padding, self.dilation)
            )
        if self.kind == "conv_transpose":
            return tuple(
                conv_transpose_output_size(n, k, stride=s, padding=p, dilation=d, output_padding=o)
                for n, k, s, p, d, o in zip(
                    size, self.kernel, self.stride, self.padding, self.dilation, self.output_padding
                )
            )
        if self.scale:
            return tuple(math.floor(n * f) for n, f in zip(size, self.scale))
        return tuple(n if o is None else o for n, o in zip(size, self.output_size))

    def with_input(self, size: Sequence[int]) -> Geometry:
        """Adaptive pooling: the equivalent fixed window for this input size (for the table and the RF)."""
        if self.kind != "adaptive_pool":
            return self
        out = self.expected(size)
        windows = [adaptive_pool_window(n, o) for n, o in zip(size, out)]
        stride = tuple(int(s) if float(s).is_integer() else round(s, 4) for _, s in windows)
        return Geometry(
            "adaptive_pool",
            self.ndim,
            tuple(k for k, _ in windows),
            stride,
            (0,) * self.ndim,
            (1,) * self.ndim,
            output_size=self.output_size,
        )

    def move(self, field: Field, in_size: Sequence[int], out_size: Sequence[int]) -> Field:
        if self.kind in ("conv", "pool"):
            return field.through_kernel(self.kernel, self.stride, self.dilation)
        if self.kind == "conv_transpose":
            return field.through_transpose(self.kernel, self.stride, self.dilation)
        if self.kind == "adaptive_pool":
            geo = self.with_input(in_size)
            return field.through_kernel(geo.kernel, tuple(i / o for i, o in zip(in_size, out_size)), geo.dilation)
        return field.resampled(in_size, out_size)


def _tuple(value: Any, ndim: int) -> tuple:
    """PyTorch's int-or-tuple arguments as one value per spatial dimension."""
    if isinstance(value, (tuple, list)):
        return tuple(value) * ndim if len(value) == 1 else tuple(value)
    return (value,) * ndim


_CONV = {nn.Conv1d: 1, nn.Conv2d: 2, nn.Conv3d: 3}
_CONV_T = {nn.ConvTranspose1d: 1, nn.ConvTranspose2d: 2, nn.ConvTranspose3d: 3}
_MAXPOOL = {nn.MaxPool1d: 1, nn.MaxPool2d: 2, nn.MaxPool3d: 3}
_AVGPOOL = {nn.AvgPool1d: 1, nn.AvgPool2d: 2, nn.AvgPool3d: 3}
_LPPOOL = {nn.LPPool1d: 1, nn.LPPool2d: 2}
_ADAPTIVE = {
    nn.AdaptiveAvgPool1d: 1,
    nn.AdaptiveAvgPool2d: 2,
    nn.AdaptiveAvgPool3d: 3,
    nn.AdaptiveMaxPool1d: 1,
    nn.AdaptiveMaxPool2d: 2,
    nn.AdaptiveMaxPool3d: 3,
}


def _lookup(table: dict[type, int], module: nn.Module) -> int | None:
    for cls, ndim in table.items():
        if isinstance(module, cls):
            return ndim
    return None


def module_geometry(module: nn.Module, x: torch.Tensor | None = None) -> Geometry | None:
    """Geometry of a conv/pool/resize module, or None for layers without a window (BN, ReLU, Linear...)."""
    if (n := _lookup(_CONV, module)) is not None:
        same = module.padding == "same"
        pad = (0,) * n if isinstance(module.padding, str) else _tuple(module.padding, n)
        if same:  # PyTorch pads d*(k-1) in total, the extra pixel (if odd) on the right
            pad = tuple(d * (k - 1) // 2 for k, d in zip(module.kernel_size, module.dilation))
        return Geometry(
            "conv",
            n,
            tuple(module.kernel_size),
            tuple(module.stride),
            pad,
            tuple(module.dilation),
            module.groups,
            same_padding=same,
        )
    if (n := _lookup(_CONV_T, module)) is not None:
        return Geometry(
            "conv_transpose",
            n,
            tuple(module.kernel_size),
            tuple(module.stride),
            _tuple(module.padding, n),
            tuple(module.dilation),
            module.groups,
            output_padding=_tuple(module.output_padding, n),
        )
    if (n := _lookup(_MAXPOOL, module)) is not None:
        return _pool(n, module.kernel_size, module.stride, module.padding, module.dilation, module.ceil_mode)
    if (n := _lookup(_AVGPOOL, module)) is not None:
        return _pool(n, module.kernel_size, module.stride, module.padding, 1, module.ceil_mode)
    if (n := _lookup(_LPPOOL, module)) is not None:
        return _pool(n, module.kernel_size, module.stride, 0, 1, module.ceil_mode)
    if (n := _lookup(_ADAPTIVE, module)) is not None:
        return Geometry("adaptive_pool", n, output_size=_tuple(module.output_size, n))
    if isinstance(module, nn.Upsample) and x is not None:
        return _resize(x.dim() - 2, module.size, module.scale_factor)
    return None


def _pool(ndim: int, kernel, stride, padding, dilation, ceil_mode: bool) -> Geometry:
    k = _tuple(kernel, ndim)
    s = k if stride is None or (isinstance(stride, (list, tuple)) and len(stride) == 0) else _tuple(stride, ndim)
    return Geometry("pool", ndim, k, s, _tuple(padding, ndim), _tuple(dilation, ndim), ceil_mode=bool(ceil_mode))


def _resize(ndim: int, size, scale) -> Geometry:
    if size is not None:
        return Geometry("resize", ndim, output_size=_tuple(size, ndim))
    return Geometry("resize", ndim, scale=tuple(float(f) for f in _tuple(scale, ndim)))


def _bind(
    names: Sequence[str], args: Sequence[Any], kwargs: dict[str, Any], defaults: dict[str, Any]
) -> dict[str, Any]:
    bound = dict(defaults)
    bound.update(zip(names, args))
    bound.update(kwargs)
    return bound


_CONV_ARGS = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
_CONV_DEFAULTS = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1}
_MAXPOOL_ARGS = ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
_AVGPOOL_ARGS = ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")
_POOL_DEFAULTS = {"stride": None, "padding": 0, "dilation": 1, "ceil_mode": False}


def _functional_conv(n: int) -> Callable[[tuple, dict], Geometry]:
    def build(args: tuple, kwargs: dict) -> Geometry:
        b = _bind(_CONV_ARGS, args, kwargs, _CONV_DEFAULTS)
        kernel = tuple(b["weight"].shape[2:])
        dilation = _tuple(b["dilation"], n)
        same = b["padding"] == "same"
        if isinstance(b["padding"], str):
            pad = tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation)) if same else (0,) * n
        else:
            pad = _tuple(b["padding"], n)
        return Geometry("conv", n, kernel, _tuple(b["stride"], n), pad, dilation, int(b["groups"]), same_padding=same)

    return build


def _functional_pool(n: int, names: Sequence[str]) -> Callable[[tuple, dict], Geometry]:
    def build(args: tuple, kwargs: dict) -> Geometry:
        b = _bind(names, args, kwargs, _POOL_DEFAULTS)
        return _pool(n, b["kernel_size"], b["stride"], b["padding"], b.get("dilation", 1), b["ceil_mode"])

    return build


def _functional_adaptive(n: int) -> Callable[[tuple, dict], Geometry]:
    def build(args: tuple, kwargs: dict) -> Geometry:
        b = _bind(("input", "output_size"), args, kwargs, {})
        return Geometry("adaptive_pool", n, output_size=_tuple(b["output_size"], n))

    return build


def _functional_interpolate(args: tuple, kwargs: dict) -> Geometry:
    b = _bind(("input", "size", "scale_factor"), args, kwargs, {"size": None, "scale_factor": None})
    return _resize(b["input"].dim() - 2, b["size"], b["scale_factor"])


FUNCTIONS: dict[Any, Callable[[tuple, dict], Geometry]] = {}
for _n in (1, 2, 3):
    for _f in (getattr(F, f"conv{_n}d"), getattr(torch, f"conv{_n}d")):
        FUNCTIONS[_f] = _functional_conv(_n)
    FUNCTIONS[getattr(F, f"max_pool{_n}d")] = _functional_pool(_n, _MAXPOOL_ARGS)
    FUNCTIONS[getattr(F, f"max_pool{_n}d_with_indices")] = _functional_pool(_n, _MAXPOOL_ARGS)
    FUNCTIONS[getattr(F, f"avg_pool{_n}d")] = _functional_pool(_n, _AVGPOOL_ARGS)
    FUNCTIONS[getattr(F, f"adaptive_avg_pool{_n}d")] = _functional_adaptive(_n)
    FUNCTIONS[getattr(F, f"adaptive_max_pool{_n}d")] = _functional_adaptive(_n)
FUNCTIONS[torch.max_pool1d] = _functional_pool(1, _MAXPOOL_ARGS)
FUNCTIONS[torch.max_pool2d] = _functional_pool(2, _MAXPOOL_ARGS)
FUNCTIONS[torch.avg_pool1d] = _functional_pool(1, _AVGPOOL_ARGS)
FUNCTIONS[F.interpolate] = _functional_interpolate


def function_geometry(target: Any, args: tuple, kwargs: dict) -> Geometry | None:
    """Geometry of a functional conv/pool/interpolate call traced by torch.fx, or None."""
    build = FUNCTIONS.get(target)
    return build(args, kwargs) if build is not None else None
