"""edgecnn.evaluate on models, arrays, .npz and image folders; the `edgecnn evaluate` / `quantize` commands."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import edgecnn
from edgecnn.cli.main import app
from edgecnn.errors import InvalidInputError


@pytest.fixture(scope="module")
def digits_lenet_onnx(digits_lenet, tmp_path_factory):
    """The digits-trained LeNet (digits_lenet) as fp32 ONNX: not the untrained root `lenet_onnx`."""
    spec, _, _ = digits_lenet
    return edgecnn.export_onnx(spec, tmp_path_factory.mktemp("lenet") / "lenet.onnx")


def test_accuracy_and_fidelity_on_digits(digits_lenet, digits_lenet_onnx, tmp_path):
    spec, _, test = digits_lenet
    np.savez(tmp_path / "test.npz", x=test.x, y=test.y)
    on_file = edgecnn.evaluate(digits_lenet_onnx, tmp_path / "test.npz", reference=spec)
    assert on_file["samples"] == len(test.y) and on_file["accuracy"]["top1"] > 90
    assert on_file["fidelity"]["top1_agreement"] == 1.0 and on_file["fidelity"]["sqnr_db"] > 60
    assert on_file["accuracy_delta"] == pytest.approx(0.0, abs=0.3)
    by_name = edgecnn.evaluate(digits_lenet_onnx, "digits", size=100)
    assert by_name["samples"] == 100 and by_name["accuracy"]["top1"] > 85
    unlabelled = edgecnn.evaluate(spec, test.x[:20])
    assert unlabelled["accuracy"] is None and "labels" in unlabelled["accuracy_reason"]


def test_image_folder_labels(digits_lenet_onnx, tmp_path):
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        for i in range(2):
            Image.fromarray(np.full((40, 40), 60 * i, np.uint8)).save(tmp_path / cls / f"{i}.png")
    result = edgecnn.evaluate(digits_lenet_onnx, tmp_path)
    assert result["samples"] == 4 and "top1" in result["accuracy"]


def test_evaluate_errors(digits_lenet_onnx, tmp_path):
    with pytest.raises(InvalidInputError, match="expects"):
        edgecnn.evaluate(digits_lenet_onnx, np.zeros((2, 3, 32, 32), np.float32))
    with pytest.raises(InvalidInputError, match="labels for"):
        edgecnn.evaluate(digits_lenet_onnx, np.zeros((2, 1, 32, 32), np.float32), labels=np.zeros(3))
    with pytest.raises(InvalidInputError, match="image folder"):
        edgecnn.evaluate(digits_lenet_onnx, tmp_path / "data.csv")


def test_cli_quantize_and_evaluate(digits_lenet, digits_lenet_onnx, tmp_path):
    _, train, test = digits_lenet
    np.save(tmp_path / "calib.npy", train.x[:64])
    np.savez(tmp_path / "test.npz", x=test.x[:100], y=test.y[:100])
    out = tmp_path / "lenet.int8.onnx"
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "quantize",
            str(digits_lenet_onnx.path),
            "--calib-data",
            str(tmp_path / "calib.npy"),
            "--eval-data",
            str(tmp_path / "test.npz"),
            "--out",
            str(out),
            "--no-latency",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert out.exists() and report["accuracy"]["drop_points"] <= 1.0
    res = runner.invoke(
        app,
        [
            "evaluate",
            str(out),
            "--data",
            str(tmp_path / "test.npz"),
            "--reference",
            str(digits_lenet_onnx.path),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["fidelity"]["top1_agreement"] >= 0.95


def test_cli_user_errors_exit_2(digits_lenet_onnx, tmp_path):
    import subprocess
    import sys

    bad = tmp_path / "wrong.npy"
    np.save(bad, np.zeros((4, 3, 8, 8), np.float32))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "edgecnn.cli.main",
            "quantize",
            str(digits_lenet_onnx.path),
            "--calib-data",
            str(bad),
            "--out",
            str(tmp_path / "x.onnx"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "expects" in proc.stderr
    assert not (tmp_path / "x.onnx").exists()
