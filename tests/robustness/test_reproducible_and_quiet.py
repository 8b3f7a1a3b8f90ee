"""Seeds make artifacts reproducible across processes; errors and normal runs print no stray warnings or logs;
a refused command leaves an earlier good artifact as it was."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

from .corpus import assert_clean_user_error, cli_run


def _edgecnn(*args: str, cwd) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "edgecnn.cli.main", *args], capture_output=True, text=True, timeout=300, env=env, cwd=cwd
    )


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_random_weights_export_is_the_same_in_two_processes(tmp_path):
    for name in ("l1", "l2"):
        proc = _edgecnn("export", "lenet5", "--weights", "random", "--out", f"{name}.onnx", "--no-check", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr[-2000:]
    assert _sha(tmp_path / "l1.onnx") == _sha(tmp_path / "l2.onnx")
    proc = _edgecnn("export", "lenet5", "--weights", "random", "--seed", "1", "--out", "l3.onnx", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert _sha(tmp_path / "l3.onnx") != _sha(tmp_path / "l1.onnx")


def test_load_model_seeds_the_weights_without_touching_the_global_rng():
    import torch

    from edgecnn.zoo.loader import load_model

    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    a = load_model("lenet5", weights="random").module.state_dict()
    assert torch.equal(torch.random.get_rng_state(), before)
    b = load_model("lenet5", weights="random", seed=0).module.state_dict()
    c = load_model("lenet5", weights="random", seed=5).module.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_a_state_dict_without_arch_is_one_line_without_a_future_warning(tmp_path):
    import torch

    from edgecnn.zoo.loader import load_model

    torch.save(load_model("lenet5", weights="random").module.state_dict(), tmp_path / "w.pth")
    (tmp_path / "g.pth").write_bytes(os.urandom(200))
    for argv, fragment in ((["inspect", "w.pth"], "--arch"), (["inspect", "g.pth", "--arch", "lenet5"], "corrupt")):
        proc = _edgecnn(*argv, cwd=tmp_path)
        assert_clean_user_error(proc.returncode, proc.stderr, fragment)
        assert "Warning" not in proc.stderr


def _batch1_reshape_model(path) -> None:
    """(1, 1, 8, 8) -> Conv -> Reshape to the constant [1, -1] (batch baked to 1) -> Gemm: runs at batch 1 only."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.standard_normal((4, 1, 3, 3)).astype(np.float32), "conv_w"),
        numpy_helper.from_array(np.array([1, -1], np.int64), "shape"),
        numpy_helper.from_array(rng.standard_normal((144, 10)).astype(np.float32), "fc_w"),
        numpy_helper.from_array(np.zeros(10, np.float32), "fc_b"),
    ]
    nodes = [
        helper.make_node("Conv", ["input", "conv_w"], ["c"]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Reshape", ["r", "shape"], ["f"]),
        helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "batch1",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def test_quantizing_a_batch1_model_prints_no_ort_error_log(tmp_path, capfd, monkeypatch):
    """The batch-2 probe of a model whose Reshape is baked to batch 1 fails by design: ORT must stay quiet."""
    from edgecnn.cli.main import run

    _batch1_reshape_model(tmp_path / "m.onnx")
    np.save(tmp_path / "c.npy", np.random.default_rng(0).standard_normal((8, 1, 8, 8)).astype(np.float32))
    args = [
        str(tmp_path / "m.onnx"),
        "--calib",
        str(tmp_path / "c.npy"),
        "--no-latency",
        "--out",
        str(tmp_path / "q.onnx"),
    ]
    monkeypatch.setattr(sys, "argv", ["edgecnn", "quantize", *args])
    try:
        run()
    except SystemExit as exc:
        assert exc.code in (0, None), exc.code
    _, err = capfd.readouterr()
    assert (tmp_path / "q.onnx").exists(), err
    assert "Dimension mismatch" not in err and "[E:onnxruntime" not in err, err


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["quantize", "{onnx}", "--calib", "{tmp}/nan.npy", "--out", "{tmp}/q.onnx", "--no-latency"], "not finite"),
        (["evaluate", "{tmp}/q.onnx", "--data", "{tmp}/labels99.npz"], "out of range"),
        (["bundle", "{tmp}/junk.onnx", "--out", "{tmp}/q.onnx"], "not a valid ONNX"),
    ],
    ids=["nan-calibration", "bad-labels", "corrupt-model-to-bundle"],
)
def test_a_refused_command_leaves_the_earlier_artifact_intact(
    argv, fragment, lenet_onnx, tmp_path, capsys, monkeypatch
):
    good = tmp_path / "q.onnx"
    good.write_bytes(lenet_onnx.path.read_bytes())
    before = _sha(good)
    np.save(tmp_path / "nan.npy", np.full((4, 1, 32, 32), np.nan, np.float32))
    np.savez(tmp_path / "labels99.npz", x=np.zeros((2, 1, 32, 32), np.float32), y=np.array([0, 99]))
    (tmp_path / "junk.onnx").write_bytes(b"junk")
    args = [a.format(tmp=tmp_path, onnx=lenet_onnx.path) for a in argv]
    code, _, err = cli_run(capsys, monkeypatch, *args)
    assert_clean_user_error(code, err, fragment)
    assert _sha(good) == before
