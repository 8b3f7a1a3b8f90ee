"""fold_bn: graph-traced folding on tiny models, the zoo (64x64; every model in the slow test), real digits accuracy."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from torch import nn

import edgecnn
from edgecnn.errors import InvalidInputError, UserError
from edgecnn.evaluation.digits import top1, torch_predict
from edgecnn.passes.fold_bn import fold_bn
from edgecnn.zoo.loader import load_model

# their adaptive average pool exports to ONNX only when it divides the feature map, i.e. at 224
FULL_SIZE_ONLY = {"alexnet": 224, "vgg11_bn": 224}


def _settle_bn(module: nn.Module, shape: tuple[int, ...], seed: int = 0) -> nn.Module:
    """Give BatchNorm layers non-trivial statistics and affine terms so folding is really tested."""
    torch.manual_seed(seed)
    for bn in module.modules():
        if isinstance(bn, nn.modules.batchnorm._BatchNorm):
            bn.momentum = None  # cumulative average over the calibration batches
            if bn.affine:
                nn.init.uniform_(bn.weight, 0.5, 1.5)
                nn.init.normal_(bn.bias, 0, 0.2)
    module.train()
    with torch.no_grad():
        for _ in range(2):
            module(torch.randn(4, *shape[1:]) * 2 + 0.5)
    return module.eval()


def _folded(model: nn.Module, shape: tuple[int, ...]):
    model.input_shape = shape
    return fold_bn(model, measure_latency=False, return_report=True)


def _bn_count(module: nn.Module) -> int:
    return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


class ConvBN(nn.Module):
    def __init__(self, conv: nn.Module, bn: nn.Module) -> None:
        super().__init__()
        self.conv, self.bn = conv, bn

    def forward(self, x):
        return self.bn(self.conv(x))


@pytest.mark.parametrize(
    "conv, bn, shape",
    [
        (nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), (1, 3, 10, 10)),
        (nn.Conv2d(3, 8, 3, bias=False), nn.BatchNorm2d(8), (1, 3, 10, 10)),
        (nn.Conv2d(8, 16, 3, groups=4, bias=False), nn.BatchNorm2d(16), (1, 8, 10, 10)),
        (nn.Conv2d(8, 8, 3, groups=8, stride=2), nn.BatchNorm2d(8), (1, 8, 10, 10)),
        (nn.Conv1d(4, 6, 5, dilation=2), nn.BatchNorm1d(6), (1, 4, 30)),
        (nn.Conv2d(3, 8, 1), nn.BatchNorm2d(8, affine=False), (1, 3, 6, 6)),
    ],
)
def test_conv_bn_folds_exactly(conv, bn, shape):
    model = _settle_bn(ConvBN(conv, bn), shape)
    x = torch.randn(3, *shape[1:])
    ref = model(x)
    out, report = _folded(model, shape)
    assert report["report"]["folded"] == 1 and report["report"]["unfolded"] == []
    assert isinstance(out.bn, nn.Identity) and isinstance(model.bn, type(bn)), "input must stay untouched"
    torch.testing.assert_close(out(x), ref, rtol=1e-4, atol=1e-5)
    assert out.conv.groups == conv.groups and out.conv.stride == conv.stride


def test_linear_bn1d_folds_but_not_on_3d_outputs():
    flat = _settle_bn(nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.BatchNorm1d(5)), (1, 3, 4))
    out, report = _folded(flat, (1, 3, 4))
    assert report["report"]["folded"] == 1
    x = torch.randn(4, 3, 4)
    torch.testing.assert_close(out(x), flat(x), rtol=1e-4, atol=1e-5)
    # Linear on (N, C, L) then BatchNorm1d(C) normalises the channel axis, not the linear's outputs
    seq = _settle_bn(nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(3)), (1, 3, 4))
    _, report = _folded(seq, (1, 3, 4))
    assert report["report"]["folded"] == 0
    assert "not 2-d" in report["report"]["unfolded"][0]["reason"]


class Unfoldable(nn.Module):
    """bn1 follows a ReLU; conv2 feeds both bn2 and a skip; bn3 is applied twice; bn4 has no running stats."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.conv2, self.bn2 = nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8)
        self.conv3, self.bn3 = nn.Conv2d(8, 8, 1), nn.BatchNorm2d(8)
        self.conv4, self.bn4 = nn.Conv2d(8, 8, 1), nn.BatchNorm2d(8, track_running_stats=False)
        self.conv5, self.bn5 = nn.Conv2d(8, 8, 1), nn.BatchNorm2d(8)

    def forward(self, x):
        y = self.bn1(torch.relu(self.conv1(x)))
        z = self.conv2(y)
        y = self.bn2(z) + z
        y = self.bn3(self.conv3(y)) + self.bn3(y)
        y = self.bn4(self.conv4(y))
        return self.bn5(self.conv5(y))


