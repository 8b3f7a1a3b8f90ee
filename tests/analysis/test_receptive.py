"""Receptive field and jump on stacks small enough to compute by hand, sequential and with branches."""

from __future__ import annotations

import torch
from torch import nn

from edgecnn.analysis.inspect import inspect_model
from edgecnn.analysis.trace import walk_hooks


def _rf(model: nn.Module, shape=(1, 1, 32, 32)) -> dict[str, tuple[list, list]]:
    result = inspect_model(model, input_shape=shape)
    assert result.method == "fx"
    return {layer.name: (layer.receptive_field, layer.jump) for layer in result.layers}


def test_three_3x3_stride1_convs_see_7_pixels():
    model = nn.Sequential(*(nn.Conv2d(1, 1, 3, padding=1) for _ in range(3)))
    rf = _rf(model)
    assert [rf[n][0] for n in ("0", "1", "2")] == [[3, 3], [5, 5], [7, 7]]
    assert rf["2"][1] == [1, 1]


def test_dilation_grows_the_field_by_d_times_k_minus_1():
    model = nn.Sequential(*(nn.Conv2d(1, 1, 3, padding=d, dilation=d) for d in (1, 2, 4)))
    assert [_rf(model)[n][0] for n in ("0", "1", "2")] == [[3, 3], [7, 7], [15, 15]]


def test_stride2_layers_multiply_the_jump():
    model = nn.Sequential(
        nn.Conv2d(1, 1, 3, stride=2, padding=1),  # rf 3, jump 2
        nn.Conv2d(1, 1, 3, padding=1),  # 3 + 2*2 = 7
        nn.MaxPool2d(2),  # 7 + 1*2 = 9, jump 4
        nn.Conv2d(1, 1, 3, padding=1),  # 9 + 2*4 = 17
    )
    rf = _rf(model)
    assert [rf[n] for n in ("0", "1", "2", "3")] == [
        ([3, 3], [2, 2]),
        ([7, 7], [2, 2]),
        ([9, 9], [4, 4]),
        ([17, 17], [4, 4]),
    ]


def test_non_square_windows_are_tracked_per_dimension():
    rf = _rf(nn.Sequential(nn.Conv2d(1, 1, (3, 1), stride=(1, 2)), nn.Conv2d(1, 1, (1, 5))))
    assert rf["0"] == ([3, 1], [1, 2])
    assert rf["1"] == ([3, 9], [1, 2])


class TwoPaths(nn.Module):
    """A 5x5 conv beside three stacked 3x3 convs, merged by an add and by a concatenation."""

    def __init__(self) -> None:
        super().__init__()
        self.wide = nn.Conv2d(1, 2, 5, padding=2)
        self.deep = nn.Sequential(*(nn.Conv2d(c, 2, 3, padding=1) for c in (1, 2, 2)))
        self.after = nn.Conv2d(4, 1, 3, padding=1)

    def forward(self, x):
        summed = self.wide(x) + self.deep(x)
        return self.after(torch.cat([summed, x.expand(-1, 2, -1, -1)], dim=1))


def test_a_merge_takes_the_largest_field_over_its_paths():
    rf = _rf(TwoPaths())
    assert rf["wide"][0] == [5, 5] and rf["deep.2"][0] == [7, 7]
    assert rf["add"][0] == [7, 7]
    assert rf["cat"][0] == [7, 7]  # the raw input path (RF 1) does not shrink it
    assert rf["after"][0] == [9, 9]


def test_residual_block_model_from_the_zoo():
    from edgecnn.zoo import load_model

    result = inspect_model(load_model("smallcnn", weights="random"))
    rf = {layer.name: layer.receptive_field for layer in result.layers}
    # stem: conv3 (3), pool2 (4, jump 2), conv3 (8), pool2 (10, jump 4); block: two 3x3 at jump 4 -> 18, 26
    assert rf["stem.0"] == [3, 3] and rf["stem.3"] == [4, 4] and rf["stem.4"] == [8, 8] and rf["stem.7"] == [10, 10]
    assert rf["block.conv2"] == [26, 26]
    add = next(layer for layer in result.layers if layer.type == "add")
    assert add.receptive_field == [26, 26] and set(add.inputs) == {"stem.7", "block.bn2"}
    # global pooling sees the whole 8x8 map: 26 + 7*4
    assert rf["pool"] == [54, 54]


def test_1d_dilated_tcn():
    from edgecnn.zoo import load_model

    result = inspect_model(load_model("tcn1d", weights="random"))
    convs = [layer for layer in result.layers if layer.type == "Conv1d"]
    assert [c.receptive_field for c in convs] == [[3], [7], [15], [31]]
    assert [c.dilation for c in convs] == [[1], [2], [4], [8]]


def test_transposed_conv_refines_the_jump():
    model = nn.Sequential(
        nn.Conv2d(1, 1, 2, stride=2), nn.ConvTranspose2d(1, 1, 2, stride=2), nn.ConvTranspose2d(1, 1, 3, stride=2)
    )
    rf = _rf(model)
    assert rf["0"] == ([2, 2], [2, 2])
    # k=2, s=2: each output pixel comes from exactly one input pixel, so the field does not grow
    assert rf["1"] == ([2, 2], [1, 1])
    # k=3, s=2: an even output pixel gathers two neighbouring inputs (1 apart at jump 1)
    assert rf["2"] == ([3, 3], [0.5, 0.5])


def test_transposed_conv_field_is_measured_by_gradients():
    """The analytic field against the real one: which input pixels reach the centre output pixel."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 1, 3, stride=2), nn.ConvTranspose2d(1, 1, 3, stride=2), nn.Conv2d(1, 1, 3)
    ).double()
    for p in model.parameters():
        nn.init.uniform_(p, 0.5, 1.5)  # positive weights: no accidental cancellation
    x = torch.zeros(1, 1, 41, 41, dtype=torch.double, requires_grad=True)
    spans = []
    for pos in range(18, 22):  # a transposed conv's field depends on the output pixel's phase: take the largest
        x.grad = None
        model(x)[0, 0, pos, pos].backward()
        rows = x.grad[0, 0].abs().sum(1).nonzero().flatten()
        spans.append(int(rows.max() - rows.min() + 1))
    analytic = _rf(model.float(), shape=(1, 1, 41, 41))["2"][0][0]
    assert max(spans) == analytic == 7


def test_hook_fallback_agrees_on_a_sequential_model():
    model = nn.Sequential(nn.Conv2d(1, 2, 3, stride=2), nn.ReLU(), nn.MaxPool2d(3, 2), nn.Conv2d(2, 2, 3, dilation=2))
    fx_result = _rf(model)
    hooks = walk_hooks(model.eval(), torch.randn(1, 1, 32, 32))
    assert {c.name: (list(c.field.rf), list(c.field.jump)) for c in hooks.calls} == fx_result


class HandWrittenSE(nn.Module):
    """Squeeze-and-excitation with a functional global mean, as timm-style blocks write it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Conv2d(4, 4, 1)

    def forward(self, x):
        y = self.conv(x)
        return y * torch.sigmoid(self.fc(y.mean((2, 3), keepdim=True)))


def test_a_global_squeeze_makes_the_field_cover_the_whole_map():
    rf = _rf(HandWrittenSE(), shape=(1, 1, 16, 16))
    assert rf["conv"] == ([3, 3], [1, 1])
    assert rf["mean"] == ([18, 18], [16, 16])  # 3 + (16 - 1) * 1: the whole 16x16 map (plus the conv's border)
    assert rf["mul"] == ([18, 18], [1, 1])  # largest field over both paths, on the full-resolution grid
