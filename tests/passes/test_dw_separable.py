"""dw_separable: exact low-rank init, geometry kept, selection modes, MAC accounting, zoo + ONNX, digits recovery."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import edgecnn
from edgecnn.errors import InvalidInputError
from edgecnn.evaluation.digits import top1, torch_predict
from edgecnn.passes.dw_separable import conv_costs, dw_separable, reconstruction_error, separable_pair
from edgecnn.zoo.loader import load_model

# their adaptive average pool exports to ONNX only when it divides the feature map, i.e. at 224
FULL_SIZE_ONLY = {"alexnet": 224, "vgg11_bn": 224}


@pytest.mark.parametrize(
    "conv, shape",
    [
        (nn.Conv2d(5, 7, 3, stride=2, padding=1, bias=True), (2, 5, 11, 11)),
        (nn.Conv2d(4, 6, (3, 5), padding=(2, 1), dilation=(2, 1), bias=False), (2, 4, 12, 12)),
        (nn.Conv2d(3, 4, 3, padding=1, padding_mode="reflect"), (2, 3, 9, 9)),
        (nn.Conv1d(3, 8, 5, padding=4, dilation=2), (2, 3, 20)),
    ],
)
def test_full_rank_pair_is_exact_and_keeps_geometry(conv, shape):
    torch.manual_seed(0)
    x = torch.randn(shape)
    full = min(conv.out_channels, math.prod(conv.kernel_size))
    pair = separable_pair(conv, full)
    dw, pw = pair.depthwise, pair.pointwise
    assert (dw.stride, dw.padding, dw.dilation, dw.padding_mode) == (
        conv.stride,
        conv.padding,
        conv.dilation,
        conv.padding_mode,
    )
    assert dw.groups == conv.in_channels and dw.out_channels == conv.in_channels * full
    assert (pw.bias is None) == (conv.bias is None) and pw.kernel_size == (1,) * len(conv.kernel_size)
    with torch.no_grad():
        ref = conv(x)
        torch.testing.assert_close(pair(x), ref, rtol=1e-4, atol=1e-5 * ref.abs().max().item())
    assert reconstruction_error(conv.weight, full) < 1e-6


def test_rank_one_is_the_best_rank_one_approximation():
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 6, 3, bias=False)
    pair = separable_pair(conv, 1)
    # reconstruct W from the pair: W[o, i] = pw[o, i] * dw[i]
    w = pair.pointwise.weight[:, :, 0, 0, None, None] * pair.depthwise.weight[:, 0][None]
    for i in range(4):
        slice_ = conv.weight[:, i].reshape(6, 9).double()
        s = torch.linalg.svdvals(slice_)
        err = torch.linalg.norm(slice_ - w[:, i].reshape(6, 9).double())
        assert err.item() == pytest.approx(s[1:].pow(2).sum().sqrt().item(), rel=1e-4)  # Eckart-Young optimum
    total = conv.weight.double().pow(2).sum().sqrt()
    assert reconstruction_error(conv.weight, 1) == pytest.approx(
        ((conv.weight - w).double().pow(2).sum().sqrt() / total).item(), rel=1e-4
    )


def test_rank_deficient_slices_stay_exact():
    conv = nn.Conv2d(2, 3, 3, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[:, 0] = torch.outer(torch.tensor([1.0, 2.0, 3.0]), torch.arange(9.0)).reshape(3, 3, 3)
    pair = separable_pair(conv, 3)
    x = torch.randn(1, 2, 6, 6)
    with torch.no_grad():
        torch.testing.assert_close(pair(x), conv(x), rtol=1e-5, atol=1e-5)
    assert torch.isfinite(pair.pointwise.weight).all()


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.body = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1, groups=32),
            nn.Conv2d(32, 32, 1),
        )
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))
        self.input_shape = (1, 3, 16, 16)

    def forward(self, x):
        return self.head(self.body(self.stem(x)))


def _report(model, **options):
    return dw_separable(model, return_report=True, **options)[1]["report"]


def test_exact_with_large_multiplier_and_report_adds_up():
    torch.manual_seed(0)
    net = Net().eval()
    out, step = dw_separable(net, depth_multiplier=9, return_report=True)
    report = step["report"]
    assert [p["layer"] for p in report["layers"]] == ["stem", "body.1"], "depthwise and 1x1 convs are not eligible"
    assert report["check"]["exact"] and report["check"]["max_rel_error"] < 1e-4
    assert isinstance(out.stem, nn.Sequential) and isinstance(net.stem, nn.Conv2d), "input must stay untouched"
    stem = report["layers"][0]
    assert stem["depth_multiplier"] == 9 and stem["macs_before"] == 16 * 16 * 16 * 3 * 9
    assert stem["macs_after"] == 16 * 16 * (3 * 9 * 9 + 16 * 27) and stem["params_after"] == 3 * 9 * 9 + 16 * 27 + 16
    costs = conv_costs(out, torch.randn(1, 3, 16, 16))
    assert costs["stem.depthwise"]["macs"] + costs["stem.pointwise"]["macs"] == stem["macs_after"]
    assert report["conv_macs_after"] == sum(c["macs"] for c in costs.values())


def test_multiplier_is_capped_at_the_slice_rank():
    report = _report(Net().eval(), depth_multiplier=50)
    assert [p["depth_multiplier"] for p in report["layers"]] == [9, 9]
    assert report["check"]["exact"]


def test_m1_cuts_macs_several_fold_with_reported_error():
    report = _report(Net().eval(), depth_multiplier=1)
    assert report["substituted_mac_reduction"] > 5
    assert all(0 < p["rel_error"] < 1 for p in report["layers"])
    assert not report["check"]["exact"] and report["check"]["tolerance"] is None


def test_selection_modes():
    net = Net().eval()
    assert [p["layer"] for p in _report(net, include="body.*")["layers"]] == ["body.1"]
    assert [p["layer"] for p in _report(net, exclude=["stem"])["layers"]] == ["body.1"]
    # the stem (3 input channels, 16 outputs) saves less than body.1 (16 -> 32)
    savings = {p["layer"]: p["mac_saving"] for p in _report(net)["layers"]}
    threshold = (savings["stem"] + savings["body.1"]) / 2
    picked = _report(net, min_mac_saving=threshold)
    assert [p["layer"] for p in picked["layers"]] == [max(savings, key=savings.get)] and picked["skipped"]
    errors = {p["layer"]: p["rel_error"] for p in _report(net, depth_multiplier=2)["layers"]}
    low = min(errors, key=errors.get)
    chosen = _report(net, depth_multiplier=2, max_error=errors[low])
    assert [p["layer"] for p in chosen["layers"]] == [low]


def test_config_that_selects_nothing_says_so():
    net = Net().eval()
    with pytest.raises(InvalidInputError, match="selects no layer.*eligible layers.*stem, body.1"):
        dw_separable(net, include=["classifier.*"])
    with pytest.raises(InvalidInputError, match="selects no layer"):
        dw_separable(net, max_error=0.0)
    with pytest.raises(InvalidInputError, match="no eligible layer"):
        dw_separable(nn.Sequential(nn.Conv2d(3, 3, 1)).eval(), depth_multiplier=1)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_depth_multiplier_below_one_is_rejected(bad):
    with pytest.raises(InvalidInputError, match="depth_multiplier must be an integer >= 1"):
        dw_separable(Net(), depth_multiplier=bad)


def test_bad_budget_values_are_rejected():
    with pytest.raises(InvalidInputError, match="min_mac_saving"):
        dw_separable(Net(), min_mac_saving=1.5)
    with pytest.raises(InvalidInputError, match="max_error"):
        dw_separable(Net(), max_error=-0.1)


def test_resnet18_m1_drops_macs_and_exports_to_onnx(tmp_path):
    spec = load_model("resnet18", weights="random", input_shape=(1, 3, 64, 64))
    out, step = edgecnn.dw_separable(spec, depth_multiplier=1, return_report=True)
    report = step["report"]
    assert report["substituted"] == 17  # the 7x7 stem and all 16 3x3 convs; 1x1 downsamples are not eligible
    assert report["substituted_mac_reduction"] > 5
    assert report["conv_macs_after"] < 0.2 * report["conv_macs_before"]
    assert isinstance(out, edgecnn.ModelSpec) and isinstance(spec.module.conv1, nn.Conv2d)
    artifact = edgecnn.export_onnx(out, tmp_path / "r18dw.onnx")
    assert artifact.provenance["check"]["max_rel_error"] < 1e-4


def _zoo_roundtrip(name: str, size: int, tmp_path) -> None:
    spec = load_model(name, weights="random", input_shape=(1, 3, size, size))
    folded = edgecnn.fold_bn(spec, measure_latency=False)
    out, step = edgecnn.dw_separable(folded, depth_multiplier=1, return_report=True)
    assert step["report"]["substituted"] >= 1
    artifact = edgecnn.export_onnx(out, tmp_path / f"{name}.onnx")
    assert artifact.provenance["check"]["max_rel_error"] < 1e-4


@pytest.mark.parametrize("name", ["mobilenet_v3_small", "efficientnet_b0"])
def test_zoo_models_fold_substitute_and_export(name, tmp_path):
    _zoo_roundtrip(name, 64, tmp_path)


@pytest.mark.slow
def test_every_torchvision_zoo_model_folds_substitutes_and_exports(tmp_path):
    for entry in edgecnn.list_models():
        if entry.source == "torchvision":
            _zoo_roundtrip(entry.name, FULL_SIZE_ONLY.get(entry.name, 64), tmp_path)


def test_digits_m1_plus_distill_recovers(digits_smallcnn):
    spec, train, test = digits_smallcnn
    before = top1(torch_predict(spec.module), test)
    # substitute before folding: distillation re-estimates the BatchNorm statistics the substitution shifted
    student, step = edgecnn.dw_separable(spec, depth_multiplier=1, return_report=True)
    report = step["report"]
    assert report["conv_macs_after"] <= 0.5 * report["conv_macs_before"]
    substituted = top1(torch_predict(student.module), test)
    recovered = edgecnn.distill(student, spec, train.x, labels=train.y, epochs=3, lr=3e-3, progress=False)
    final = edgecnn.fold_bn(recovered, measure_latency=False)
    after = top1(torch_predict(final.module), test)
    assert after >= before - 1.5, (before, substituted, after)
    assert substituted < before - 1.5, "m=1 must have cost accuracy for the recovery to mean anything"


def test_inspect_shows_the_new_layers_and_agrees_on_macs():
    net = Net().eval()
    out, step = dw_separable(net, depth_multiplier=2, return_report=True)
    layers = {layer.name: layer for layer in edgecnn.inspect_model(out, input_shape=(1, 3, 16, 16)).layers}
    assert layers["stem.depthwise"].groups == 3 and layers["stem.depthwise"].output_shape == [1, 6, 16, 16]
    assert layers["stem.pointwise"].kernel == [1, 1] and layers["body.1.pointwise"].output_shape == [1, 32, 8, 8]
    report = step["report"]
    convs = sum(layer.macs for layer in layers.values() if layer.type == "Conv2d")
    assert convs == report["conv_macs_after"]
