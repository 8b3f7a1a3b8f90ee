"""Sweep files for the sweep tests: the small models with the cheapest recipes and timings (seconds a cell).

write_sweep   write_sweep(tmp_path, models=..., recipes=..., targets=..., **more) -> the sweep YAML's path
"""

from __future__ import annotations

import pytest
import yaml

TINY_RECIPES = {
    "fp32": {"steps": [{"type": "fold_bn"}], "data": {"calib_size": 16}, "bundle": False},
    "int8": {
        "steps": [{"type": "fold_bn"}, {"type": "quantize", "precision": "int8"}],
        "data": {"calib_size": 16},
        "bundle": False,
    },
}
TINY_PROFILE = {"threads": 1, "warmup": 2, "rounds": 2, "min_iters": 10, "min_seconds": 0.1}


@pytest.fixture
def write_sweep():
    def write(folder, *, models=("lenet5",), recipes=("fp32", "int8"), targets=("onnxruntime",), **more):
        data = {
            "name": "test",
            "models": list(models),
            "recipes": {name: TINY_RECIPES[name] for name in recipes},
            "targets": list(targets),
            "profile": TINY_PROFILE,
            **more,
        }
        path = folder / "test-sweep.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    return write