def test_unfoldable_bns_stay_and_are_listed():
    model = _settle_bn(Unfoldable(), (1, 3, 8, 8))
    x = torch.randn(2, 3, 8, 8)
    ref = model.eval()(x)
    out, report = _folded(model, (1, 3, 8, 8))
    rep = report["report"]
    assert [p["bn"] for p in rep["pairs"]] == ["bn5"]
    reasons = {u["bn"]: u["reason"] for u in rep["unfolded"]}
    assert set(reasons) == {"bn1", "bn2", "bn3", "bn4"}
    assert "relu" in reasons["bn1"] and "2 consumers" in reasons["bn2"]
    assert "called 2 times" in reasons["bn3"] and "running statistics" in reasons["bn4"]
    assert _bn_count(out) == 4
    torch.testing.assert_close(out(x), ref, rtol=1e-4, atol=1e-5)


class Untraceable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.BatchNorm2d(4))

    def forward(self, x):
        if x.sum() > 0:  # data-dependent control flow: torch.fx cannot trace this
            return self.body(x)
        return self.body(-x)


def test_untraceable_model_folds_sequential_pairs():
    model = _settle_bn(Untraceable(), (1, 3, 8, 8))
    out, report = _folded(model, (1, 3, 8, 8))
    rep = report["report"]
    assert rep["method"] == "sequential" and rep["folded"] == 1
    assert [u["bn"] for u in rep["unfolded"]] == ["body.3"]
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(out(x), model(x), rtol=1e-4, atol=1e-5)


def _zoo_check(name: str, size: int) -> int:
    spec = load_model(name, weights="random", input_shape=(1, 3, size, size))
    _settle_bn(spec.module, spec.input.shape)
    before = _bn_count(spec.module)
    out, report = edgecnn.fold_bn(spec, measure_latency=False, return_report=True)
    rep = report["report"]
    assert rep["folded"] == before and _bn_count(out.module) == 0, rep["unfolded"]
    assert rep["check"]["max_rel_error"] <= 1e-4
    again = edgecnn.fold_bn(out, measure_latency=False, return_report=True)[1]["report"]
    assert again["folded"] == 0 and again["unfolded"] == []
    assert _bn_count(spec.module) == before, "the input spec must stay untouched"
    return before


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small", "efficientnet_b0"])
def test_zoo_models_fold_completely(name):
    assert _zoo_check(name, 64) > 0


@pytest.mark.slow
def test_every_torchvision_zoo_model_folds_completely():
    names = [e.name for e in edgecnn.list_models() if e.source == "torchvision"]
    for name in names:
        _zoo_check(name, FULL_SIZE_ONLY.get(name, 64))


def test_report_lists_latency_and_reaches_context(caplog):
    spec = load_model("resblock_net", weights="random")
    spec.module.train()
    ctx = edgecnn.PassContext()
    with caplog.at_level(logging.WARNING, logger="edgecnn.passes"):
        out = edgecnn.fold_bn(spec, ctx=ctx)
    assert "training mode" in caplog.text
    assert spec.module.training, "the input's mode must not change"
    step = ctx.reports[-1]
    assert step["type"] == "fold_bn" and step["config"]["tolerance"] == 1e-4
    latency = step["report"]["latency"]
    assert latency["backend"] == "torch" and latency["p50_ms_before"] > 0 and latency["p50_ms_after"] > 0
    assert isinstance(out, edgecnn.ModelSpec) and not out.module.training


def test_folded_model_exports_to_onnx(tmp_path):
    spec = load_model("mobilenet_v3_small", weights="random", input_shape=(1, 3, 64, 64))
    _settle_bn(spec.module, spec.input.shape)
    out = edgecnn.fold_bn(spec, measure_latency=False)
    artifact = edgecnn.export_onnx(out, tmp_path / "m.onnx")
    assert artifact.provenance["check"]["max_rel_error"] < 1e-4


def test_bad_inputs():
    with pytest.raises(InvalidInputError, match="tolerance"):
        fold_bn(nn.Conv2d(1, 1, 1), tolerance=0)
    with pytest.raises(UserError, match="ModelSpec or torch.nn.Module"):
        fold_bn("resnet18")
    conv1d = nn.Sequential(nn.Conv1d(2, 4, 3), nn.BatchNorm1d(4)).eval()
    with pytest.raises(InvalidInputError, match=r"does not run on an input of shape \(1, 3, 224, 224\)"):
        fold_bn(conv1d)
    assert fold_bn(conv1d, input_shape=(1, 2, 16), return_report=True)[1]["report"]["folded"] == 1
    scripted = torch.jit.script(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).eval())
    with pytest.raises(InvalidInputError, match="TorchScript"):
        fold_bn(edgecnn.ModelSpec(scripted, edgecnn.InputSpec((1, 3, 8, 8)), "scripted"))


def test_digits_accuracy_unchanged(digits_smallcnn):
    spec, _train, test = digits_smallcnn
    before = top1(torch_predict(spec.module), test)
    folded = fold_bn(spec, measure_latency=False)
    after = top1(torch_predict(folded.module), test)
    assert before > 90, "the reference model must have learned the task for this test to mean anything"
    assert abs(after - before) <= 0.1
    probe = np.ascontiguousarray(test.x[:64])
    ref, out = torch_predict(spec.module)(probe), torch_predict(folded.module)(probe)
    assert np.abs(ref - out).max() <= 1e-4 * np.abs(ref).max()
