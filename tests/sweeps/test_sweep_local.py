"""Sweeps without Ray (one cell after another, same results) and the output folder: atomic per-cell results,
--resume after an interrupt, an unreachable device failing only its own cells."""

import json
import logging
import socket
import sys

import pytest

from edgecnn.cli.main import run
from edgecnn.errors import InvalidInputError
from edgecnn.sweeps import api
from edgecnn.sweeps.api import sweep


@pytest.fixture
def no_ray(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails, as where it is not installed
    monkeypatch.setattr(api, "ray_installed", lambda: False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_without_ray_the_cells_run_one_after_another_and_say_how_to_go_parallel(tmp_path, write_sweep, no_ray, caplog):
    with caplog.at_level(logging.WARNING, logger="edgecnn.sweep"):
        result = sweep(write_sweep(tmp_path), out_dir=tmp_path / "out")
    assert [r["id"] for r in result.rows] == ["lenet5--fp32--onnxruntime", "lenet5--int8--onnxruntime"]
    assert all(r["status"] == "ok" and r["optimized_p50_ms"] > 0 and r["attempts"] == 1 for r in result.rows)
    assert [m for m in caplog.messages if "edgecnn[distributed]" in m]  # the one line on going parallel
    timings = [t for r in result.rows for t in r["timings"]]
    assert timings and all(t["resource"].startswith("timing:") and t["start"] < t["end"] for t in timings)
    for row in result.rows:  # each cell: its result and its run files, the report naming where they are now
        cell = tmp_path / "out" / "cells" / row["id"]
        report = json.loads((cell / "run" / "report.json").read_text())
        assert all(a["path"].startswith(str(cell / "run")) for a in report["artifacts"])
    assert json.loads((tmp_path / "out" / "report.json").read_text())["rows"] == result.rows
    assert "lenet5 | int8 | onnxruntime" in (tmp_path / "out" / "report.md").read_text()
    assert "<table id='board'>" in (tmp_path / "out" / "report.html").read_text()


def test_an_interrupted_sweep_resumes_without_rerunning_finished_cells(tmp_path, write_sweep, monkeypatch):
    path, out = write_sweep(tmp_path), tmp_path / "out"
    ran = []
    real = api.run_cell

    def run_cell(cell, storage):
        if len(ran) == 1 and not resuming:
            raise KeyboardInterrupt  # Ctrl-C in the second cell
        ran.append(cell.id)
        return real(cell, storage)

    monkeypatch.setattr(api, "run_cell", run_cell)
    resuming = False
    with pytest.raises(KeyboardInterrupt):
        sweep(path, out_dir=out, sequential=True)
    assert [p.name for p in (out / "cells").iterdir()] == ["lenet5--fp32--onnxruntime"]  # no half-written cell
    with pytest.raises(InvalidInputError, match="--resume continues it"):
        sweep(path, out_dir=out, sequential=True)
    resuming = True
    result = sweep(path, out_dir=out, sequential=True, resume=True)
    assert ran == ["lenet5--fp32--onnxruntime", "lenet5--int8--onnxruntime"]  # the first cell did not run again
    assert result.ran == ["lenet5--int8--onnxruntime"] and not result.failed


def test_an_unreachable_device_fails_its_cells_with_the_reason_and_the_rest_complete(
    tmp_path, write_sweep, monkeypatch, capsys
):
    devices = {"pi": {"address": f"tcp://127.0.0.1:{_free_port()}"}}
    path = write_sweep(tmp_path, recipes=["fp32"], targets=["onnxruntime", "arm"], devices=devices)
    out = tmp_path / "out"
    monkeypatch.setattr(sys, "argv", ["edgecnn", "sweep", str(path), "--out", str(out), "--sequential"])
    with pytest.raises(SystemExit) as exited:  # the console script: exit 3, a cell failed
        run()
    assert exited.value.code == 3, capsys.readouterr().err
    rows = {r["id"]: r for r in json.loads((out / "report.json").read_text())["rows"]}
    assert rows["lenet5--fp32--onnxruntime"]["status"] == "ok"
    failed = rows["lenet5--fp32--arm--pi"]
    assert failed["status"] == "failed" and "device pi (tcp://127.0.0.1:" in failed["reason"]
    assert "unreachable" in failed["reason"] and "FAILED: device pi" in (out / "report.md").read_text()
