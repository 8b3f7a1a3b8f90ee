"""Deployment bundles: manifest contents, loading and predicting, integrity and zip safety, atomic writes."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import edgecnn
from edgecnn.artifact import Artifact
from edgecnn.bundles.manifest import BundleIntegrityError
from edgecnn.errors import InvalidInputError
from edgecnn.fileio import sha256_file
from edgecnn.runtime import load_session

X = np.random.default_rng(1).standard_normal((2, 1, 32, 32)).astype(np.float32)


def test_manifest_describes_everything_a_device_needs(lenet_spec, lenet_onnx, tmp_path):
    import onnxruntime

    out = edgecnn.bundle(lenet_onnx, tmp_path / "b", spec=lenet_spec)
    manifest = json.loads((out / "manifest.json").read_text())
    entry = manifest["artifacts"][0]
    assert manifest["format"] == "edgecnn-bundle" and manifest["edgecnn_version"] == edgecnn.__version__
    assert manifest["labels"] == [str(i) for i in range(10)]
    assert manifest["preprocess"]["grayscale"] is True and manifest["preprocess"]["crop"] == 32
    assert entry["file"] == "models/lenet.onnx" and entry["format"] == "onnx" and entry["precision"] == "fp32"
    assert entry["runtime"] == {"name": "onnxruntime", "version": onnxruntime.__version__}
    assert entry["inputs"] == [{"name": "input", "shape": [1, 1, 32, 32], "dtype": "float32", "layout": "NCHW"}]
    assert entry["outputs"] == [{"name": "logits", "shape": [1, 10], "dtype": "float32"}]
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file() and p.name != "manifest.json")
    assert sorted(manifest["files"]) == files == ["README.md", "models/lenet.onnx"]
    assert all(manifest["files"][f] == sha256_file(out / f) for f in files)
    assert "edgecnn.bundle" in (out / "README.md").read_text()


def test_loaded_bundle_predicts_like_the_artifact_from_arrays_and_images(lenet_spec, lenet_onnx, tmp_path):
    from PIL import Image

    predictor = edgecnn.bundles.load(edgecnn.bundle(lenet_onnx, tmp_path / "b", spec=lenet_spec))
    expected = np.concatenate([load_session(lenet_onnx).run(X[i : i + 1])[0] for i in range(2)])
    np.testing.assert_allclose(predictor.predict(X), expected, rtol=1e-5, atol=1e-6)  # batch 2 on a batch-1 model
    image = (np.random.default_rng(2).random((40, 48, 3)) * 255).astype(np.uint8)
    Image.fromarray(image).save(tmp_path / "img.png")
    from_file, from_array = predictor.predict(str(tmp_path / "img.png")), predictor.predict(image)
    np.testing.assert_allclose(from_file, from_array, rtol=1e-5, atol=1e-5)
    top = predictor.classify(image, top_k=3)[0]
    assert len(top) == 3 and top[0][1] >= top[1][1] >= top[2][1] and top[0][0] == str(int(from_array.argmax()))


def test_zip_bundle_loads(lenet_spec, lenet_onnx, tmp_path):
    out = edgecnn.bundle([lenet_onnx], tmp_path / "b", spec=lenet_spec, zip=True)
    assert out.suffix == ".zip" and zipfile.is_zipfile(out)
    assert sorted(zipfile.ZipFile(out).namelist()) == ["README.md", "manifest.json", "models/lenet.onnx"]
    assert edgecnn.bundles.load(out).predict(X[:1]).shape == (1, 10)


def test_corrupted_file_fails_the_sha256_check(lenet_spec, lenet_onnx, tmp_path):
    out = edgecnn.bundle(lenet_onnx, tmp_path / "b", spec=lenet_spec)
    model = out / "models" / "lenet.onnx"
    data = bytearray(model.read_bytes())
    data[-10] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(BundleIntegrityError, match=r"sha256 mismatch for models/lenet.onnx: the file is corrupted"):
        edgecnn.bundles.load(out)


@pytest.mark.parametrize("bad_name", ["../evil.txt", "/tmp/evil.txt", "models/../../evil.txt"])
def test_zip_with_unsafe_paths_is_refused(lenet_spec, lenet_onnx, tmp_path, bad_name):
    good = edgecnn.bundle(lenet_onnx, tmp_path / "b.zip", spec=lenet_spec)
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(bad, "w") as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        dst.writestr(zipfile.ZipInfo(bad_name), b"pwned")
    with pytest.raises(BundleIntegrityError, match="unsafe path in bundle"):
        edgecnn.bundles.load(bad)
    assert not (tmp_path.parent / "evil.txt").exists() and not (tmp_path / "evil.txt").exists()


def test_older_runtime_than_the_bundle_was_made_with_is_refused(lenet_spec, lenet_onnx, tmp_path):
    out = edgecnn.bundle(lenet_onnx, tmp_path / "b", spec=lenet_spec)
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["artifacts"][0]["runtime"]["version"] = "999.1.0"
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InvalidInputError, match=r"onnxruntime .* is older than the 999.1.0 this bundle was made"):
        edgecnn.bundles.load(out)
    assert edgecnn.bundles.load(out, check_runtime=False).predict(X[:1]).shape == (1, 10)


def test_failed_write_keeps_the_earlier_bundle(lenet_spec, lenet_onnx, tmp_path):
    out = edgecnn.bundle(lenet_onnx, tmp_path / "b", spec=lenet_spec)
    before = (out / "manifest.json").read_text()
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"garbage that is not ONNX")
    with pytest.raises(InvalidInputError, match="broken.onnx is not a readable ONNX model"):
        edgecnn.bundle([lenet_onnx, Artifact(path=broken, format="onnx")], out, spec=lenet_spec)
    assert (out / "manifest.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b", "broken.onnx"]
    edgecnn.bundles.load(out)


def test_bad_inputs_are_user_errors(lenet_spec, lenet_onnx, tmp_path):
    with pytest.raises(InvalidInputError, match="bundle not found"):
        edgecnn.bundles.load(tmp_path / "nothing")
    with pytest.raises(InvalidInputError, match="nothing to bundle"):
        edgecnn.bundle([], tmp_path / "b")
    predictor = edgecnn.bundles.load(edgecnn.bundle(lenet_onnx, tmp_path / "b", spec=lenet_spec))
    with pytest.raises(InvalidInputError, match="no artifact named 'x'"):
        edgecnn.bundles.load(tmp_path / "b", artifact="x")
    with pytest.raises(InvalidInputError, match="cannot make a model input"):
        predictor.predict(np.zeros((1, 2, 3, 4, 5), np.float32))


TORCH_FREE = textwrap.dedent("""
    import sys
    sys.modules["torch"] = None  # any `import torch` now raises ImportError
    import numpy as np
    import edgecnn.bundles
    predictor = edgecnn.bundles.load(sys.argv[1])
    x = np.load(sys.argv[2])
    np.save(sys.argv[3], predictor.predict(x))
    assert sys.modules["torch"] is None, "torch was imported"
    print(predictor.runtime["backend"])
