"""Route selection by measurement: another int8 route ships only when it measured faster than the QDQ route on
the target AND kept top-1 agreement within the budget; a route that cannot be built is reported, not fatal.

The unit tests plant the routes' timings and fidelity (timing tiny models on a shared CPU decides nothing); the
openvino test builds the real NNCF route on a digits-trained model.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from edgecnn.artifact import Artifact
from edgecnn.errors import DeviceUnavailableError
from edgecnn.pipeline import routes
from edgecnn.profiling.compare import Comparison
from edgecnn.profiling.stats import LatencyStats
from edgecnn.targets import ROUTES

QDQ_FIDELITY = {"top1_agreement": 0.97, "sqnr_db": 25.0, "meaningful": True}


@dataclasses.dataclass
class FakeTarget:
    int8_routes: tuple[str, ...]

    def timing(self, model_format):
        return "onnxruntime", "cpu"


def _artifact(path: Path) -> Artifact:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * 10)
    return Artifact(path=path, format="onnx", precision="int8", target="openvino")


def _choose(tmp_path, monkeypatch, ratios: dict[str, tuple[float, float, float]], agreements: dict[str, float]):
    """choose_route over fake routes: each builds a file, validates to `agreements[name]`, times `ratios[name]`."""
    for name in ratios:

        def build(spec, out, *, calib_data, dynamic_batch, name=name):
            if ratios[name] is None:
                raise DeviceUnavailableError(f"{name} is not installed")
            return _artifact(out.with_name(f"{name}.xml"))

        ROUTES.add(name, build)
    by_path = {}

    def compare(a, b, x, **kw):
        r, lo, hi = ratios[Path(b.path).stem]
        return Comparison(LatencyStats([1.0]), LatencyStats([r]), ratio=r, ci_low=lo, ci_high=hi)

    def validate(art):
        by_path[art.path] = agreements[Path(art.path).stem]
        return {"top1_agreement": by_path[art.path], "sqnr_db": 20.0, "meaningful": True}

    monkeypatch.setattr(routes, "compare", compare)
    qdq = _artifact(tmp_path / "qdq.xml")
    try:
        return routes.choose_route(
            FakeTarget(tuple(ratios)), None, qdq, QDQ_FIDELITY, calib=np.zeros((4, 3)), validate=validate,
            out=tmp_path, protocol=None, batch=1, threads=None,
        ), qdq  # fmt: skip
    finally:
        for name in ratios:
            ROUTES.remove(name)


def test_a_faster_route_within_the_budget_ships(tmp_path, monkeypatch):
    choice, qdq = _choose(tmp_path, monkeypatch, {"fast": (0.5, 0.45, 0.55)}, {"fast": 0.965})
    assert choice.deployable.path.name == "fast.xml" and choice.fidelity["top1_agreement"] == 0.965
    assert [(v["route"], v["chosen"]) for v in choice.variants] == [("qdq", False), ("fast", True)]
    assert choice.variants[1]["ratio_to_qdq"] == 0.5 and choice.variants[0]["p50_ms"] == 1.0
    assert "fast delivered" in choice.note


def test_a_faster_route_that_loses_agreement_does_not_ship(tmp_path, monkeypatch):
    choice, qdq = _choose(tmp_path, monkeypatch, {"lossy": (0.5, 0.45, 0.55)}, {"lossy": 0.95})
    assert choice.deployable is qdq and choice.fidelity is QDQ_FIDELITY
    assert "outside the 0.01 agreement budget" in choice.note and choice.variants[0]["chosen"]


def test_an_inconclusive_route_does_not_ship_and_the_fastest_of_several_does(tmp_path, monkeypatch):
    ratios = {"tie": (0.98, 0.9, 1.05), "fast": (0.7, 0.65, 0.75), "faster": (0.6, 0.55, 0.66)}
    choice, _ = _choose(tmp_path, monkeypatch, ratios, {"tie": 0.97, "fast": 0.97, "faster": 0.97})
    assert choice.deployable.path.name == "faster.xml"
    assert [v["route"] for v in choice.variants if v["chosen"]] == ["faster"]


def test_a_route_that_cannot_be_built_is_reported_and_qdq_ships(tmp_path, monkeypatch):
    """A missing backend, or another library failing on this model (NNCF raising), costs the route, not the run."""
    choice, qdq = _choose(tmp_path, monkeypatch, {"absent": None}, {})
    assert choice.deployable is qdq
    assert choice.variants[1]["note"] == "not built: absent is not installed"

    def broken(art):
        raise RuntimeError("nncf: unsupported node\nsecond line")

    monkeypatch.setattr(routes, "compare", lambda *a, **k: None)
    ROUTES.add("broken", lambda spec, out, **kw: _artifact(out.with_name("broken.xml")))
    try:
        choice = routes.choose_route(
            FakeTarget(("broken",)), None, qdq, QDQ_FIDELITY, calib=np.zeros((4, 3)), validate=broken,
            out=tmp_path, protocol=None, batch=1, threads=None,
        )  # fmt: skip
    finally:
        ROUTES.remove("broken")
    assert choice.deployable is qdq and choice.variants[1]["note"] == "not built: nncf: unsupported node"


@pytest.mark.openvino
def test_openvino_builds_the_nncf_route_and_reports_both(digits_lenet, tmp_path):
    """The real NNCF route on a digits-trained model: both routes in the report with their measured ratio."""
    import edgecnn

    spec, train, _ = digits_lenet
    result = edgecnn.optimize(
        spec.copy(),
        recipe={
            "model": {"name": "lenet5-digits"},
            "steps": [{"type": "quantize", "precision": "int8"}],
            "target": "openvino",
            "profile": {"min_iters": 10, "min_seconds": 0.05, "rounds": 2, "warmup": 2},
        },
        calib_data=train.x[:64],
        out_dir=tmp_path / "out",
    )
    report = result.report
    routes_ = {v["route"]: v for v in report["variants"] if v.get("route")}
    assert set(routes_) == {"qdq", "nncf"} and sum(v["chosen"] for v in routes_.values()) == 1
    nncf = routes_["nncf"]
    assert nncf["ratio_to_qdq"] > 0 and nncf["top1_agreement"] >= 0.9  # a trained model stays faithful
    assert any(n.startswith("int8 route: nncf route") for n in report["notes"])
    assert report["stage_seconds"]["routes"] > 0
