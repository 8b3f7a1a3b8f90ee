"""The bad-input corpus: every case is a user mistake the CLI must answer with exit 2 and one clear line.

Each case is (id, argv, files to create, expected message fragment). argv may use the placeholders
{tmp} (the test's tmp_path), {onnx} (a good LeNet ONNX), {bundle} (a good bundle folder copy) and {pth}
(a LeNet state dict). Every case runs in-process through the console-script entry (`edgecnn.cli.main.run`).
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from .corpus import assert_clean_user_error, cli_run

# ----------------------------------------------------------------------------------------------- file makers


@pytest.fixture(scope="session")
def good_bundle(lenet_onnx, lenet_spec, tmp_path_factory):
    """A verified bundle folder made from the shared LeNet ONNX (copy it before tampering)."""
    from edgecnn.bundles.writer import write_bundle as bundle

    out = tmp_path_factory.mktemp("good-bundle") / "b"
    return bundle([lenet_onnx], out=out, spec=lenet_spec)


def _bytes(data: bytes):
    return lambda path, ctx: path.write_bytes(data)


def _text(text: str):
    return lambda path, ctx: path.write_text(text)


def _npy(array):
    return lambda path, ctx: np.save(path, array)


def _npz(**arrays):
    return lambda path, ctx: np.savez(path, **arrays)


def _truncated_onnx(path, ctx):
    data = Path(ctx["onnx"]).read_bytes()
    path.write_bytes(data[: len(data) // 3])


def _png(size, mode="RGB"):
    def make(path, ctx):
        from PIL import Image

        Image.new(mode, size).save(path)

    return make


def _bomb_png(path, ctx):
    """A PNG whose header claims 40000 x 40000 pixels (1.6 Gpixels, past Pillow's bomb limit) in a few bytes."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 40000, 40000, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def _zip(entries: dict[str, bytes]):
    def make(path, ctx):
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in entries.items():
                zf.writestr(name, data)

    return make


def _dir(path, ctx):
    path.mkdir()


def _image_folder_with_corrupt_image(path, ctx):
    (path / "cls").mkdir(parents=True)
    (path / "cls" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")


def _state_dict(path, ctx):
    import torch

    from edgecnn.zoo.loader import load_model

    torch.save(load_model("lenet5", weights="random").module.state_dict(), path)


def _truncated_pth(path, ctx):
    _state_dict(path, ctx)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _manifest(edit):
    """Edit the good bundle's manifest.json (edit gets the parsed manifest and returns the new document)."""

    def make(path, ctx):
        shutil.copytree(ctx["good_bundle"], path)
        manifest = json.loads((path / "manifest.json").read_text())
        (path / "manifest.json").write_text(json.dumps(edit(manifest)))

    return make


def _bundle_edit(edit):
    def make(path, ctx):
        shutil.copytree(ctx["good_bundle"], path)
        edit(path)

    return make


def _tamper_model(root: Path) -> None:
    model = next((root / "models").glob("*.onnx"))
    model.write_bytes(model.read_bytes()[:-10] + b"0123456789")


def _unlisted_and_tampered(root: Path) -> None:
    manifest = json.loads((root / "manifest.json").read_text())
    model = next(k for k in manifest["files"] if k.endswith(".onnx"))
    del manifest["files"][model]
    (root / "manifest.json").write_text(json.dumps(manifest))
    _tamper_model(root)


def _no_files_and_tampered(root: Path) -> None:
    manifest = json.loads((root / "manifest.json").read_text())
    del manifest["files"]
    (root / "manifest.json").write_text(json.dumps(manifest))
    _tamper_model(root)


def _empty_files_and_tampered(root: Path) -> None:
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["files"] = {}
    (root / "manifest.json").write_text(json.dumps(manifest))
    _tamper_model(root)


def _extra_file(root: Path) -> None:
    (root / "models" / "extra.onnx").write_bytes(b"surprise")


def _missing_file(root: Path) -> None:
    next((root / "models").glob("*.onnx")).unlink()


def _drop(key):
    def edit(m):
        m.pop(key)
        return m

    return edit


def _set(key, value):
    def edit(m):
        m[key] = value
        return m

    return edit


def _artifact_without_runtime(m):
    for entry in m["artifacts"]:
        entry.pop("runtime")
    return m


def _artifact_not_a_mapping(m):
    m["artifacts"] = ["model.onnx"]
    return m


def _yaml_recipe(text: str):
    return _text(text)


BILLION_LAUGHS = "\n".join(
    ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]" for p, c in zip("abcdefgh", "bcdefghi")]
    + ["model: *i"]
)

GOOD_SUITE = "name: s\ncases:\n  - model: lenet5\n    precision: fp32\n"

# id, argv, {file name: maker}, expected fragment
CASES = [
    # -- corrupt / truncated / empty ONNX (item 6) in every command that reads one
    ("onnx-garbage-profile", ["profile", "{tmp}/m.onnx"], {"m.onnx": _bytes(b"not onnx at all")}, "not a valid ONNX"),
    (
        "onnx-garbage-quantize",
        ["quantize", "{tmp}/m.onnx", "--out", "{tmp}/q.onnx"],
        {"m.onnx": _bytes(b"\x00\x01garbage")},
        "not a valid ONNX",
    ),
    (
        "onnx-garbage-evaluate",
        ["evaluate", "{tmp}/m.onnx", "--data", "digits"],
        {"m.onnx": _bytes(b"xx")},
        "not a valid ONNX",
    ),
    (
        "onnx-garbage-bundle",
        ["bundle", "{tmp}/m.onnx", "--out", "{tmp}/b"],
        {"m.onnx": _bytes(b"junk")},
        "not a valid ONNX",
    ),
    (
        "onnx-garbage-bench-ab",
        ["bench", "ab", "{onnx}", "{tmp}/m.onnx", "--seconds", "0.1", "--rounds", "2"],
        {"m.onnx": _bytes(b"junk")},
        "not a valid ONNX",
    ),
    ("onnx-empty-profile", ["profile", "{tmp}/m.onnx"], {"m.onnx": _bytes(b"")}, "empty"),
    ("onnx-truncated-profile", ["profile", "{tmp}/m.onnx"], {"m.onnx": _truncated_onnx}, "ONNX"),
    ("onnx-truncated-evaluate", ["evaluate", "{tmp}/m.onnx", "--data", "digits"], {"m.onnx": _truncated_onnx}, "ONNX"),
    ("onnx-directory-profile", ["profile", "{tmp}/m.onnx"], {"m.onnx": _dir}, "directory"),
    ("onnx-missing-profile", ["profile", "{tmp}/none.onnx"], {}, "not found"),
    ("onnx-wrong-suffix", ["profile", "{tmp}/m.txt"], {"m.txt": _text("hi")}, "unknown model"),
    # -- OpenVINO IR
    (
        "openvino-garbage-xml",
        ["profile", "{tmp}/m.xml", "--target", "openvino"],
        {"m.xml": _text("<net>broken"), "m.bin": _bytes(b"")},
        "OpenVINO",
    ),
    # -- PyTorch weights
    ("pth-garbage", ["inspect", "{tmp}/w.pth", "--arch", "lenet5"], {"w.pth": _bytes(b"garbage")}, "w.pth"),
    ("pth-empty", ["inspect", "{tmp}/w.pth", "--arch", "lenet5"], {"w.pth": _bytes(b"")}, "w.pth"),
    ("pth-truncated", ["inspect", "{tmp}/w.pth", "--arch", "lenet5"], {"w.pth": _truncated_pth}, "w.pth"),
    ("pth-wrong-arch", ["inspect", "{tmp}/w.pth", "--arch", "smallcnn"], {"w.pth": _state_dict}, "smallcnn"),
    ("pth-without-arch", ["inspect", "{tmp}/w.pth"], {"w.pth": _state_dict}, "--arch"),
    ("weights-garbage", ["inspect", "lenet5", "--weights", "{tmp}/w.pt"], {"w.pt": _bytes(b"PK junk")}, "w.pt"),
    ("torchscript-garbage", ["inspect", "{tmp}/m.pt"], {"m.pt": _bytes(b"junk")}, "m.pt"),
    # -- calibration data (item 7)
    (
        "calib-nan",
        ["quantize", "{onnx}", "--calib", "{tmp}/c.npy", "--out", "{tmp}/q.onnx", "--no-latency"],
        {"c.npy": _npy(np.full((4, 1, 32, 32), np.nan, np.float32))},
        "not finite",
    ),
    (
        "calib-inf",
        ["quantize", "{onnx}", "--calib", "{tmp}/c.npy", "--out", "{tmp}/q.onnx", "--no-latency"],
        {"c.npy": _npy(np.full((4, 1, 32, 32), np.inf, np.float32))},
        "not finite",
    ),
    (
        "calib-wrong-rank",
        ["quantize", "{onnx}", "--calib", "{tmp}/c.npy", "--out", "{tmp}/q.onnx"],
        {"c.npy": _npy(np.zeros((4, 32), np.float32))},
        "c.npy",
    ),
    (
        "calib-strings",
        ["quantize", "{onnx}", "--calib", "{tmp}/c.npy", "--out", "{tmp}/q.onnx"],
        {"c.npy": _npy(np.array(["a", "b"]))},
        "c.npy",
    ),
    (
        "calib-garbage-npy",
        ["quantize", "{onnx}", "--calib", "{tmp}/c.npy", "--out", "{tmp}/q.onnx"],
        {"c.npy": _bytes(b"garbage")},
        "c.npy",
    ),
    (
        "calib-empty-npz",
        ["quantize", "{onnx}", "--calib", "{tmp}/c.npz", "--out", "{tmp}/q.onnx"],
        {"c.npz": _npz()},
        "c.npz",
    ),
    (
        "calib-corrupt-image",
        ["quantize", "{onnx}", "--calib", "{tmp}/imgs", "--out", "{tmp}/q.onnx"],
        {"imgs": _image_folder_with_corrupt_image},
        "bad.png",
    ),
    ("calib-missing", ["quantize", "{onnx}", "--calib", "{tmp}/nothing", "--out", "{tmp}/q.onnx"], {}, "nothing"),
    # -- eval data (item 16)
    (
        "eval-label-99",
        ["evaluate", "{onnx}", "--data", "{tmp}/e.npz"],
        {"e.npz": _npz(x=np.zeros((4, 1, 32, 32), np.float32), y=np.array([0, 1, 99, 2]))},
        "label",
    ),
    (
        "eval-label-negative",
        ["evaluate", "{onnx}", "--data", "{tmp}/e.npz"],
        {"e.npz": _npz(x=np.zeros((4, 1, 32, 32), np.float32), y=np.array([0, -1, 1, 2]))},
        "label",
    ),
    (
        "eval-label-count",
        ["evaluate", "{onnx}", "--data", "{tmp}/e.npz"],
        {"e.npz": _npz(x=np.zeros((4, 1, 32, 32), np.float32), y=np.array([0, 1]))},
        "label",
    ),
    (
        "eval-float-labels",
        ["evaluate", "{onnx}", "--data", "{tmp}/e.npz"],
        {"e.npz": _npz(x=np.zeros((2, 1, 32, 32), np.float32), y=np.array([0.5, 1.5]))},
        "label",
    ),
    (
        "eval-wrong-shape",
        ["evaluate", "{onnx}", "--data", "{tmp}/e.npz"],
        {"e.npz": _npz(x=np.zeros((2, 3, 8, 8), np.float32), y=np.array([0, 1]))},
        "shape",
    ),
    (
        "eval-nan",
        ["evaluate", "{onnx}", "--data", "{tmp}/e.npz"],
        {"e.npz": _npz(x=np.full((2, 1, 32, 32), np.nan, np.float32), y=np.array([0, 1]))},
        "not finite",
    ),
    ("eval-no-x", ["evaluate", "{onnx}", "--data", "{tmp}/e.npz"], {"e.npz": _npz(y=np.array([0, 1]))}, "shape (2,)"),
    (
        "eval-garbage-npz",
        ["evaluate", "{onnx}", "--data", "{tmp}/e.npz"],
        {"e.npz": _bytes(b"PK\x03\x04junk")},
        "e.npz",
    ),
    # -- profile inputs
    ("profile-input-garbage", ["profile", "{onnx}", "--input", "{tmp}/x.npy"], {"x.npy": _bytes(b"nope")}, "x.npy"),
    (
        "profile-input-wrong-shape",
        ["profile", "{onnx}", "--input", "{tmp}/x.npy"],
        {"x.npy": _npy(np.zeros((1, 3, 7, 7), np.float32))},
        "does not fit the model",
    ),
    # -- recipes (item 11) and hostile YAML
    (
        "recipe-steps-int",
        ["optimize", "--recipe", "{tmp}/r.yaml", "--dry-run"],
        {"r.yaml": _yaml_recipe("model: {name: lenet5}\nsteps: 5\n")},
        "steps",
    ),
    (
        "recipe-binary",
        ["optimize", "--recipe", "{tmp}/r.yaml", "--dry-run"],
        {"r.yaml": _bytes(bytes(range(256)) * 4)},
        "r.yaml",
    ),
    ("recipe-directory", ["optimize", "--recipe", "{tmp}/r.yaml", "--dry-run"], {"r.yaml": _dir}, "directory"),
    (
        "recipe-billion-laughs",
        ["optimize", "--recipe", "{tmp}/r.yaml", "--dry-run"],
        {"r.yaml": _yaml_recipe(BILLION_LAUGHS)},
        "r.yaml",
    ),
    (
        "recipe-python-tag",
        ["optimize", "--recipe", "{tmp}/r.yaml", "--dry-run"],
        {"r.yaml": _yaml_recipe("model: !!python/object/apply:os.system ['echo pwned']\n")},
        "not valid YAML",
    ),
    (
        "recipe-unknown-key",
        ["optimize", "--recipe", "{tmp}/r.yaml", "--dry-run"],
        {"r.yaml": _yaml_recipe("model: {name: lenet5}\nfrobnicate: 1\n")},
        "unknown key",
    ),
    (
        "recipe-wrong-type",
        ["optimize", "--recipe", "{tmp}/r.yaml", "--dry-run"],
        {"r.yaml": _yaml_recipe("model: {name: lenet5}\nseed: lots\n")},
        "seed",
    ),
    (
        "recipe-unknown-step",
        ["optimize", "--recipe", "{tmp}/r.yaml", "--dry-run"],
        {"r.yaml": _yaml_recipe("model: {name: lenet5}\nsteps: [{type: turbo}]\n")},
        "unknown step type",
    ),
    (
        "recipe-step-not-mapping",
        ["optimize", "--recipe", "{tmp}/r.yaml", "--dry-run"],
        {"r.yaml": _yaml_recipe("model: {name: lenet5}\nsteps: [fold_bn]\n")},
        "steps",
    ),
    ("recipe-empty", ["optimize", "--recipe", "{tmp}/r.yaml", "--dry-run"], {"r.yaml": _text("")}, "mapping"),
    ("recipe-list", ["optimize", "--recipe", "{tmp}/r.yaml", "--dry-run"], {"r.yaml": _text("- 1\n- 2\n")}, "mapping"),
    (
        "recipe-unknown-target",
        ["optimize", "--recipe", "{tmp}/r.yaml", "--dry-run"],
        {"r.yaml": _yaml_recipe("model: {name: lenet5}\ntarget: toaster\n")},
        "unknown target",
    ),
    ("recipe-unknown-name", ["optimize", "--recipe", "no-such-recipe", "--dry-run"], {}, "no-such-recipe"),
    # -- bundles (items 5, 12) and hostile archives
    ("bundle-unlisted-tampered", ["bundle-run", "{tmp}/b"], {"b": _bundle_edit(_unlisted_and_tampered)}, "not listed"),
    ("bundle-no-files-tampered", ["bundle-run", "{tmp}/b"], {"b": _bundle_edit(_no_files_and_tampered)}, "files"),
    (
        "bundle-empty-files-tampered",
        ["bundle-run", "{tmp}/b"],
        {"b": _bundle_edit(_empty_files_and_tampered)},
        "'files'",
    ),
    ("bundle-tampered", ["bundle-run", "{tmp}/b"], {"b": _bundle_edit(_tamper_model)}, "sha256 mismatch"),
    ("bundle-extra-file", ["bundle-run", "{tmp}/b"], {"b": _bundle_edit(_extra_file)}, "not listed"),
    ("bundle-missing-file", ["bundle-run", "{tmp}/b"], {"b": _bundle_edit(_missing_file)}, "missing"),
    ("manifest-list", ["bundle-run", "{tmp}/b"], {"b": _manifest(lambda m: [m])}, "manifest"),
    (
        "manifest-schema-string",
        ["bundle-run", "{tmp}/b"],
        {"b": _manifest(_set("schema_version", "one"))},
        "schema_version",
    ),
    ("manifest-no-runtime", ["bundle-run", "{tmp}/b"], {"b": _manifest(_artifact_without_runtime)}, "runtime"),
    ("manifest-artifact-string", ["bundle-run", "{tmp}/b"], {"b": _manifest(_artifact_not_a_mapping)}, "artifacts"),
    ("manifest-no-artifacts", ["bundle-run", "{tmp}/b"], {"b": _manifest(_drop("artifacts"))}, "artifacts"),
    (
        "manifest-not-json",
        ["bundle-run", "{tmp}/b"],
        {"b": _bundle_edit(lambda root: (root / "manifest.json").write_text("{nope"))},
        "not valid JSON",
    ),
    ("bundle-zip-garbage", ["bundle-run", "{tmp}/b.zip"], {"b.zip": _bytes(b"PK\x03\x04 broken")}, "b.zip"),
    ("bundle-zip-empty", ["bundle-run", "{tmp}/b.zip"], {"b.zip": _zip({})}, "manifest.json"),
    ("bundle-zip-dotdot", ["bundle-run", "{tmp}/b.zip"], {"b.zip": _zip({"../evil.txt": b"x"})}, "unsafe"),
    ("bundle-zip-absolute", ["bundle-run", "{tmp}/b.zip"], {"b.zip": _zip({"/tmp/evil.txt": b"x"})}, "unsafe"),
    ("bundle-run-bomb-png", ["bundle-run", "{bundle}", "{tmp}/bomb.png"], {"bomb.png": _bomb_png}, "bomb.png"),
    ("bundle-run-garbage-png", ["bundle-run", "{bundle}", "{tmp}/x.png"], {"x.png": _bytes(b"nope")}, "x.png"),
    ("bundle-run-garbage-npy", ["bundle-run", "{bundle}", "{tmp}/x.npy"], {"x.npy": _bytes(b"nope")}, "x.npy"),
    # -- bench suites and results
    (
        "bench-suite-garbage",
        ["bench", "run", "{tmp}/s.yaml", "--out", "{tmp}/r.json"],
        {"s.yaml": _bytes(b"\xff\xfe\x00binary")},
        "s.yaml",
    ),
    (
        "bench-suite-unknown-key",
        ["bench", "run", "{tmp}/s.yaml", "--out", "{tmp}/r.json"],
        {"s.yaml": _text(GOOD_SUITE + "bogus: 1\n")},
        "bogus",
    ),
    (
        "bench-suite-list",
        ["bench", "run", "{tmp}/s.yaml", "--out", "{tmp}/r.json"],
        {"s.yaml": _text("- 1\n")},
        "s.yaml",
    ),
    (
        "bench-results-garbage",
        ["bench", "compare", "{tmp}/a.json", "{tmp}/b.json"],
        {"a.json": _text("{nope"), "b.json": _text("{}")},
        "a.json",
    ),
    ("bench-results-list", ["bench", "compare", "{tmp}/a.json", "{tmp}/a.json"], {"a.json": _text("[1, 2]")}, "a.json"),
    ("report-validate-garbage", ["report", "--validate", "{tmp}/r.json"], {"r.json": _bytes(b"\x00\xff")}, "r.json"),
    # -- unknown names
    ("unknown-model", ["inspect", "no_such_net"], {}, "no_such_net"),
    ("unknown-target", ["optimize", "lenet5", "--target", "toaster", "--dry-run"], {}, "unknown target"),
    ("unknown-quant-method", ["quantize", "{onnx}", "--method", "vibes", "--out", "{tmp}/q.onnx"], {}, "vibes"),
    # -- shapes and devices (item 13)
    ("input-shape-huge", ["inspect", "lenet5", "--input-shape", "1,1,100000,100000"], {}, "too large"),
    ("input-shape-negative", ["inspect", "lenet5", "--input-shape", "1,1,-32,32"], {}, "at least 1"),
    ("input-shape-spaces", ["inspect", "lenet5", "--input-shape", "1", "1", "32", "32"], {}, "N,C,H,W or N,C,L"),
    ("input-shape-zero", ["inspect", "lenet5", "--input-shape", "1,1,0,32"], {}, "at least 1"),
    ("input-shape-words", ["inspect", "lenet5", "--input-shape", "big"], {}, "numbers"),
    ("device-bad-port", ["profile", "{onnx}", "--device", "tcp://127.0.0.1:notaport", "--token", "t"], {}, "port"),
    # -- values out of range and pipeline early checks
    (
        "optimize-nan-calib",
        ["optimize", "lenet5", "--weights", "random", "--int8", "--calib", "{tmp}/c.npy", "--out", "{tmp}/run"],
        {"c.npy": _npy(np.full((4, 1, 32, 32), np.inf, np.float32))},
        "not finite",
    ),
    (
        "optimize-eval-label-99",
        ["optimize", "lenet5", "--weights", "random", "--int8", "--eval-data", "{tmp}/e.npz", "--out", "{tmp}/run"],
        {"e.npz": _npz(x=np.zeros((2, 1, 32, 32), np.float32), y=np.array([3, 99]))},
        "out of range",
    ),
    ("optimize-prune-ratio", ["optimize", "lenet5", "--prune", "1.5", "--dry-run"], {}, "prune"),
    ("quantize-calib-size-zero", ["quantize", "{onnx}", "--calib-size", "0", "--out", "{tmp}/q.onnx"], {}, "calib"),
    ("export-bad-precision", ["export", "lenet5", "--precision", "int9", "--out", "{tmp}/m.onnx"], {}, "int9"),
    ("export-bad-suffix", ["export", "lenet5", "--out", "{tmp}/m.docx"], {}, "m.docx"),
    ("bench-ab-missing", ["bench", "ab", "{onnx}", "{tmp}/none.onnx"], {}, "not found"),
    (
        "openvino-missing-bin",
        ["profile", "{tmp}/m.xml", "--target", "openvino"],
        {"m.xml": _text('<?xml version="1.0"?><net name="x" version="11"><layers/></net>')},
        "m.",
    ),
    ("bundle-run-missing-input", ["bundle-run", "{bundle}", "{tmp}/none.png"], {}, "not found"),
    ("bundle-not-a-bundle", ["bundle-run", "{tmp}/d"], {"d": _dir}, "manifest.json"),
    ("device-tls-bad-port", ["optimize", "lenet5", "--device", "tls://host:99999", "--dry-run"], {}, "port"),
    # -- option combinations (item 16)
    ("int8-and-fp16", ["optimize", "lenet5", "--int8", "--fp16", "--dry-run"], {}, "--fp16"),
]


@pytest.mark.parametrize(("argv", "files", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_line(argv, files, fragment, tmp_path, capsys, monkeypatch, lenet_onnx, good_bundle):
    ctx = {"onnx": str(lenet_onnx.path), "good_bundle": good_bundle, "tmp": str(tmp_path)}
    for name, make in files.items():
        make(tmp_path / name, ctx)
    bundle = tmp_path / "_good_bundle"
    if any("{bundle}" in a for a in argv):
        shutil.copytree(good_bundle, bundle)
    args = [a.format(tmp=tmp_path, onnx=lenet_onnx.path, bundle=bundle) for a in argv]
    monkeypatch.chdir(tmp_path)
    code, _, err = cli_run(capsys, monkeypatch, *args)
    assert_clean_user_error(code, err, fragment)


def test_case_count():
    assert len(CASES) >= 45
    assert len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["optimize", "lenet5", "--no-such-option"], "No such option"),
        (["quantize"], "Missing argument"),
        (["optimize", "lenet5", "--calib-size", "many"], "--calib-size"),
        (["no-such-command"], "No such command"),
        (["inspect", "lenet5", "--input-shape", "1", "1", "-32", "32"], "give a shape as one value, N,C,H,W"),
    ],
)
def test_usage_errors_are_one_line_too(argv, fragment, capsys, monkeypatch):
    code, _, err = cli_run(capsys, monkeypatch, *argv)
    assert_clean_user_error(code, err, fragment)
    assert "--help" in err


@pytest.mark.parametrize(
    "command",
    [
        ["profile", "{model}", "--out", "{dir}"],
        ["profile", "{model}", "--out", "{dir}/result.txt"],
        ["bench", "run", "{dir}/no-suite.yaml", "--out", "{dir}"],
        ["bench", "run", "{dir}/no-suite.yaml", "--out", "{dir}/r.json", "--markdown", "{dir}/r.txt"],
    ],
)
def test_profile_and_bench_check_their_outputs_before_any_work(command, lenet_onnx, tmp_path, capsys, monkeypatch):
    argv = [part.format(model=lenet_onnx.path, dir=tmp_path) for part in command]
    code, _, err = cli_run(capsys, monkeypatch, *argv)
    assert_clean_user_error(code, err, "--markdown" if "--markdown" in argv else "--out")
