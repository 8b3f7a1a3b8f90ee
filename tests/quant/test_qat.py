"""Quantization-aware fine-tuning (edgecnn.qat, the qat pass, --qat) on the digits-trained smallcnn."""

import numpy as np
import pytest
from torch import nn

import edgecnn
from edgecnn.errors import InvalidInputError
from edgecnn.passes.qat import qat_finetune
from edgecnn.pipeline.build import build_recipe


def test_the_pass_returns_a_folded_float_model_that_still_agrees(digits_smallcnn):
    spec, train, _ = digits_smallcnn
    out, report = qat_finetune(spec, train.x[:256], steps=4, batch_size=32, lr=1e-5)
    module = out.module
    assert not any(isinstance(m, nn.BatchNorm2d) for m in module.modules())  # folded: trained as quantize rounds
    assert not any(hasattr(m, "parametrizations") for m in module.modules())  # the fake quantization is gone
    assert not any(m._forward_pre_hooks for m in module.modules())
    rep = report["report"]
    assert rep["steps"] == 4 and rep["labels"] is False and rep["samples"] == 512  # with the mirrored images
    assert rep["float_agreement_after"] >= 0.97
    assert rep["profile"] == "u8s8"


def test_tensorrt_profile_simulates_symmetric_activations(digits_smallcnn):
    spec, train, _ = digits_smallcnn
    _, report = qat_finetune(spec, train.x[:64], steps=1, batch_size=32, target="tensorrt")
    assert report["report"]["profile"] == "s8s8_symmetric"


def test_qat_with_labels_keeps_digits_accuracy_and_reports_against_the_original(digits_smallcnn, tmp_path):
    spec, train, test = digits_smallcnn
    result = edgecnn.qat(
        spec,
        calib_data=train.x[:200],
        train_data=(train.x[:1024], train.y[:1024]),
        steps=30,
        lr=1e-4,
        batch_size=32,
        eval_data=(test.x, test.y),
        out=tmp_path / "m.int8.onnx",
        advanced={"check_latency": False},
    )
    acc = result.report["accuracy"]
    original = float((spec.module(__import__("torch").from_numpy(test.x)).argmax(1).numpy() == test.y).mean() * 100)
    assert acc["fp32_top1"] == pytest.approx(original)  # the reference is the model before fine-tuning
    assert acc["drop_points"] <= 0.5
    assert result.report["qat"]["report"]["labels"] is True
    assert result.artifact.path.exists() and result.report["graph"]["compute_nodes_int8"] > 0


def test_qat_refuses_an_onnx_file_and_a_bad_config(lenet_onnx):
    with pytest.raises(InvalidInputError, match="fine-tunes in PyTorch"):
        edgecnn.qat(lenet_onnx)
    with pytest.raises(InvalidInputError, match="steps must be"):
        qat_finetune(nn.Linear(4, 2), np.zeros((8, 4), np.float32), steps=0)


def test_flags_put_qat_after_the_torch_passes_and_before_quantize():
    rec = build_recipe("smallcnn", int8=True, qat_steps=7, target="tensorrt", prune=0.2)
    kinds = [s.type for s in rec.steps]
    assert kinds == ["prune", "fold_bn", "qat", "quantize"]
    qat = rec.steps[2]
    assert qat.steps == 7 and qat.target == "tensorrt"
    with pytest.raises(InvalidInputError, match="--qat fine-tunes for int8"):
        build_recipe("smallcnn", qat=True)


def test_qat_that_hurts_is_measured_and_the_post_training_model_kept(digits_smallcnn, tmp_path):
    """A learning rate far too high wrecks the fine-tuned model: the post-training int8 of the original wins."""
    spec, train, test = digits_smallcnn
    result = edgecnn.qat(
        spec,
        calib_data=train.x[:128],
        steps=20,
        lr=0.5,
        batch_size=32,
        out=tmp_path / "m.onnx",
        advanced={"check_latency": False},
    )
    qat = result.report["qat"]
    assert qat["kept"] is False and qat["qat_fidelity"]["sqnr_db"] < qat["post_training_fidelity"]["sqnr_db"]
    assert any("QAT made fidelity worse" in w for w in result.report["warnings"])
    assert result.artifact.path == tmp_path / "m.onnx" and result.artifact.path.exists()


def test_pipeline_qat_that_hurts_keeps_the_post_training_model(digits_smallcnn, tmp_path, plant_speed):
    """`optimize --qat` measures the fine-tuned int8 against post-training int8 of the model before fine-tuning,
    as `edgecnn.qat` does, and ships the more faithful one (here: a learning rate that wrecks the weights)."""
    import edgecnn

    plant_speed(0.5, 0.45, 0.55)
    spec, train, test = digits_smallcnn
    recipe = {
        "model": {"name": "smallcnn-digits"},
        "steps": [
            {"type": "fold_bn"},
            {"type": "qat", "steps": 20, "lr": 0.5, "batch_size": 32},
            {"type": "quantize", "precision": "int8"},
        ],
        "profile": {"min_iters": 10, "min_seconds": 0.05, "rounds": 2, "warmup": 2},
    }
    result = edgecnn.optimize(
        spec.copy(), recipe=recipe, calib_data=train.x[:128], eval_data=(test.x[:200], test.y[:200]),
        out_dir=tmp_path / "out",
    )  # fmt: skip
    report = result.report
    quant = next(s for s in report["steps"] if s["type"] == "quantize")["report"]
    assert quant["qat"]["kept"] is False
    assert quant["qat"]["qat_fidelity"]["sqnr_db"] < quant["qat"]["post_training_fidelity"]["sqnr_db"]
    assert any("QAT made fidelity worse" in n for n in report["notes"])
    out = tmp_path / "out"
    assert (out / "model.int8.onnx").exists() and not (out / "model.post_training.int8.onnx").exists()
    assert not (out / "model.fp32.onnx").exists()  # the fine-tuned float model is no deliverable
    assert report["fidelity"]["top1_agreement"] > 0.95  # the shipped int8 agrees with the original
