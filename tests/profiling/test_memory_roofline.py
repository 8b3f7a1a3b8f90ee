from __future__ import annotations

import json

import numpy as np
import pytest

from edgecnn.profiling import roofline
from edgecnn.profiling.memory import file_bytes, onnx_weight_bytes, torch_weight_bytes, track_peak_rss, weight_bytes


def test_peak_rss_sees_an_allocation_inside_the_block():
    with track_peak_rss() as mem:
        block = np.ones(64 * 2**20 // 8)  # 64 MiB, touched
        del block
    assert (
        mem["session_peak_rss_bytes"] >= 48 * 2**20 and mem["process_peak_rss_bytes"] >= mem["session_peak_rss_bytes"]
    )


def test_file_and_weight_bytes(lenet_spec, lenet_onnx_dynamic, tmp_path):
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(lenet_onnx_dynamic.path))
    expected = sum(numpy_helper.to_array(i).nbytes for i in model.graph.initializer)
    assert onnx_weight_bytes(lenet_onnx_dynamic.path) == weight_bytes(lenet_onnx_dynamic) == expected
    assert (
        torch_weight_bytes(lenet_spec.module)
        == weight_bytes(lenet_spec)
        == sum(p.numel() * 4 for p in lenet_spec.module.parameters())
    )
    assert file_bytes(lenet_onnx_dynamic.path) == lenet_onnx_dynamic.path.stat().st_size
    (tmp_path / "m.xml").write_text("<net/>")
    (tmp_path / "m.bin").write_bytes(b"\0" * 1000)
    assert file_bytes(tmp_path / "m.xml") == 1006 and weight_bytes(tmp_path / "m.xml") == 1000
    assert file_bytes(tmp_path / "missing.onnx") is None


@pytest.mark.parametrize(
    "name, shape",
    [("lenet5", None), ("smallcnn", None), pytest.param("mobilenet_v2", (1, 3, 64, 64), marks=pytest.mark.slow)],
)
def test_onnx_macs_match_the_pytorch_count_for_fp32_and_int8(name, shape, tmp_path):
    import torch

    from edgecnn.analysis.summary import count_params_macs
    from edgecnn.exporters.onnx import export_onnx
    from edgecnn.zoo import load_model

    torch.manual_seed(0)
    spec = load_model(name, weights="random", **({"input_shape": shape} if shape else {}))
    art = export_onnx(spec, tmp_path / f"{name}.onnx", check=False)
    expected = count_params_macs(spec)[1]
    assert roofline.onnx_macs(art.path) == expected
    x = spec.example_input(4).numpy()
    int8 = roofline.quantize_u8s8(art.path, tmp_path / f"{name}_int8.onnx", x)
    assert roofline.onnx_macs(int8) == expected  # weights read through DequantizeLinear


def test_peaks_are_measured_once_per_machine_runtime_and_threads(monkeypatch, tmp_path):
    monkeypatch.setenv("EDGECNN_CACHE", str(tmp_path / "fresh"))
    calls = []
    monkeypatch.setattr(
        roofline,
        "measure_peak",
        lambda backend, *, threads: calls.append((backend, threads)) or {"fp32": 7.0, "int8": 21.0},
    )
    a = roofline.get_peak("onnxruntime", threads=2)
    b = roofline.get_peak("onnxruntime", threads=2)
    c = roofline.get_peak("onnxruntime", threads=1)
    assert calls == [("onnxruntime", 2), ("onnxruntime", 1)] and a == b and a["fp32"] == 7.0 and c["int8"] == 21.0
    cache = json.loads((tmp_path / "fresh" / "peak.json").read_text())
    (entry,) = cache.values()
    assert set(entry["peaks"]) == {"onnxruntime/threads=2", "onnxruntime/threads=1"}
    assert roofline.get_peak("remote", threads=1) is None
    # a refresh on a busier machine never lowers the achievable peak; a better measurement raises it
    monkeypatch.setattr(roofline, "measure_peak", lambda backend, *, threads: {"fp32": 5.0, "int8": 30.0})
    assert roofline.get_peak("onnxruntime", threads=2, refresh=True)["fp32"] == 7.0
    monkeypatch.setattr(roofline, "measure_peak", lambda backend, *, threads: {"fp32": 9.0, "int8": 3.0})
    refreshed = roofline.get_peak("onnxruntime", threads=2, refresh=True)
    assert (refreshed["fp32"], refreshed["int8"], refreshed["measurements"]) == (9.0, 30.0, 3)


def test_concurrent_peak_measurements_keep_every_entry(monkeypatch, tmp_path):
    """Two threads measure different peaks at once: the locked read-modify-write keeps both, and they take turns."""
    import threading
    import time

    monkeypatch.setenv("EDGECNN_CACHE", str(tmp_path / "shared"))
    start, running, overlaps = threading.Barrier(2), [], []

    def slow_measure(backend, *, threads):
        running.append(threads)
        overlaps.append(len(running) > 1)
        time.sleep(0.3)  # long enough that, without a lock, both would read the empty cache before either writes
        running.remove(threads)
        return {"fp32": float(threads), "int8": None}

    monkeypatch.setattr(roofline, "measure_peak", slow_measure)

    def worker(threads):
        start.wait()
        roofline.get_peak("onnxruntime", threads=threads)

    workers = [threading.Thread(target=worker, args=(t,)) for t in (1, 2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    (entry,) = json.loads((tmp_path / "shared" / "peak.json").read_text()).values()
    assert {k: v["fp32"] for k, v in entry["peaks"].items()} == {
        "onnxruntime/threads=1": 1.0,
        "onnxruntime/threads=2": 2.0,
    }
    assert overlaps == [False, False]  # the second measurement waited for the first


def test_cache_lives_in_the_platform_cache_dir_unless_edgecnn_cache_moves_it(monkeypatch, tmp_path):
    import platformdirs

    monkeypatch.delenv("EDGECNN_CACHE")
    assert roofline.cache_path() == platformdirs.user_cache_path("edgecnn", appauthor=False) / "peak.json"
    monkeypatch.setenv("EDGECNN_CACHE", str(tmp_path))
    assert roofline.cache_path() == tmp_path / "peak.json"


def test_roofline_entry_percentages():
    e = roofline.roofline_entry(2_000_000_000, 100.0, 1, "int8", {"fp32": 10.0, "int8": 40.0})
    assert e["achieved_gmacs"] == 20.0 and e["pct_of_fp32_peak"] == 200.0 and e["pct_of_int8_peak"] == 50.0
    assert roofline.roofline_entry(None, 1.0, 1, "fp32", None)["pct_of_fp32_peak"] is None


@pytest.mark.slow
def test_measured_onnxruntime_peak_is_plausible(monkeypatch, tmp_path):
    peak = roofline.measure_peak("onnxruntime", threads=1, seconds=0.2)
    assert 0.5 < peak["fp32"] < 5000 and 0.5 < peak["int8"] < 20000
