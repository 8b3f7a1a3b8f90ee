"""inspect_model: per-layer windows, shapes checked against a real forward pass, params, MACs, memory, errors."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import edgecnn
from edgecnn.analysis.inspect import SCHEMA_VERSION, inspect_model
from edgecnn.analysis.summary import count_params_macs
from edgecnn.errors import InvalidInputError
from edgecnn.zoo import load_model


class Zoo(nn.Module):
    """One of every kind of window layer the formula covers, modules and functional calls."""

    def __init__(self) -> None:
        super().__init__()
        self.same = nn.Conv2d(3, 8, 3, padding="same", dilation=2)
        self.down = nn.Conv2d(8, 8, 4, stride=3, padding=1, groups=4)
        self.ceil_pool = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.avg = nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True)
        self.lp = nn.LPPool2d(2, 2)
        self.up = nn.ConvTranspose2d(8, 8, 3, stride=2, padding=1, output_padding=1)
        self.upsample = nn.Upsample(scale_factor=2)
        self.adaptive = nn.AdaptiveAvgPool2d((7, 5))
        self.weight = nn.Parameter(torch.randn(4, 8, 3, 3))

    def forward(self, x):
        x = self.ceil_pool(self.down(self.same(x)))
        x = self.up(self.lp(self.avg(x)))
        x = F.interpolate(self.upsample(x), size=(19, 23))
        x = F.conv2d(x, self.weight, stride=2, padding=1)
        x = F.max_pool2d(x, 2, ceil_mode=True)
        return self.adaptive(F.avg_pool2d(x, 1))


def test_every_window_layer_matches_the_forward_pass():
    result = inspect_model(Zoo(), input_shape=(1, 3, 61, 57))
    assert result.method == "fx" and result.mismatches == []
    windows = [layer for layer in result.layers if layer.expected_spatial is not None]
    names = {layer.name for layer in windows}
    assert {
        "same",
        "down",
        "ceil_pool",
        "avg",
        "lp",
        "up",
        "upsample",
        "interpolate",
        "conv2d",
        "max_pool2d",
        "avg_pool2d",
        "adaptive",
    } <= names
    assert all(layer.shape_ok for layer in windows)
    functional_conv = next(layer for layer in result.layers if layer.name == "conv2d")
    assert functional_conv.kernel == [3, 3] and functional_conv.stride == [2, 2]
    assert functional_conv.params == 4 * 8 * 9  # the parameter it reads, counted where it is used
    assert functional_conv.macs == torch.Size(functional_conv.output_shape).numel() * 8 * 9
    assert (
        result.totals.params
        == sum(p.numel() for p in Zoo().parameters())
        == sum(layer.params for layer in result.layers)
    )


def test_grouped_and_depthwise_convs_report_groups_params_and_macs():
    # the shape dw_separable produces: depthwise 3x3 (groups = channels) then pointwise 1x1
    model = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False), nn.Conv2d(16, 32, 1, bias=False))
    dw, pw = inspect_model(model, input_shape=(1, 16, 10, 10)).layers
    assert (dw.groups, dw.kernel, dw.params, dw.macs) == (16, [3, 3], 16 * 9, 16 * 100 * 9)
    assert (pw.groups, pw.kernel, pw.params, pw.macs) == (1, [1, 1], 16 * 32, 32 * 100 * 16)


def test_totals_by_hand_and_weight_bytes():
    spec = load_model("smallcnn", weights="random")
    result = inspect_model(spec)
    # conv 3->32 at 32x32, conv 32->64 at 16x16, two 64->64 at 8x8 (all 3x3), linear 64->10
    macs = 32 * 32 * 32 * 3 * 9 + 64 * 16 * 16 * 32 * 9 + 2 * 64 * 8 * 8 * 64 * 9 + 64 * 10
    params = sum(p.numel() for p in spec.module.parameters())
    assert (result.totals.params, result.totals.macs) == (params, macs) == count_params_macs(spec)
    assert result.totals.weight_bytes == {"fp32": 4 * params, "fp16": 2 * params, "int8": params}
    assert result.outputs == [[1, 10]]


@pytest.mark.parametrize(("inplace", "peak"), [(True, 12288), (False, 16384)])
def test_peak_activation_memory_follows_liveness_and_in_place_ops(inplace, peak):
    # input 3x16x16 fp32 = 3072 B, conv1 out 8x16x16 = 8192 B, conv2 out 4x16x16 = 4096 B.
    # In-place ReLU shares conv1's buffer: peak is conv2 (8192 + 4096), input already freed.
    # A copying ReLU holds two 8192 B buffers at once.
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(inplace=inplace), nn.Conv2d(8, 4, 1))
    assert inspect_model(model, input_shape=(1, 3, 16, 16)).totals.peak_activation_bytes == peak


def test_input_too_small_names_the_layer_whose_output_would_be_empty():
    with pytest.raises(InvalidInputError, match=r"layer 'stem\.7' \(MaxPool2d.*1x1 feature map.*0x0 \(empty\)"):
        inspect_model(load_model("smallcnn", weights="random"), input_shape=(1, 3, 2, 2))
    with pytest.raises(InvalidInputError, match=r"layer 'features\.3' \(Conv2d, k=5"):
        inspect_model(load_model("lenet5", weights="random"), input_shape=(1, 1, 8, 8))


def test_wrong_channel_count_is_a_user_error():
    with pytest.raises(InvalidInputError, match="cannot run on an input of shape"):
        inspect_model(load_model("smallcnn", weights="random"), input_shape=(1, 1, 32, 32))


def test_plain_module_needs_an_input_shape():
    with pytest.raises(InvalidInputError, match="input_shape"):
        inspect_model(nn.Conv2d(1, 1, 3))


class Untraceable(nn.Module):
    """Data-dependent control flow defeats torch.fx; the conv subclass pads inside its forward."""

    class PaddedConv(nn.Conv2d):
        def forward(self, x):
            return super().forward(F.pad(x, (1, 1, 1, 1)))

    def __init__(self) -> None:
        super().__init__()
        self.conv = self.PaddedConv(1, 4, 3)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        if x.sum() > -1e9:
            x = self.conv(x)
        return self.pool(x)


def test_untraceable_model_falls_back_to_hooks_and_reports_mismatches():
    result = inspect_model(Untraceable(), input_shape=(1, 1, 8, 8))
    assert result.method == "hooks"
    assert any("torch.fx could not trace" in note for note in result.notes)
    assert [layer.name for layer in result.layers] == ["conv", "pool"]
    # the module's own padding says 6x6 but its forward pads first: the forward pass (8x8) wins, the gap is reported
    assert result.mismatches == [
        {"layer": "conv", "type": "PaddedConv", "expected_spatial": [6, 6], "actual_spatial": [8, 8]}
    ]
    assert result.to_dict()["mismatches"] == result.mismatches
    assert result.layers[1].output_shape == [1, 4, 4, 4]


def test_torchscript_is_reported_as_opaque():
    spec = load_model("smallcnn", weights="random")
    scripted = torch.jit.trace(spec.module, spec.example_input())
    result = inspect_model(scripted, input_shape=(1, 3, 32, 32))
    assert result.method == "opaque" and result.layers == [] and result.totals.macs is None
    assert result.totals.params == sum(p.numel() for p in spec.module.parameters())
    assert result.outputs == [[1, 10]] and result.notes
    assert count_params_macs(scripted, input_shape=(1, 3, 32, 32)) == (result.totals.params, None)  # unknown, not 0


def test_json_follows_the_documented_schema():
    data = json.loads(json.dumps(edgecnn.inspect_model("tcn1d", input_shape=(1, 1, 64)).to_dict()))
    assert data["schema_version"] == SCHEMA_VERSION
    assert set(data) == {
        "schema_version",
        "model",
        "input",
        "method",
        "layers",
        "outputs",
        "totals",
        "mismatches",
        "notes",
    }
    assert set(data["totals"]) == {"params", "macs", "peak_activation_bytes", "weight_bytes"}
    layer_keys = {
        "index",
        "name",
        "type",
        "inputs",
        "input_shapes",
        "output_shape",
        "kernel",
        "stride",
        "padding",
        "dilation",
        "groups",
        "ceil_mode",
        "expected_spatial",
        "shape_ok",
        "receptive_field",
        "jump",
        "params",
        "macs",
    }
    assert all(set(layer) == layer_keys for layer in data["layers"])
    assert data["input"]["shape"] == [1, 1, 64] and data["input"]["layout"] == "NCL"
    first = data["layers"][0]
    assert (first["type"], first["kernel"], first["output_shape"], first["shape_ok"]) == (
        "Conv1d",
        [3],
        [1, 32, 64],
        True,
    )


def test_inspection_restores_training_mode():
    model = nn.Sequential(nn.Conv2d(1, 1, 3), nn.BatchNorm2d(1)).train()
    inspect_model(model, input_shape=(1, 1, 8, 8))
    assert model.training


class Products(nn.Module):
    """Matrix products written three ways, and self-attention as a module."""

    def __init__(self) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(16, 4, batch_first=True)
        self.w = nn.Parameter(torch.randn(16, 5))

    def forward(self, x):  # x: (1, 10, 16)
        y, _ = self.attention(x, x, x, need_weights=False)
        a = torch.einsum("bld,dk->blk", y, self.w)
        b = y.matmul(self.w)
        return a + b + (y @ self.w)


def test_attention_einsum_and_matmul_macs():
    result = inspect_model(Products(), input_shape=(1, 10, 16))
    macs = {layer.name: layer.macs for layer in result.layers if layer.macs}
    # q, k, v and output projections 4 * 10*16*16, scores and weighted sum 2 * 10*10*16
    assert macs["attention"] == 4 * 10 * 16 * 16 + 2 * 10 * 10 * 16
    assert macs["einsum"] == macs["matmul"] == macs["matmul_1"] == 10 * 16 * 5
    assert result.totals.macs == sum(macs.values())


def test_a_traced_graph_that_fails_to_run_falls_back_to_hooks(monkeypatch):
    import edgecnn.analysis.trace as trace

    def broken(gm, x):
        raise TypeError("unsupported operand")

    monkeypatch.setattr(trace, "walk_fx", broken)
    result = inspect_model(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), input_shape=(1, 1, 8, 8))
    assert result.method == "hooks" and [layer.name for layer in result.layers] == ["0", "1"]
    assert "failed to run (TypeError: unsupported operand)" in result.notes[0]


class Skip(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        return self.conv(x) + x


def test_a_skip_connection_keeps_its_input_alive():
    # 1x4x8x8 fp32 = 1024 B each: at the add, the input (kept for the skip), the conv output and the sum
    assert inspect_model(Skip(), input_shape=(1, 4, 8, 8)).totals.peak_activation_bytes == 3 * 1024


def test_dw_separable_output_is_inspected_as_depthwise_plus_pointwise():
    """The transforms pass's layers: each dense 3x3 becomes depthwise (groups = in_channels) then 1x1."""
    from edgecnn.passes.dw_separable import dw_separable

    spec = load_model("smallcnn", weights="random")
    before = inspect_model(spec)
    after = inspect_model(dw_separable(spec, depth_multiplier=1))
    assert after.mismatches == [] and after.totals.macs < before.totals.macs
    by_name = {layer.name: layer for layer in after.layers}
    for dense in (layer for layer in before.layers if layer.type == "Conv2d"):
        dw, pw = by_name[f"{dense.name}.depthwise"], by_name[f"{dense.name}.pointwise"]
        cin = dense.input_shapes[0][1]
        assert (dw.kernel, dw.groups, dw.input_shapes[0][1]) == (dense.kernel, cin, cin)
        assert (pw.kernel, pw.groups, pw.output_shape) == ([1, 1], 1, dense.output_shape)
        assert dw.receptive_field == pw.receptive_field == dense.receptive_field
        assert (
            dw.macs == torch.Size(dw.output_shape).numel() * 9 and pw.macs == torch.Size(pw.output_shape).numel() * cin
        )
