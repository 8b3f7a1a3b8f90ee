"""Nothing is lost on failure or Ctrl-C: run folders are built beside their destination and swapped in on success;
SIGINT exits 130 and SIGTERM 143 after cleaning up; output paths are checked before any work; a command never
writes a path it was not given.

The interrupt tests send a real signal to a real `edgecnn` subprocess once it reached a given stage, then check
that the previous run is byte-identical, no partial folder is left, and no `edgecnn-*` temporary folder survives
(TMPDIR points into the test's folder).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from edgecnn.errors import InvalidInputError
from edgecnn.fileio import check_out_dir, check_out_file, relocate_paths, staged_dir

FAST_RECIPE = """\
model:
  name: smallcnn
  weights: random
steps:
  - type: quantize
    precision: int8
target: onnxruntime
profile: {min_iters: 5, min_seconds: 0.05, rounds: 2, warmup: 1}
"""
OPTIMIZE = ["optimize", "--recipe", "fast.yaml", "--calib-size", "16", "--out", "runs/good"]


# ---------------------------------------------------------------- helpers


def _hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.relative_to(root).parts[0] != "tmp"  # TMPDIR: other libraries' files
    }


@pytest.fixture(scope="module")
def good_run(tmp_path_factory) -> Path:
    """One real, successful `edgecnn optimize` run (built beside runs/good and swapped in), made once."""
    root = tmp_path_factory.mktemp("good")
    (root / "tmp").mkdir()
    (root / "fast.yaml").write_text(FAST_RECIPE)
    rc, stderr = _run(OPTIMIZE, root)
    assert rc == 0, stderr
    assert sorted(p.name for p in (root / "runs").iterdir()) == ["good"]  # no partial folder left
    report = (root / "runs" / "good" / "report.json").read_text()
    assert ".partial-" not in report and '"runs/good/model.int8.onnx"' in report
    return root / "runs" / "good"


@pytest.fixture
def work(tmp_path: Path, good_run: Path) -> Path:
    """A folder with the fast recipe, a TMPDIR of its own and an earlier run in runs/good."""
    (tmp_path / "tmp").mkdir()
    (tmp_path / "fast.yaml").write_text(FAST_RECIPE)
    shutil.copytree(good_run, tmp_path / "runs" / "good")
    return tmp_path


class _Proc:
    """An `edgecnn` subprocess whose stderr is collected line by line while it runs."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        env = dict(os.environ, TMPDIR=str(cwd / "tmp"), COLUMNS="200", PYTHONUNBUFFERED="1")
        env.pop("EDGECNN_DEBUG", None)
        repo = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (repo, env.get("PYTHONPATH")) if p)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edgecnn.cli.main", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    def wait_for(self, ready, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if self.proc.poll() is not None:
                self._reader.join(5)
                pytest.fail(f"edgecnn ended (rc {self.proc.returncode}) before the point to interrupt:\n{self.stderr}")
            if time.monotonic() > deadline:
                self.proc.kill()
                pytest.fail(f"timed out waiting for the point to interrupt:\n{self.stderr}")
            time.sleep(0.02)

    def finish(self, timeout: float = 90) -> int:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        self._reader.join(5)
        return self.proc.returncode


def _run(args: list[str], cwd: Path, timeout: float = 120) -> tuple[int, str]:
    proc = _Proc(args, cwd)
    rc = proc.finish(timeout)
    return rc, proc.stderr


def _assert_stopped_cleanly(rc: int, stderr: str, code: int) -> None:
    assert rc == code, stderr
    assert "Traceback" not in stderr, stderr
    label = "interrupted:" if code == 130 else "terminated:"
    said = [line for line in stderr.splitlines() if line.startswith(label)]
    assert len(said) == 1, stderr
    assert "internal error" not in stderr, stderr


def _assert_no_leftovers(root: Path) -> None:
    """No partial or failed run folder, no staging folder of an export, no edgecnn temp folder in TMPDIR."""
    left = [p.name for p in (root / "runs").iterdir() if p.name != "good"] if (root / "runs").exists() else []
    assert left == [], left
    hidden = [p for p in root.rglob(".edgecnn-*")] + [p for p in root.rglob("*.partial-*")]
    assert hidden == [], hidden
    assert _edgecnn_temps(root) == []


