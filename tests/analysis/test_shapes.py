"""The output-size formula against PyTorch itself, for random windows (conv, max/avg pooling, 1D and 2D)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from edgecnn.analysis.shapes import conv_output_size, conv_transpose_output_size, pool_output_size

settings.register_profile("edgecnn", max_examples=80, deadline=None)
settings.load_profile("edgecnn")


@st.composite
def window(draw, *, pool: bool, dilation: bool = True):
    k = draw(st.integers(1, 7))
    return {
        "size": draw(st.integers(1, 40)),
        "kernel": k,
        "stride": draw(st.integers(1, 4)),
        # PyTorch's pooling rejects padding above half the kernel; convolutions accept any padding
        "padding": draw(st.integers(0, k // 2 if pool else 4)),
        "dilation": draw(st.integers(1, 3)) if dilation else 1,
        "ceil_mode": draw(st.booleans()) if pool else False,
    }


def _torch_size(fn, shape: tuple[int, ...]) -> int | None:
    """PyTorch's output spatial size, or None when it refuses because the output would be empty."""
    try:
        return tuple(fn(torch.zeros(shape)).shape[2:])
    except RuntimeError as exc:
        assert (
            "too small" in str(exc)
            or "Invalid computed output size" in str(exc)
            or "Kernel size can't be greater" in str(exc)
            or "non-positive" in str(exc)
        ), str(exc)
        return None


def _expect(formula: tuple[int, ...], real: tuple[int, ...] | None) -> None:
    if min(formula) < 1:
        assert real is None, f"formula says empty {formula}, PyTorch produced {real}"
    else:
        assert real == formula


@given(window(pool=False))
def test_conv1d_matches_pytorch(w):
    formula = (
        conv_output_size(w["size"], w["kernel"], stride=w["stride"], padding=w["padding"], dilation=w["dilation"]),
    )
    weight = torch.zeros(1, 1, w["kernel"])
    _expect(
        formula,
        _torch_size(lambda x: F.conv1d(x, weight, None, w["stride"], w["padding"], w["dilation"]), (1, 1, w["size"])),
    )


@given(window(pool=False), window(pool=False))
def test_conv2d_matches_pytorch(h, w):
    formula = tuple(
        conv_output_size(a["size"], a["kernel"], stride=a["stride"], padding=a["padding"], dilation=a["dilation"])
        for a in (h, w)
    )
    weight = torch.zeros(1, 1, h["kernel"], w["kernel"])

    def conv(x):
        return F.conv2d(
            x, weight, None, (h["stride"], w["stride"]), (h["padding"], w["padding"]), (h["dilation"], w["dilation"])
        )

    _expect(formula, _torch_size(conv, (1, 1, h["size"], w["size"])))


@given(window(pool=True))
def test_max_pool1d_matches_pytorch(w):
    formula = (
        pool_output_size(
            w["size"],
            w["kernel"],
            stride=w["stride"],
            padding=w["padding"],
            dilation=w["dilation"],
            ceil_mode=w["ceil_mode"],
        ),
    )
    pool = lambda x: F.max_pool1d(x, w["kernel"], w["stride"], w["padding"], w["dilation"], w["ceil_mode"])  # noqa: E731
    _expect(formula, _torch_size(pool, (1, 1, w["size"])))


@given(window(pool=True), window(pool=True), st.booleans())
def test_max_pool2d_matches_pytorch(h, w, ceil_mode):
    formula = tuple(
        pool_output_size(
            a["size"],
            a["kernel"],
            stride=a["stride"],
            padding=a["padding"],
            dilation=a["dilation"],
            ceil_mode=ceil_mode,
        )
        for a in (h, w)
    )

    def pool(x):
        return F.max_pool2d(
            x,
            (h["kernel"], w["kernel"]),
            (h["stride"], w["stride"]),
            (h["padding"], w["padding"]),
            (h["dilation"], w["dilation"]),
            ceil_mode,
        )

    _expect(formula, _torch_size(pool, (1, 1, h["size"], w["size"])))


@given(window(pool=True, dilation=False), window(pool=True, dilation=False), st.booleans())
def test_avg_pool2d_matches_pytorch(h, w, ceil_mode):
    formula = tuple(
        pool_output_size(a["size"], a["kernel"], stride=a["stride"], padding=a["padding"], ceil_mode=ceil_mode)
        for a in (h, w)
    )

    def pool(x):
        return F.avg_pool2d(
            x, (h["kernel"], w["kernel"]), (h["stride"], w["stride"]), (h["padding"], w["padding"]), ceil_mode
        )

    _expect(formula, _torch_size(pool, (1, 1, h["size"], w["size"])))


@given(window(pool=True, dilation=False))
def test_avg_pool1d_matches_pytorch(w):
    formula = (
        pool_output_size(w["size"], w["kernel"], stride=w["stride"], padding=w["padding"], ceil_mode=w["ceil_mode"]),
    )
    pool = lambda x: F.avg_pool1d(x, w["kernel"], w["stride"], w["padding"], w["ceil_mode"])  # noqa: E731
    _expect(formula, _torch_size(pool, (1, 1, w["size"])))


@given(
    st.integers(1, 12), st.integers(1, 5), st.integers(1, 3), st.integers(0, 2), st.integers(1, 2), st.integers(0, 2)
)
def test_conv_transpose1d_matches_pytorch(size, k, s, p, d, out_pad):
    out_pad = min(out_pad, max(s, d) - 1)  # PyTorch requires output_padding < max(stride, dilation)
    formula = conv_transpose_output_size(size, k, stride=s, padding=p, dilation=d, output_padding=out_pad)
    weight = torch.zeros(1, 1, k)
    try:
        real = F.conv_transpose1d(torch.zeros(1, 1, size), weight, None, s, p, out_pad, 1, d).shape[-1]
    except RuntimeError:
        real = None
    if formula < 1:
        assert real is None
    else:
        assert real == formula


@pytest.mark.parametrize(
    ("size", "k", "s", "p", "expected"),
    [
        (224, 7, 2, 3, 112),  # ResNet stem
        (112, 3, 2, 1, 56),  # ResNet max pool
        (5, 3, 2, 0, 2),
    ],
)
def test_known_sizes(size, k, s, p, expected):
    assert conv_output_size(size, k, stride=s, padding=p) == expected


def test_ceil_mode_drops_a_window_that_starts_in_the_padding():
    # floor: (5 + 2 - 2)/2 + 1 = 3; ceil would give 4, but the 4th window would start at 6 >= 5 + 1
    assert pool_output_size(5, 2, stride=2, padding=1, ceil_mode=False) == 3
    assert pool_output_size(5, 2, stride=2, padding=1, ceil_mode=True) == 3
    assert pool_output_size(6, 3, stride=2, ceil_mode=True) == 3
    assert F.max_pool1d(torch.zeros(1, 1, 6), 3, 2, 0, 1, True).shape[-1] == 3
