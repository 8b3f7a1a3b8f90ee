"""Unstructured and 2:4 weight sparsity: right zeros, unchanged shapes, honest sizes and a plain speed note."""

from __future__ import annotations

import pytest
import torch

from edgecnn.errors import InvalidInputError, UnknownNameError
from edgecnn.evaluation.digits import top1, torch_predict
from edgecnn.passes.sparsify import is_2_4, sparsify
from edgecnn.zoo.loader import load_model


@pytest.fixture(scope="module")
def resblock_net():
    return load_model("resblock_net", weights="random")


def _layers(report):
    return {d["layer"]: d for d in report["layers"]}


def test_unstructured_per_layer_hits_the_target_and_keeps_shapes():
    spec = load_model("smallcnn", weights="random")
    out, step = sparsify(spec, sparsity=0.6, return_report=True)
    report = step["report"]
    for name, stats in _layers(report).items():
        weight = out.module.get_submodule(name).weight
        assert stats["sparsity"] == pytest.approx(0.6, abs=0.01)
        assert float((weight == 0).float().mean()) == pytest.approx(stats["sparsity"])
        assert weight.shape == spec.module.get_submodule(name).weight.shape
    assert float((spec.module.block.conv1.weight == 0).float().mean()) == 0.0  # input untouched
    assert not any(n.endswith("weight_orig") for n, _ in out.module.named_parameters())  # masks baked in
    assert "TensorRT" in report["speed"] and "dense speed" in report["speed"]


def test_global_threshold_and_per_layer_overrides(resblock_net):
    out, step = sparsify(resblock_net, sparsity=0.7, global_=True, per_layer={"features.3": 0.2}, return_report=True)
    layers = _layers(step["report"])
    assert layers["features.3.conv1"]["sparsity"] == pytest.approx(0.2, abs=0.01)
    assert layers["features.3.conv2"]["sparsity"] == pytest.approx(0.2, abs=0.01)
    rest = [d for n, d in layers.items() if not n.startswith("features.3.")]
    total = sum(d["zeros"] for d in rest) / sum(d["weights"] for d in rest)
    assert total == pytest.approx(0.7, abs=0.01)
    assert max(d["sparsity"] for d in rest) - min(d["sparsity"] for d in rest) > 0.05  # one threshold, uneven layers


def test_two_four_pattern_holds_and_unfit_layers_are_skipped(resblock_net, tmp_path):
    out, step = sparsify(resblock_net, pattern="2:4", protect=["head"], return_report=True)
    report = step["report"]
    assert report["skipped"] == [{"layer": "features.0", "reason": "3 input channels per group is not a multiple of 4"}]
    assert "head" not in _layers(report) and float((out.module.head.weight == 0).float().mean()) == 0.0
    assert len(_layers(report)) == 9
    for name in _layers(report):
        assert is_2_4(out.module.get_submodule(name).weight)
    assert not is_2_4(resblock_net.module.features[3].conv1.weight)
    size = report["size"]
    assert size["sparse_format_ratio"] < 0.6 and size["zip_bytes_after"] < size["zip_bytes_before"]

    from edgecnn.exporters.onnx import export_onnx

    artifact = export_onnx(out, tmp_path / "sparse.onnx")
    assert artifact.provenance["check"]["max_rel_error"] < 1e-4


def test_two_four_keeps_the_two_largest_of_each_group():
    layer = torch.nn.Linear(8, 1, bias=False)
    layer.weight.data = torch.tensor([[0.1, -3.0, 2.0, 0.5, 4.0, 0.0, -0.2, 0.3]])
    out = sparsify(torch.nn.Sequential(layer), pattern="2:4")
    assert torch.equal(out[0].weight, torch.tensor([[0.0, -3.0, 2.0, 0.0, 4.0, 0.0, 0.0, 0.3]]))


def test_trained_model_keeps_accuracy_at_moderate_global_sparsity(digits_smallcnn):
    spec, train, test = digits_smallcnn
    out, step = sparsify(spec, sparsity=0.3, global_=True, calib_data=train.x[:64], return_report=True)
    before, after = top1(torch_predict(spec.module), test), top1(torch_predict(out.module), test)
    assert after >= before - 1.0, f"top-1 {before:.2f} -> {after:.2f}"
    assert step["report"]["fidelity"]["top1_agreement"] >= 0.95


def test_bad_input_is_rejected_clearly():
    spec = load_model("smallcnn", weights="random")
    with pytest.raises(InvalidInputError, match=r"sparsity must be in \[0, 1\)"):
        sparsify(spec, sparsity=1.0)
    with pytest.raises(InvalidInputError, match="unknown pattern '4:8'"):
        sparsify(spec, pattern="4:8")
    with pytest.raises(InvalidInputError, match="2:4 pattern is exactly 50%"):
        sparsify(spec, pattern="2:4", sparsity=0.7)
    with pytest.raises(UnknownNameError, match="no layer named 'head2'.*head"):
        sparsify(spec, per_layer={"head2": 0.5})
    with pytest.raises(InvalidInputError, match="distill_epochs needs train_data"):
        sparsify(spec, distill_epochs=1)


@pytest.mark.slow
def test_two_four_recovers_with_masked_distillation(digits_smallcnn):
    spec, train, test = digits_smallcnn
    out, step = sparsify(
        spec, pattern="2:4", distill_epochs=1, train_data=(train.x[:640], train.y[:640]), return_report=True
    )
    for name in _layers(step["report"]):
        assert is_2_4(out.module.get_submodule(name).weight)  # the zeros survived fine-tuning
    assert not any(m._forward_pre_hooks for m in out.module.modules())
    before, after = top1(torch_predict(spec.module), test), top1(torch_predict(out.module), test)
    assert after >= before - 2.0, f"top-1 {before:.2f} -> {after:.2f}"
    assert step["report"]["distill"]["steps"] > 0
