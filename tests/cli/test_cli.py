"""The real CLI entry point (`edgecnn.cli.main.run`: exit codes, one-line errors) for inspect and models."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edgecnn.cli.main import run


def cli(capsys, monkeypatch, *args: str) -> tuple[int, str, str]:
    """Run `edgecnn ARGS` in-process through the console-script function; (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["edgecnn", *args])
    code = 0
    try:
        run()
    except SystemExit as exc:
        code = exc.code or 0
    out, err = capsys.readouterr()
    return code, out, err


def _user_error(code: int, err: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err and "internal error" not in err
    assert err.startswith("error:")


def test_inspect_prints_a_table_and_totals(capsys, monkeypatch):
    code, out, err = cli(capsys, monkeypatch, "inspect", "smallcnn")
    assert code == 0, err
    assert "stem.0" in out and "block.conv2" in out and "AdaptiveAvgPool2d" in out
    assert "94,122" in out and "peak activations" in out and "all 7 window layers match the formula" in out


def test_inspect_json_follows_the_schema(capsys, monkeypatch):
    code, out, err = cli(capsys, monkeypatch, "inspect", "smallcnn", "--input-size", "48", "40", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["schema_version"] == 1 and data["input"]["shape"] == [1, 3, 48, 40]
    assert data["totals"]["params"] == 94122 and data["mismatches"] == []
    assert data["layers"][0]["output_shape"] == [1, 32, 48, 40]


@pytest.mark.parametrize(
    ("args", "shape"),
    [
        (("tcn1d", "--input-length", "64"), [1, 1, 64]),
        (("tcn1d", "--input-shape", "1,1,77"), [1, 1, 77]),  # N,C,L: three numbers
        (("--input-shape", "2,3,36,36", "smallcnn"), [2, 3, 36, 36]),
        (("smallcnn", "--input-shape", "1x3x40x40"), [1, 3, 40, 40]),
    ],
)
def test_input_shape_forms(capsys, monkeypatch, args, shape):
    code, out, err = cli(capsys, monkeypatch, "inspect", *args, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["input"]["shape"] == shape and data["outputs"] == [[shape[0], 10]]


def test_unknown_model_lists_close_matches(capsys, monkeypatch):
    code, _, err = cli(capsys, monkeypatch, "inspect", "resnet_50")
    _user_error(code, err)
    assert "unknown model 'resnet_50'" in err and "Did you mean: resnet50" in err


def test_corrupt_weights_file(capsys, monkeypatch, tmp_path):
    bad = tmp_path / "model.pth"
    bad.write_bytes(b"\x80\x02garbage" * 50)
    code, _, err = cli(capsys, monkeypatch, "inspect", "smallcnn", "--weights", str(bad))
    _user_error(code, err)
    assert "corrupt or not a PyTorch state dict" in err


def test_state_dict_for_the_wrong_architecture_names_the_keys(capsys, monkeypatch, tmp_path):
    import torch

    from edgecnn.zoo import load_model

    path = tmp_path / "lenet.pth"
    torch.save(load_model("lenet5", weights="random").module.state_dict(), path)
    code, _, err = cli(capsys, monkeypatch, "inspect", str(path), "--arch", "smallcnn")
    _user_error(code, err)
    assert "missing keys: stem.0.weight" in err and "unexpected keys: features.0.weight" in err


def test_impossible_input_size_names_the_layer(capsys, monkeypatch):
    code, _, err = cli(capsys, monkeypatch, "inspect", "lenet5", "--input-size", "8", "8")
    _user_error(code, err)
    assert "layer 'features.3' (Conv2d" in err and "(empty)" in err


def test_inspect_a_factory_path_and_a_torchscript_file(capsys, monkeypatch, tmp_path):
    import torch

    code, out, err = cli(
        capsys, monkeypatch, "inspect", "edgecnn.zoo.small:LeNet5", "--input-shape", "1,1,32,32", "--json"
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["model"]["source"] == "factory:edgecnn.zoo.small:LeNet5" and data["totals"]["params"] == 61706

    from edgecnn.zoo import load_model

    spec = load_model("lenet5", weights="random")
    path = tmp_path / "lenet.pt"
    torch.jit.save(torch.jit.trace(spec.module, spec.example_input()), str(path))
    code, out, err = cli(capsys, monkeypatch, "inspect", str(path), "--input-shape", "1,1,32,32")
    assert code == 0, err
    assert "61,706" in out and "traced with       opaque" in out and "TorchScript model" in out
    assert "shape check       not done" in out and "match the formula" not in out  # nothing was checked


def test_a_factory_package_in_the_current_folder_imports(capsys, monkeypatch, tmp_path):
    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg" / "models.py").write_text(
        "from torch import nn\n\n\ndef build():\n    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", [p for p in __import__("sys").path if p not in ("", str(tmp_path))])
    code, out, err = cli(capsys, monkeypatch, "inspect", "mypkg.models:build", "--input-shape", "1,3,16,16")
    assert code == 0, err
    assert "224 " in out  # Conv2d(3, 8, 3): 8*3*9 + 8 params


def test_factory_without_an_input_shape_says_what_to_give(capsys, monkeypatch):
    code, _, err = cli(capsys, monkeypatch, "inspect", "edgecnn.zoo.small:LeNet5")
    _user_error(code, err)
    assert "--input-shape" in err


@pytest.mark.parametrize(
    "args",
    [
        ("smallcnn", "--input-size", "32", "32", "--input-shape", "1,3,32,32"),
        ("smallcnn", "--input-length", "32"),
        ("tcn1d", "--input-size", "32", "32"),
        ("smallcnn", "--input-shape", "1,1,32,32"),  # wrong channel count
        ("smallcnn", "--input-shape", "1,3"),
        ("smallcnn", "--input-shape", "1,3,a,32"),
    ],
)
def test_inconsistent_input_options(capsys, monkeypatch, args):
    code, _, err = cli(capsys, monkeypatch, "inspect", *args)
    _user_error(code, err)


def test_models_json(capsys, monkeypatch):
    from edgecnn import zoo

    # two entries keep this fast; the full list is exercised by the slow test below
    monkeypatch.setattr("edgecnn.cli.models.list_models", lambda: [zoo.MODELS.get("smallcnn"), zoo.MODELS.get("tcn1d")])
    code, out, err = cli(capsys, monkeypatch, "models", "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert rows[0] == {
        "name": "smallcnn",
        "family": "reference",
        "aliases": [],
        "params": 94122,
        "macs": 10322560,
        "input": [3, 32, 32],
        "source": "edgecnn",
    }
    assert rows[1]["input"] == [1, 128]


def test_models_table_shows_the_family_alias(capsys, monkeypatch):
    from edgecnn import zoo

    monkeypatch.setattr(
        "edgecnn.cli.models.list_models", lambda: [zoo.MODELS.get("mobilenet_v2"), zoo.MODELS.get("smallcnn")]
    )
    code, out, err = cli(capsys, monkeypatch, "models")
    assert code == 0, err
    row = next(line for line in out.splitlines() if "mobilenet_v2" in line)
    assert "mobilenet" in row.replace("mobilenet_v2", "")  # the alias column
    assert "family's default member" in out


def test_optimize_with_a_family_alias_says_which_model_it_chose(capsys, monkeypatch, tmp_path, caplog):
    """`edgecnn optimize mobilenet --int8 --target tensorrt` in miniature: an alias to a small model, TensorRT without
    a GPU (nothing timed). The alias is announced, the report names the resolved model, the summary says what was not
    measured instead of claiming a side-by-side measurement."""
    from edgecnn.zoo import registry

    monkeypatch.setitem(registry.ALIASES, "lenet", "lenet5")
    out_dir = tmp_path / "trt"
    with caplog.at_level("INFO", logger="edgecnn"):
        code, out, err = cli(
            capsys, monkeypatch, "optimize", "lenet", "--int8", "--target", "tensorrt", "--calib-size", "16",
            "--out", str(out_dir),
        )  # fmt: skip
    assert code == 0, err
    assert "lenet -> lenet5 (the family's default)" in caplog.text
    report = json.loads((out_dir / "report.json").read_text())
    assert report["model"]["name"] == "lenet5"
    if report["optimized"]["latency_ms"] is None:  # no TensorRT engine here: nothing was timed
        assert "measured side by side" not in out
        assert "latency not measured on tensorrt" in out
    assert "lenet5 -> tensorrt" in out


def test_errors_keep_their_square_brackets(capsys, monkeypatch):
    from edgecnn.errors import UserError

    def refuse(*args, **kwargs):
        raise UserError('TensorRT is not installed: pip install "edgecnn[tensorrt]" on an NVIDIA GPU machine')

    monkeypatch.setattr("edgecnn.cli.inspect.load_model", refuse)
    code, _, err = cli(capsys, monkeypatch, "inspect", "smallcnn")
    _user_error(code, err)
    assert 'pip install "edgecnn[tensorrt]"' in err


def test_summary_says_what_was_measured(capsys):
    """Markup-looking text in notes and not-done items is printed as written; the title follows what was timed."""
    from types import SimpleNamespace

    from edgecnn.cli.optimize import measured_where, print_summary

    side = {"latency_ms": None, "backend": None, "precision": "fp32", "size_bytes": 1000, "macs": 10**6}
    report = {
        "model": {"name": "lenet5"},
        "target": "tensorrt",
        "baseline": dict(side),
        "optimized": {**side, "precision": "int8"},
        "speedup": None,
        "fidelity": {},
        "gates": [],
        "notes": ["install [bold]edgecnn[tensorrt][/bold] later"],
        "not_done": ['no engine: pip install "edgecnn[tensorrt]"'],
        "artifacts": [],
    }
    print_summary(SimpleNamespace(report=report, report_paths={}))
    out = capsys.readouterr().out
    assert "measured side by side" not in out and "latency not measured on tensorrt" in out
    assert "install [bold]edgecnn[tensorrt][/bold] later" in out and '"edgecnn[tensorrt]"' in out

    timed = {**side, "latency_ms": {"p50": 1.0}, "backend": "onnxruntime"}
    assert measured_where({**report, "baseline": timed, "optimized": timed}) == "measured side by side on onnxruntime"
    assert "float baseline not timed" in measured_where({**report, "optimized": timed})


def _script() -> Path:
    path = Path(sys.executable).with_name("edgecnn")
    if not path.exists():
        pytest.skip("the edgecnn console script is not installed next to this Python")
    return path


@pytest.mark.slow
def test_models_table_lists_the_whole_zoo():
    proc = subprocess.run([str(_script()), "models", "--json"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    assert rows["resnet50"]["params"] == 25557032 and round(rows["resnet50"]["macs"] / 1e9, 2) == 4.09
    assert rows["mobilenet_v2"]["params"] == 3504872 and round(rows["mobilenet_v2"]["macs"] / 1e9, 2) == 0.30


def test_console_script_unknown_model_exits_2_without_traceback():
    proc = subprocess.run([str(_script()), "inspect", "mobilenet_v9"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    assert "Did you mean: mobilenet_v2" in proc.stderr and "Traceback" not in proc.stderr


_RUN = "sys.argv = ['edgecnn', {args}]\nfrom edgecnn.cli.main import run\ntry:\n    run()\nexcept SystemExit:\n    pass"
HEAVY = ("torch", "torchvision", "openvino", "nncf", "tensorrt", "onnxruntime")
_PROBE = """
import sys
{setup}
print("HEAVY=" + ",".join(m for m in {heavy!r} if m in sys.modules))
"""


@pytest.mark.parametrize(
    "setup",
    [
        "import edgecnn",
        "import edgecnn.zoo, edgecnn.analysis.inspect, edgecnn.analysis.summary",
        _RUN.format(args="'--help'"),
        _RUN.format(args="'inspect', '--help'"),
        _RUN.format(args="'optimize', '--help'"),
    ],
)
def test_import_and_help_stay_light(setup):
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE.format(setup=setup, heavy=HEAVY)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    imported = next(line for line in proc.stdout.splitlines() if line.startswith("HEAVY=")).removeprefix("HEAVY=")
    assert imported == "", f"{setup!r} imported {imported}"
