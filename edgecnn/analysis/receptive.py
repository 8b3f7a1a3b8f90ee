"""Receptive field (RF) and jump (effective stride, in input pixels) along a network, per spatial dimension.

For a layer with kernel k, dilation d and stride s applied to a feature map whose RF is r and jump j:
    r' = r + d*(k-1) * j        j' = j * s
A node with several inputs (residual add, concatenation, SE scaling) takes the largest RF over its inputs.
Values become floats only where a layer changes resolution by a non-integer factor (adaptive pooling,
interpolation); both are reported in input pixels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    rf: tuple[float, ...]
    jump: tuple[float, ...]

    @classmethod
    def at_input(cls, ndim: int) -> Field:
        return cls((1,) * ndim, (1,) * ndim)

    @property
    def ndim(self) -> int:
        return len(self.rf)

    def through_kernel(self, kernel: Sequence[int], stride: Sequence[float], dilation: Sequence[int]) -> Field:
        """A sliding window (convolution or pooling)."""
        rf = tuple(r + d * (k - 1) * j for r, k, d, j in zip(self.rf, kernel, dilation, self.jump))
        return Field(_tidy(rf), _tidy(tuple(j * s for j, s in zip(self.jump, stride))))

    def through_transpose(self, kernel: Sequence[int], stride: Sequence[int], dilation: Sequence[int]) -> Field:
        """A transposed convolution: an output pixel gathers input pixels at most floor(d*(k-1)/s) apart,
        and the output grid is `stride` times finer."""
        rf = tuple(r + (d * (k - 1) // s) * j for r, k, d, s, j in zip(self.rf, kernel, dilation, stride, self.jump))
        return Field(_tidy(rf), _tidy(tuple(j / s for j, s in zip(self.jump, stride))))

    def resampled(self, in_size: Sequence[int], out_size: Sequence[int]) -> Field:
        """A resolution change without a window of its own (interpolation, pixel shuffle)."""
        return Field(self.rf, _tidy(tuple(j * i / o for j, i, o in zip(self.jump, in_size, out_size))))

    def collapsed(self, size: Sequence[int]) -> Field:
        """Every output sees the whole feature map (flatten, global mean, view to (N, -1))."""
        return self.through_kernel(tuple(size), tuple(size), (1,) * len(size))


def merge(fields: Sequence[Field], *, jump_from: Field | None = None) -> Field:
    """A node fed by several paths: the largest RF over the paths; the jump of the full-resolution input."""
    rf = tuple(max(values) for values in zip(*(f.rf for f in fields)))
    return Field(rf, (jump_from or fields[0]).jump)


def _tidy(values: tuple[float, ...]) -> tuple[float, ...]:
    return tuple(int(v) if float(v).is_integer() else round(float(v), 4) for v in values)
