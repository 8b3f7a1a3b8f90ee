"""Structured channel pruning: coupled layers stay consistent, stem/head protected, errors are clear."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from edgecnn.errors import InvalidInputError, UnknownNameError, UserError
from edgecnn.evaluation.digits import top1, torch_predict
from edgecnn.passes import PASSES
from edgecnn.passes.base import PassContext
from edgecnn.passes.prune import Prune, prune
from edgecnn.zoo.loader import load_model


@pytest.fixture(scope="module")
def resnet18_64():
    return load_model("resnet18", weights="random", input_shape=(1, 3, 64, 64))


@pytest.fixture(scope="module")
def pruned_resnet18(resnet18_64):
    return prune(resnet18_64, ratio=0.3, round_to=16, check_latency=False, return_report=True)


class Branchy(nn.Module):
    """Depthwise conv, squeeze-excitation, a concatenation and a residual add: every coupling pruning must respect."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.expand = nn.Sequential(nn.Conv2d(16, 48, 1), nn.BatchNorm2d(48), nn.ReLU())
        self.dw = nn.Sequential(nn.Conv2d(48, 48, 3, padding=1, groups=48), nn.BatchNorm2d(48), nn.ReLU())
        self.se_reduce = nn.Conv2d(48, 12, 1)
        self.se_expand = nn.Conv2d(12, 48, 1)
        self.side = nn.Sequential(nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU())
        self.project = nn.Sequential(nn.Conv2d(80, 16, 1), nn.BatchNorm2d(16))
        self.head = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.stem(x)
        y = self.dw(self.expand(s))
        y = y * torch.sigmoid(self.se_expand(torch.relu(self.se_reduce(y.mean((2, 3), keepdim=True)))))
        y = self.project(torch.cat([y, self.side(s)], 1)) + s
        return self.head(y.mean((2, 3)))


class NoGradForward(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3)
        self.conv2 = nn.Conv2d(16, 16, 3)
        self.head = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():  # hides the graph from autograd tracing
            y = self.conv2(self.conv(x))
        return self.head(y.mean((2, 3)))


def test_resnet18_pruning_cuts_params_and_macs_and_keeps_stem_and_head(resnet18_64, pruned_resnet18):
    out, step = pruned_resnet18
    report = step["report"]
    assert step["type"] == "prune" and step["config"]["ratio"] == 0.3
    assert report["params"]["ratio"] <= 0.65 and report["macs"]["ratio"] <= 0.65
    m = out.module
    assert m.conv1.out_channels == 64 and m.fc.out_features == 1000  # stem and head protected
    assert {"conv1", "fc"} <= set(report["protected"])
    assert out.module(out.example_input(2)).shape == (2, 1000)
    assert resnet18_64.module.layer2[0].conv1.out_channels == 128  # the input was not modified
    changed = [layer for layer in report["layers"] if layer["out_channels"][0] != layer["out_channels"][1]]
    assert changed and all(layer["out_channels"][1] % 16 == 0 for layer in changed)


def test_residual_stream_is_pruned_as_one_group(pruned_resnet18):
    m = pruned_resnet18[0].module
    stream = {
        m.layer2[0].conv2.out_channels,
        m.layer2[0].downsample[0].out_channels,
        m.layer2[1].conv2.out_channels,
        m.layer2[0].bn2.num_features,
        m.layer3[0].conv1.in_channels,
        m.layer3[0].downsample[0].in_channels,
    }
    assert len(stream) == 1 and stream.pop() < 128


def test_depthwise_se_concat_and_residual_couplings_stay_consistent(tmp_path):
    model = Branchy().eval()
    x = torch.randn(2, 3, 16, 16)
    pruned, step = prune(
        model, ratio=0.5, round_to=4, input_shape=(1, 3, 16, 16), check_latency=False, return_report=True
    )
    assert isinstance(pruned, nn.Module) and pruned(x).shape == (2, 10)
    dw = pruned.dw[0]
    assert dw.groups == dw.in_channels == dw.out_channels == pruned.expand[0].out_channels < 48
    assert pruned.se_expand.out_channels == dw.out_channels and pruned.se_reduce.in_channels == dw.out_channels
    assert pruned.project[0].in_channels == dw.out_channels + pruned.side[0].out_channels
    assert (
        pruned.stem[0].out_channels == 16 == pruned.project[0].out_channels
    )  # the residual add couples them to the stem
    assert step["report"]["params"]["ratio"] < 0.8

    from edgecnn.exporters.onnx import export_onnx
    from edgecnn.spec import as_spec

    artifact = export_onnx(as_spec(pruned, input_shape=(1, 3, 16, 16)), tmp_path / "pruned.onnx")
    assert artifact.provenance["check"]["max_rel_error"] < 1e-4