""")


def _predict_torch_free(bundle, x, tmp_path):
    np.save(tmp_path / "x.npy", x)
    script = tmp_path / "device.py"
    script.write_text(TORCH_FREE)
    run = subprocess.run(
        [sys.executable, str(script), str(bundle), str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout.strip(), np.load(tmp_path / "y.npy")


def test_loader_predicts_in_a_process_where_torch_cannot_be_imported(lenet_spec, lenet_onnx, tmp_path):
    out = edgecnn.bundle(lenet_onnx, tmp_path / "b.zip", spec=lenet_spec)
    backend, y = _predict_torch_free(out, X, tmp_path)
    assert backend == "onnxruntime"
    np.testing.assert_allclose(y, load_session(lenet_spec).run(X)[0], rtol=1e-4, atol=1e-5)


@pytest.mark.openvino
def test_openvino_bundle_predicts_without_torch(lenet_spec, lenet_onnx, tmp_path):
    ir = edgecnn.export(lenet_onnx.path, target="openvino", out=tmp_path / "ov" / "lenet.xml", check=False)
    out = edgecnn.bundle(ir, tmp_path / "b", spec=lenet_spec)
    assert sorted(json.loads((out / "manifest.json").read_text())["files"]) == [
        "README.md",
        "models/lenet.bin",
        "models/lenet.xml",
    ]
    backend, y = _predict_torch_free(out, X, tmp_path)
    assert backend == "openvino"
    np.testing.assert_allclose(y, load_session(lenet_spec).run(X)[0], rtol=1e-4, atol=1e-5)
    shutil.rmtree(tmp_path / "ov")


def test_tensorrt_engine_bundles_with_its_build_record(tmp_path):
    """Engines are built on the GPU machine; bundling one needs no TensorRT, only its build record."""
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"serialized engine bytes")
    inputs = [{"name": "input", "shape": [1, 3, 224, 224], "dtype": "float32"}]
    (tmp_path / "m.engine.json").write_text(json.dumps({"tensorrt_version": "10.9.0", "inputs": inputs}))
    pytest.importorskip("tensorrt", reason="the manifest records the installed TensorRT version")
    out = edgecnn.bundle(engine, tmp_path / "b")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["artifacts"][0]["inputs"][0]["layout"] == "NCHW"
    assert sorted(manifest["files"]) == ["README.md", "models/m.engine", "models/m.engine.json"]


def test_tensorrt_engine_cannot_be_bundled_without_tensorrt_to_record_its_version(tmp_path):
    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("TensorRT is installed here")
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"serialized engine bytes")
    (tmp_path / "m.engine.json").write_text(
        json.dumps({"inputs": [{"name": "input", "shape": [1, 3, 8, 8], "dtype": "float32"}]})
    )
    with pytest.raises(InvalidInputError, match="tensorrt is not installed here"):
        edgecnn.bundle(engine, tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_onnx_with_external_data_bundles_and_loads(lenet_spec, tmp_path):
    from edgecnn.exporters.onnx import export_onnx

    art = export_onnx(lenet_spec, tmp_path / "big.onnx", external_data=True, check=False)
    out = edgecnn.bundle(art, tmp_path / "b.zip", spec=lenet_spec)
    assert sorted(zipfile.ZipFile(out).namelist()) == [
        "README.md",
        "manifest.json",
        "models/big.onnx",
        "models/big.onnx.data",
    ]
    np.testing.assert_allclose(
        edgecnn.bundles.load(out).predict(X[:1]), load_session(lenet_spec).run(X[:1])[0], rtol=1e-4, atol=1e-5
    )


def test_cli_bundle_and_bundle_run(lenet_onnx, tmp_path):
    from PIL import Image
    from typer.testing import CliRunner

    from edgecnn.cli.main import app

    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(f"digit {i}" for i in range(10)))
    runner = CliRunner()
    made = runner.invoke(
        app,
        [
            "bundle",
            str(lenet_onnx.path),
            "--model",
            "lenet5",
            "--labels",
            str(labels),
            "--out",
            str(tmp_path / "b"),
            "--zip",
        ],
    )
    assert made.exit_code == 0, made.output
    Image.fromarray((np.random.default_rng(3).random((32, 32)) * 255).astype(np.uint8)).save(tmp_path / "d.png")
    ran = runner.invoke(app, ["bundle-run", str(tmp_path / "b.zip"), str(tmp_path / "d.png"), "--top-k", "2", "--json"])
    assert ran.exit_code == 0, ran.output
    result = json.loads(ran.output)
    assert result["runtime"]["backend"] == "onnxruntime"
    top = result["results"][0]["top"][0]
    assert len(top) == 2 and all(label.startswith("digit ") for label, _ in top)
