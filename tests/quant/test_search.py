"""The accuracy-first int8 default: held-out split, candidates, the technique table, loud reverts."""

from __future__ import annotations

import numpy as np
import pytest

import edgecnn
from edgecnn.quant.search import split_holdout


def test_split_by_source_keeps_each_photo_on_one_side():
    groups = np.repeat(np.arange(10), 8)
    cal, held, how = split_holdout(len(groups), groups, 0.25, seed=0)
    assert set(groups[cal]).isdisjoint(groups[held])
    assert len(held) >= 20 and "source photo" in how


def test_split_without_sources_is_contiguous_and_says_so():
    cal, held, how = split_holdout(100, None, 0.25, seed=0)
    assert list(held) == list(range(75, 100)) and "contiguous" in how
    assert split_holdout(10, None, 0.25, seed=0) is None


def test_search_builds_candidates_and_reports_them(tiny_dw_spec, tiny_dw_calib, tmp_path):
    result = edgecnn.quantize(
        tiny_dw_spec,
        calib_data=tiny_dw_calib,
        out=tmp_path / "m.onnx",
        advanced=edgecnn.AdvancedQuantization(check_latency=False, max_float_layers=2, search_target=1.0),
    )
    search = result.report["search"]
    if search["skipped"]:
        pytest.skip(f"fixture outputs are flat: {search['skipped']}")
    names = [c["name"] for c in search["candidates"]]
    assert names[0] == "minmax"
    if search["stopped_early"]:  # minmax already agrees on every held-out sample: nothing else to try
        assert names == ["minmax"] and "minmax reached agreement" in search["stopped_early"]
    else:
        assert any(n.startswith("float") for n in names)
    assert sum(c["chosen"] for c in search["candidates"]) == 1
    assert "contiguous" in search["split"]  # arrays: the source of each sample is unknown
    assert result.report["evaluation"]["samples"] == search["held_out_samples"]
    assert result.report["calibration"]["samples"] + search["held_out_samples"] == len(tiny_dw_calib)


def test_search_skipped_on_flat_outputs_says_so(tiny_dw_spec, tmp_path):
    x = np.zeros((32, *tiny_dw_spec.input.shape[1:]), np.float32)  # one input: one class everywhere
    result = edgecnn.quantize(tiny_dw_spec, calib_data=x, out=tmp_path / "m.onnx", advanced={"check_latency": False})
    assert result.report["search"]["skipped"]
    assert any("search skipped" in w for w in result.report["warnings"])


def test_every_candidate_runs_and_the_tables_render(tiny_dw_spec, tiny_dw_calib, tmp_path, monkeypatch):
    from edgecnn.quant.search import Search
    from edgecnn.report.markdown import technique_rows

    monkeypatch.setattr(Search, "_good", lambda self, cand: False)  # never stop early: build them all
    result = edgecnn.quantize(
        tiny_dw_spec,
        calib_data=tiny_dw_calib,
        out=tmp_path / "m.onnx",
        advanced=edgecnn.AdvancedQuantization(max_float_layers=2),
    )
    search = result.report["search"]
    techniques = {c["technique"] for c in search["candidates"]}
    assert {"baseline", "calibration", "float fallback", "bias correction", "equalization", "rounding"} <= techniques
    chosen = [c for c in search["candidates"] if c["chosen"]]
    assert len(chosen) == 1 and chosen[0]["measured"] == "held-out"
    assert chosen[0]["latency_ratio"] is not None  # the chosen one was timed against fp32
    rows = technique_rows(search)
    assert len(rows) == len(search["candidates"]) and any(r[5] for r in rows)
    assert all(v["top1_agreement"] is not None for v in result.report["variants"])