def test_per_layer_ratio_protect_and_iterative_steps():
    spec = load_model("smallcnn", weights="random")
    out, step = prune(
        spec,
        ratio=0.25,
        per_layer={"block.conv1": 0.5},
        protect=["stem.4"],
        iterative_steps=2,
        round_to=None,
        check_latency=False,
        return_report=True,
    )
    m = out.module
    assert m.block.conv1.out_channels == 32  # its own ratio
    assert m.stem[4].out_channels == 64 == m.block.conv2.out_channels  # protected, with the residual it feeds
    steps = step["report"]["steps"]
    assert [s["step"] for s in steps] == [1, 2] and steps[0]["params"] > steps[1]["params"]


def test_fidelity_is_measured_without_calibration_data(lenet_spec):
    _, step = prune(lenet_spec, ratio=0.3, check_latency=False, return_report=True)
    fidelity = step["report"]["fidelity"]
    assert fidelity["inputs"] == "default calibration photos" and 0.0 <= fidelity["top1_agreement"] <= 1.0


@pytest.mark.parametrize("importance", ["l1", "l2", "bn_scale", "taylor", "activation"])
def test_every_importance_criterion_prunes(importance, digits_smallcnn):
    spec, train, _ = digits_smallcnn
    out, step = prune(
        spec, ratio=0.5, importance=importance, calib_data=train.x[:32], check_latency=False, return_report=True
    )
    assert out.module.block.conv1.out_channels == 32
    assert 0.0 <= step["report"]["fidelity"]["top1_agreement"] <= 1.0
    assert all(p.grad is None for p in out.module.parameters())  # no stale Taylor gradients left behind
    assert not any(hasattr(m, "_importance") for m in out.module.modules())


def test_data_aware_criteria_pick_different_channels_than_magnitude(digits_smallcnn):
    spec, train, _ = digits_smallcnn
    kept = {}
    for importance in ("l1", "activation"):
        out = prune(spec, ratio=0.5, importance=importance, calib_data=train.x[:64], check_latency=False)
        kept[importance] = out.module.block.conv1.weight.detach().abs().sum((1, 2, 3))
    assert not torch.equal(kept["l1"], kept["activation"])


def test_latency_check_times_both_models_and_warns_when_not_faster(monkeypatch, caplog):
    spec = load_model("smallcnn", weights="random")
    _, step = prune(spec, ratio=0.3, return_report=True)
    latency = step["report"]["latency"]
    assert latency["backend"] == "onnxruntime" and latency["original_ms"]["p50"] > 0 and latency["pruned_ms"]["p50"] > 0
    assert latency["speedup"] == pytest.approx(latency["original_ms"]["p50"] / latency["pruned_ms"]["p50"])

    def slower(sessions, inputs, protocol):
        return {"original": [[1.0, 1.0]] * 3, "pruned": [[2.0, 2.0]] * 3}

    monkeypatch.setattr("edgecnn.profiling.compare.time_rounds", slower)
    with caplog.at_level(logging.WARNING, logger="edgecnn.passes.prune"):
        _, step = prune(spec, ratio=0.3, return_report=True)
    assert step["report"]["latency"]["faster"] is False and step["report"]["latency"]["speedup"] == 0.5
    assert "NOT faster" in caplog.text


@pytest.mark.parametrize("ratio", [1.0, -0.1, 1.5])
def test_ratio_outside_unit_interval_is_rejected(ratio):
    with pytest.raises(InvalidInputError, match=r"ratio must be in \[0, 1\)"):
        prune(load_model("smallcnn", weights="random"), ratio=ratio)


def test_unknown_layer_names_are_named_in_the_error():
    spec = load_model("smallcnn", weights="random")
    with pytest.raises(UnknownNameError, match="no layer named 'block.conv9'.*block.conv1"):
        prune(spec, ratio=0.3, per_layer={"block.conv9": 0.5}, check_latency=False)
    with pytest.raises(UnknownNameError, match="protect: the model has no layer named 'trunk'"):
        prune(spec, ratio=0.3, protect=["trunk"], check_latency=False)


def test_untraceable_models_get_a_clear_error():
    with pytest.raises(InvalidInputError, match="cannot trace the model's graph.*conv"):
        prune(NoGradForward(), ratio=0.3, input_shape=(1, 3, 16, 16), check_latency=False)
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore", FutureWarning
        )  # torch.jit.script is deprecated, and exactly what users may still pass
        scripted = torch.jit.script(nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()))
    with pytest.raises(InvalidInputError, match="TorchScript"):
        prune(scripted, ratio=0.3, input_shape=(1, 3, 16, 16), check_latency=False)
    with pytest.raises(InvalidInputError, match="cannot run the model on an input of shape"):
        prune(Branchy(), ratio=0.3, input_shape=(1, 1, 16, 16), check_latency=False)