def _edgecnn_temps(root: Path) -> list[str]:
    """edgecnn's temporary folders left in the subprocess's TMPDIR (other libraries may keep files there)."""
    return [p.name for p in (root / "tmp").iterdir() if "edgecnn" in p.name]


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    return lines[0]


# ---------------------------------------------------------------- the folder helper (fileio)


def test_staged_dir_swaps_in_on_success_and_keeps_the_old_run_on_failure(tmp_path: Path) -> None:
    final = tmp_path / "run"
    final.mkdir()
    (final / "a.txt").write_text("old")
    with pytest.raises(RuntimeError), staged_dir(final) as work:
        assert work.parent == final.parent and work.name.startswith("run.partial-")
        (work / "a.txt").write_text("new, half done")
        raise RuntimeError("boom")
    assert (final / "a.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]

    with pytest.raises(KeyboardInterrupt), staged_dir(final, keep_failed=True) as work:
        (work / "b.txt").write_text("partial")
        raise KeyboardInterrupt
    assert (final / "a.txt").read_text() == "old"
    assert (tmp_path / "run.failed" / "b.txt").read_text() == "partial"

    with staged_dir(final) as work:
        (work / "c.txt").write_text("new")
    assert sorted(p.name for p in final.iterdir()) == ["c.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "run.failed"]


def test_relocate_paths_moves_only_paths_under_the_folder(tmp_path: Path) -> None:
    data = {"a": [str(tmp_path / "x.partial-1" / "m.onnx")], "b": str(tmp_path / "x.partial-10"), "c": 3}
    moved = relocate_paths(data, tmp_path / "x.partial-1", tmp_path / "x")
    assert moved == {"a": [str(tmp_path / "x" / "m.onnx")], "b": str(tmp_path / "x.partial-10"), "c": 3}


def test_out_checks_refuse_folders_files_and_foreign_folders(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("x")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(InvalidInputError, match="is a file"):
        check_out_dir(tmp_path / "f.txt")
    with pytest.raises(InvalidInputError, match="is a file"):
        check_out_dir(tmp_path / "f.txt" / "sub")
    with pytest.raises(InvalidInputError, match="not an earlier edgecnn output"):
        check_out_dir(tmp_path / "mine", marker="report.json")
    with pytest.raises(InvalidInputError, match="is a folder"):
        check_out_file(tmp_path / "mine", suffixes=(".onnx",))
    with pytest.raises(InvalidInputError, match="ending in .onnx"):
        check_out_file(tmp_path / "m.txt", suffixes=(".onnx",))
    with pytest.raises(InvalidInputError, match="current folder"):
        check_out_dir(Path.cwd())
    assert check_out_dir(tmp_path / "new" / "run", marker="report.json") == tmp_path / "new" / "run"
    assert not (tmp_path / "new").exists()  # checking creates nothing


# ---------------------------------------------------------------- optimize: failure and interrupts


def test_failed_rerun_keeps_the_previous_run(work: Path) -> None:
    """The issue's repro: a re-run with NaN calibration data must leave the earlier run byte-identical."""
    np.save(work / "nan.npy", np.full((16, 3, 32, 32), np.nan, dtype=np.float32))
    before = _hashes(work / "runs" / "good")
    rc, stderr = _run([*OPTIMIZE, "--prune", "0.5", "--calib-data", "nan.npy"], work)
    assert rc in (1, 2), stderr
    assert "Traceback" not in stderr, stderr
    assert _hashes(work / "runs" / "good") == before
    _assert_no_leftovers(work)


@pytest.mark.parametrize(
    ("sig", "stage"),
    [
        (signal.SIGINT, "[3/10] export"),
        (signal.SIGINT, "[4/10] quantize"),
        (signal.SIGTERM, "[3/10] export"),
        (signal.SIGTERM, "[4/10] quantize"),
    ],
    ids=["sigint-export", "sigint-quantize", "sigterm-export", "sigterm-quantize"],
)
def test_signal_during_optimize_keeps_the_previous_run(work: Path, sig: signal.Signals, stage: str) -> None:
    before = _hashes(work / "runs" / "good")
    proc = _Proc(OPTIMIZE, work)
    proc.wait_for(lambda: stage in proc.stderr)
    proc.proc.send_signal(sig)
    rc = proc.finish()
    _assert_stopped_cleanly(rc, proc.stderr, 130 if sig == signal.SIGINT else 143)
    assert _hashes(work / "runs" / "good") == before
    _assert_no_leftovers(work)


def test_keep_failed_keeps_the_interrupted_run_beside(work: Path) -> None:
    before = _hashes(work / "runs" / "good")
    proc = _Proc([*OPTIMIZE, "--keep-failed"], work)
    proc.wait_for(lambda: "[4/10] quantize" in proc.stderr)
    proc.proc.send_signal(signal.SIGTERM)
    _assert_stopped_cleanly(proc.finish(), proc.stderr, 143)
    assert _hashes(work / "runs" / "good") == before
    assert (work / "runs" / "good.failed" / "baseline.fp32.onnx").is_file()
    assert not list((work / "runs").glob("*.partial-*"))
    assert _edgecnn_temps(work) == []


LENET_RECIPE = {
    "model": {"name": "lenet5", "weights": "random"},
    "steps": [{"type": "quantize", "precision": "int8"}],
    "profile": {"min_iters": 5, "min_seconds": 0.05, "rounds": 2, "warmup": 1},
}


def _lenet_calib() -> np.ndarray:
    return np.random.default_rng(0).random((16, 1, 32, 32), dtype=np.float32)


def test_api_run_is_swapped_in_and_names_its_final_paths(tmp_path: Path) -> None:
    """In-process: the report and the returned artifacts name the files where they end up, not the partial
    folder they were built in; nothing is left beside the run."""
    import json

    import edgecnn

    out = tmp_path / "run"
    result = edgecnn.optimize("lenet5", recipe=LENET_RECIPE, out_dir=out, calib_data=_lenet_calib())
    report = json.loads((out / "report.json").read_text())
    for art in report["artifacts"]:
        assert Path(art["path"]).exists() and ".partial-" not in art["path"], art
    assert all(a.path.exists() and a.path.parent == out for a in result.artifacts.values())
    assert result.report_path == out / "report.json" and result.out_dir == out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_failure_at_the_last_stage_keeps_the_previous_run(tmp_path: Path, good_run: Path, monkeypatch) -> None:
    """In-process: a run that dies while writing its report (every model already written) changes nothing."""
    import edgecnn
    from edgecnn.pipeline import runner

    out = tmp_path / "run"
    shutil.copytree(good_run, out)
    before = _hashes(out)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(runner, "write_report", broken)
    with pytest.raises(OSError, match="disk full"):
        edgecnn.optimize("lenet5", recipe=LENET_RECIPE, out_dir=out, calib_data=_lenet_calib())
    assert _hashes(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


# ---------------------------------------------------------------- export and quantize interrupted


def test_export_interrupted_removes_its_staging_folder(work: Path) -> None:
    """SIGTERM while the fp32 export is staged beside --out: no .edgecnn-export-* folder stays; the earlier file
    at --out is untouched."""
    (work / "o").mkdir()
    (work / "o" / "m.onnx").write_bytes(b"earlier export")
    proc = _Proc(["export", "smallcnn", "--weights", "random", "--out", "o/m.onnx"], work)
    proc.wait_for(lambda: any((work / "o").glob(".edgecnn-export-*")))
    proc.proc.send_signal(signal.SIGTERM)
    _assert_stopped_cleanly(proc.finish(), proc.stderr, 143)
    assert sorted(p.name for p in (work / "o").iterdir()) == ["m.onnx"]
    data = (work / "o" / "m.onnx").read_bytes()
    if data != b"earlier export":  # the signal landed just after the atomic swap: then the new file is whole
        import onnx

        onnx.checker.check_model(onnx.load_from_string(data))
    assert _edgecnn_temps(work) == []


def test_quantize_interrupted_removes_its_temp_folder(work: Path) -> None:
    (work / "q.onnx").write_bytes(b"earlier model")
    proc = _Proc(["quantize", "smallcnn", "--weights", "random", "--calib-size", "16", "--out", "q.onnx"], work)
    proc.wait_for(lambda: any((work / "tmp").glob("edgecnn-quant-*")))
    proc.proc.send_signal(signal.SIGINT)
    _assert_stopped_cleanly(proc.finish(), proc.stderr, 130)
    assert (work / "q.onnx").read_bytes() == b"earlier model"
    assert _edgecnn_temps(work) == []
    assert not [p for p in work.iterdir() if p.name.startswith(".q.onnx")]


# ---------------------------------------------------------------- bad --out: exit 2, one line, before any work


def _unwritable(work: Path) -> Path:
    if os.geteuid() == 0:  # root writes through permission bits; /proc refuses new files to everyone
        if not Path("/proc").is_dir():
            pytest.skip("needs /proc when run as root")
        return Path("/proc/edgecnn-out")
    ro = work / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    return ro / "run"


BAD_OUT = [
    ("optimize-existing-file", ["optimize", "smallcnn", "--weights", "random", "--out", "existing.txt"], "file"),
    ("optimize-under-a-file", ["optimize", "smallcnn", "--weights", "random", "--out", "existing.txt/x"], "file"),
    ("optimize-foreign-folder", ["optimize", "smallcnn", "--weights", "random", "--out", "mine"], "mine"),
    ("optimize-read-only", ["optimize", "smallcnn", "--weights", "random", "--out", "{ro}"], "cannot write"),
    ("quantize-folder", ["quantize", "smallcnn", "--weights", "random", "--out", "mine"], "folder"),
    ("quantize-wrong-suffix", ["quantize", "smallcnn", "--weights", "random", "--out", "existing.txt"], ".onnx"),
    ("export-folder", ["export", "smallcnn", "--weights", "random", "--out", "mine"], "folder"),
    ("export-wrong-suffix", ["export", "smallcnn", "--target", "openvino", "--out", "m.onnx"], ".xml"),
    ("bundle-file", ["bundle", "runs/good/model.int8.onnx", "--out", "existing.txt"], "file"),
]


@pytest.mark.parametrize(("args", "said"), [c[1:] for c in BAD_OUT], ids=[c[0] for c in BAD_OUT])
def test_bad_out_is_one_line_exit_2_before_any_work(work: Path, args: list[str], said: str) -> None:
    (work / "existing.txt").write_text("not a model\n")
    (work / "mine").mkdir()
    (work / "mine" / "notes.txt").write_text("keep me\n")
    (work / "m.onnx").write_bytes(b"onnx")
    args = [a.replace("{ro}", str(_unwritable(work))) if a == "{ro}" else a for a in args]
    before = _hashes(work)
    started = time.monotonic()
    rc, stderr = _run(args, work)
    assert rc == 2, stderr
    line = _one_error_line(stderr)  # no stage line: nothing was loaded
    assert line.startswith("error:") and said in line, line
    assert _hashes(work) == before  # nothing written, nothing replaced
    assert time.monotonic() - started < 60


# ---------------------------------------------------------------- never write a path that was not given


def test_export_for_tensorrt_does_not_overwrite_another_exports_file(tmp_path: Path) -> None:
    """docs/export.md: an fp32 export to out/m.onnx, then an int8 TensorRT export to out/m.engine without
    TensorRT: the TensorRT-ready QDQ model goes beside the engine under the engine's name, m.onnx is kept."""
    import edgecnn
    from edgecnn.zoo.loader import load_model

    spec = load_model("lenet5", weights="random")
    out = tmp_path / "out"
    first = edgecnn.export(spec, out=out / "m.onnx", check=False)
    before = (out / "m.onnx").read_bytes()
    calib = _lenet_calib()
    art = edgecnn.export(
        spec,
        target="tensorrt",
        precision="int8",
        out=out / "m.engine",
        calib_data=calib,
        calib_size=16,
        check=False,
        build_engine=False,
    )
    assert (out / "m.onnx").read_bytes() == before and first.path == out / "m.onnx"
    assert art.path == out / "m.engine.onnx" and art.precision == "int8"
    assert all(p.name.startswith("m.engine") or p.name == "m.onnx" for p in out.iterdir()), list(out.iterdir())


def test_quantize_default_out_does_not_replace_an_earlier_file(work: Path) -> None:
    earlier = work / "smallcnn.int8.onnxruntime.onnx"
    earlier.write_bytes(b"an earlier quantized model")
    rc, stderr = _run(["quantize", "smallcnn", "--weights", "random", "--calib-size", "16"], work)
    assert rc == 2, stderr
    assert "already exists" in _one_error_line(stderr)
    assert earlier.read_bytes() == b"an earlier quantized model"
    assert _edgecnn_temps(work) == []
