"""Output-size arithmetic of convolution and pooling, one spatial dimension at a time.

These are the formulas PyTorch implements (`out = floor((in + 2p - d*(k-1) - 1)/s + 1)`, with the
`ceil_mode` rule of pooling); the inspector checks them against a real forward pass.
Pure Python so it can be reasoned about and property-tested without a model.
"""

from __future__ import annotations

import math


def conv_output_size(size: int, kernel: int, *, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output length of a convolution along one dimension (may be < 1: the input is too small)."""
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def pool_output_size(
    size: int, kernel: int, *, stride: int | None = None, padding: int = 0, dilation: int = 1, ceil_mode: bool = False
) -> int:
    """Output length of max/avg pooling along one dimension.

    With `ceil_mode` the division rounds up, but a last window that would start beyond the input and its
    left padding is dropped (PyTorch's `pooling_output_shape`).
    """
    stride = kernel if stride is None else stride
    span = size + 2 * padding - dilation * (kernel - 1) - 1
    if not ceil_mode:
        return span // stride + 1
    out = (span + stride - 1) // stride + 1
    if (out - 1) * stride >= size + padding:
        out -= 1
    return out


def conv_transpose_output_size(
    size: int, kernel: int, *, stride: int = 1, padding: int = 0, dilation: int = 1, output_padding: int = 0
) -> int:
    """Output length of a transposed convolution along one dimension."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1


def adaptive_pool_window(size: int, out: int) -> tuple[int, float]:
    """(largest window, mean stride) of adaptive pooling from `size` to `out` (windows may differ by one)."""
    kernel = max(math.ceil((j + 1) * size / out) - (j * size) // out for j in range(out))
    return kernel, size / out