def test_other_bad_options_are_user_errors():
    spec = load_model("smallcnn", weights="random")
    with pytest.raises(InvalidInputError, match="needs calib_data"):
        prune(spec, ratio=0.3, importance="taylor", check_latency=False)
    with pytest.raises(InvalidInputError, match="unknown importance 'fisher'"):
        prune(spec, ratio=0.3, importance="fisher")
    with pytest.raises(InvalidInputError, match="calibration data has samples of shape"):
        prune(
            spec, ratio=0.3, importance="activation", calib_data=np.zeros((4, 1, 8, 8), np.float32), check_latency=False
        )
    with pytest.raises(InvalidInputError, match="distill_between needs train_data"):
        prune(spec, ratio=0.3, distill_between=1, check_latency=False)
    with pytest.raises(UserError, match="unknown target"):
        prune(spec, ratio=0.3, target="fpga")


def test_registered_pass_runs_from_a_recipe_config():
    spec = load_model("smallcnn", weights="random")
    ctx = PassContext()
    out = PASSES.get("prune")(ratio=0.5, protect=["stem.4"], check_latency=False).apply(spec, ctx)
    assert PASSES.get("prune") is Prune and ctx.reports[-1]["type"] == "prune"
    assert out.module.block.conv1.out_channels == 32


@pytest.mark.slow
def test_digits_model_recovers_within_one_point_after_pruning_and_distill(digits_smallcnn):
    spec, train, test = digits_smallcnn
    before = top1(torch_predict(spec.module), test)
    out, step = prune(
        spec,
        ratio=0.3,
        distill_between=2,
        train_data=(train.x, train.y),
        calib_data=train.x[:64],
        check_latency=False,
        return_report=True,
    )
    after = top1(torch_predict(out.module), test)
    assert step["report"]["macs"]["ratio"] < 0.65 and step["report"]["steps"][0]["distill"]["steps"] > 0
    assert after >= before - 1.0, f"top-1 {before:.2f} -> {after:.2f}"


def test_cli_dry_run_prints_the_recipe_step_and_bad_ratio_exits_2(tmp_path):
    import json
    import subprocess
    import sys

    from typer.testing import CliRunner

    from edgecnn.cli.main import app

    result = CliRunner().invoke(
        app, ["prune", "resnet18", "--ratio", "0.3", "--round-to", "16", "--layer", "layer4=0.5", "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    step = json.loads(result.output)["steps"][0]
    assert step["type"] == "prune" and step["round_to"] == 16 and step["per_layer"] == {"layer4": 0.5}
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgecnn.cli.main",
            "prune",
            "smallcnn",
            "--weights",
            "random",
            "--ratio",
            "1.5",
            "--no-latency",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "ratio must be in [0, 1), got 1.5" in bad.stderr


def test_cli_writes_a_pruned_onnx_model(tmp_path):
    from typer.testing import CliRunner

    from edgecnn.artifact import Artifact
    from edgecnn.cli.main import app

    out = tmp_path / "pruned.onnx"
    result = CliRunner().invoke(
        app,
        [
            "prune",
            "smallcnn",
            "--weights",
            "random",
            "--ratio",
            "0.5",
            "--no-latency",
            "--out",
            str(out),
            "--report",
            str(tmp_path / "r.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert Artifact.from_path(out).format == "onnx" and (tmp_path / "r.json").exists()


def test_pruned_model_folds_bn_quantizes_to_int8_and_exports(digits_smallcnn, tmp_path):
    from edgecnn import AdvancedQuantization, fold_bn, quantize
    from edgecnn.runtime import load_session

    spec, train, test = digits_smallcnn
    # the common recipe: prune, recover with a short distillation, then fold and quantize
    pruned = prune(spec, ratio=0.3, check_latency=False, distill_between=1, train_data=train.x)
    folded, step = fold_bn(pruned, return_report=True)
    assert step["report"]["folded"] == 4 and step["report"]["check"]["max_rel_error"] < 1e-4
    result = quantize(
        folded,
        target="onnxruntime",
        calib_data=train.x[:64],
        out=tmp_path / "int8.onnx",
        advanced=AdvancedQuantization(check_latency=False, measure_effect=False),
    )
    assert result.artifact.precision == "int8"
    session = load_session(result.artifact)
    int8 = top1(lambda x: np.concatenate([session.run(x[i : i + 1])[0] for i in range(len(x))]), test)
    assert int8 >= top1(torch_predict(pruned.module), test) - 2.0
