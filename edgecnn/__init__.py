"""edgecnn: make a trained CNN fast on an edge target, and prove it by measurement.

Only the public API lives here, resolved lazily so `import edgecnn` stays light (no torch, no backends).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> "module:attr" (or a bare "module" for a callable subpackage); resolved on first use
_API: dict[str, str] = {
    "ModelSpec": "edgecnn.spec:ModelSpec",
    "InputSpec": "edgecnn.spec:InputSpec",
    "Preprocess": "edgecnn.spec:Preprocess",
    "Artifact": "edgecnn.artifact:Artifact",
    "PassContext": "edgecnn.passes.base:PassContext",
    "load_model": "edgecnn.zoo.loader:load_model",
    "list_models": "edgecnn.zoo.registry:list_models",
    "inspect_model": "edgecnn.analysis.inspect:inspect_model",
    "count_params_macs": "edgecnn.analysis.summary:count_params_macs",
    "export_onnx": "edgecnn.export.onnx:export_onnx",
    "load_session": "edgecnn.runtime:load_session",
    "fold_bn": "edgecnn.passes.fold_bn:fold_bn",
    "dw_separable": "edgecnn.passes.dw_separable:dw_separable",
    "distill": "edgecnn.passes.distill:distill",
    "quantize": "edgecnn.quant.api:quantize",
    "QuantizationResult": "edgecnn.quant.api:QuantizationResult",
    "load_calibration": "edgecnn.quant.calibration:load_calibration",
    "evaluate": "edgecnn.evaluate",  # callable subpackage: edgecnn.evaluate(...) runs evaluate.api.evaluate; edgecnn.evaluate.metrics etc.
    "export": "edgecnn.export",  # a callable subpackage (see _callable.py): edgecnn.export(...) and edgecnn.export.onnx
    "bundle": "edgecnn.bundle",  # callable subpackage: edgecnn.bundle(...) writes, edgecnn.bundle.load(path) reads
    "profile": "edgecnn.profile",  # callable subpackage: edgecnn.profile(...) runs api.profile; edgecnn.profile.timing etc.
    "ProfileResult": "edgecnn.profile.api:ProfileResult",
    "optimize": "edgecnn.pipeline.api:optimize",
    "OptimizationResult": "edgecnn.pipeline.runner:OptimizationResult",
    "Recipe": "edgecnn.pipeline.recipe:Recipe",
    "load_recipe": "edgecnn.pipeline.recipe:load_recipe",
    "prune": "edgecnn.passes.prune:prune",
    "sparsify": "edgecnn.passes.sparsify:sparsify",
    "load_suite": "edgecnn.bench.suite:load_suite",
    "run_suite": "edgecnn.bench.runner:run_suite",
    "load_bench_results": "edgecnn.bench.results:load_results",
    "compare_bench_results": "edgecnn.bench.compare:compare_results",
    "ab_compare": "edgecnn.bench.ab:ab_compare",
}

__all__ = sorted(_API) + ["__version__"]


def __getattr__(name: str) -> Any:
    target = _API.get(name)
    if target is None:
        raise AttributeError(f"module 'edgecnn' has no attribute '{name}'")
    module, _, attr = target.partition(":")
    value = getattr(importlib.import_module(module), attr) if attr else importlib.import_module(module)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