def test_forced_relu6_as_relu_that_changes_the_model_is_loud(tmp_path):
    import torch
    from torch import nn

    from edgecnn.spec import InputSpec, ModelSpec, Preprocess

    torch.manual_seed(0)
    module = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU6(), nn.Conv2d(8, 8, 1), nn.Flatten(), nn.Linear(8 * 8 * 8, 10)
    ).eval()
    with torch.no_grad():
        module[0].weight.mul_(20.0)  # activations far above 6: ReLU6 -> ReLU changes the outputs
    spec = ModelSpec(
        module=module, input=InputSpec((1, 3, 8, 8)), name="r6", preprocess=Preprocess(resize=None, crop=8)
    )
    x = np.random.default_rng(0).standard_normal((32, 3, 8, 8)).astype(np.float32)
    result = edgecnn.quantize(
        spec,
        calib_data=x,
        out=tmp_path / "m.onnx",
        advanced=edgecnn.AdvancedQuantization(search=False, equalize=True, relu6_as_relu=True, check_latency=False),
    )
    step = next(s for s in result.report["steps"] if s["type"] == "equalize")
    assert step["report"]["relu6_replaced"] >= 1
    assert any("relu6_as_relu=True CHANGED the float model" in w for w in result.report["warnings"])


def test_float_layers_report_their_measured_cost(tmp_path):
    from pathlib import Path

    from edgecnn.quant.search import Candidate, Search

    timed = []
    search = Search.__new__(Search)
    search.time_candidate = lambda path: timed.append(path) or {"ratio": 0.40, "p50_ms": 4.0, "fp32_p50_ms": 10.0}
    p = Path(tmp_path)
    base = Candidate("minmax", "baseline", {}, p / "a.onnx", p, p)
    floats = Candidate("float4", "float fallback", {"float_layers": 4}, p / "b.onnx", p, p, parent=base)
    chosen = Candidate("float4+gptq", "rounding", {"float_layers": 4, "rounding": "gptq"}, p / "c.onnx", p, p)
    chosen.parent = floats
    chosen.timing = {"ratio": 0.52, "p50_ms": 5.2, "fp32_p50_ms": 10.0}
    search._float_cost(chosen)
    assert timed == [p / "a.onnx"]  # the all-int8 candidate was timed to compare with
    cost = chosen.extra["float_layers_cost"]
    assert cost["fraction_of_fp32"] == pytest.approx(0.12) and cost["ms_per_layer"] == pytest.approx(0.3)
    assert "4 float layers cost +12.0% of fp32" in chosen.note


@pytest.mark.openvino
def test_openvino_target_measures_its_candidates_on_openvino(tiny_dw_spec, tiny_dw_calib, tmp_path, monkeypatch):
    """The search picks by how candidates run on the target: for openvino, every candidate (and the reported
    fidelity) runs on OpenVINO, the float reference stays ONNX Runtime's fp32."""
    from edgecnn.quant import sensitivity

    backends = []
    real = sensitivity.load_session

    def spy(path, **kw):
        backends.append(kw.get("backend"))
        return real(path, **kw)

    monkeypatch.setattr(sensitivity, "load_session", spy)
    result = edgecnn.quantize(
        tiny_dw_spec,
        target="openvino",
        calib_data=tiny_dw_calib,
        out=tmp_path / "m.onnx",
        advanced={"check_latency": False, "max_float_layers": 2},
    )
    if result.report["search"]["skipped"]:
        pytest.skip(f"fixture outputs are flat: {result.report['search']['skipped']}")
    assert result.report["evaluation"]["runtime"] == "openvino"
    assert backends and set(backends) == {"openvino"}


def test_tensorrt_target_measures_its_candidates_with_qdq_simulated(tiny_dw_spec, tiny_dw_calib, tmp_path, monkeypatch):
    """TensorRT's int8 models are checked here with Q/DQ simulated in float: so are its search's candidates."""
    from edgecnn.quant import sensitivity

    seen = []
    real = sensitivity.load_session

    def spy(path, **kw):
        seen.append((kw.get("backend"), kw.get("simulate_qdq")))
        return real(path, **kw)

    monkeypatch.setattr(sensitivity, "load_session", spy)
    result = edgecnn.quantize(
        tiny_dw_spec, target="tensorrt", calib_data=tiny_dw_calib, out=tmp_path / "m.onnx",
        advanced={"check_latency": False, "max_float_layers": 2},
    )  # fmt: skip
    if result.report["search"]["skipped"]:
        pytest.skip(f"fixture outputs are flat: {result.report['search']['skipped']}")
    assert seen and set(seen) == {("onnxruntime", True)}
