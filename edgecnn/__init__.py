"""edgecnn: make a trained CNN fast on an edge target, and prove it by measurement.

Only the public API lives here, resolved lazily so `import edgecnn` stays light (no torch, no backends).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:  # the same names, statically, so type checkers and IDEs see the real signatures
    from edgecnn.analysis.inspect import inspect_model
    from edgecnn.analysis.summary import count_params_macs
    from edgecnn.artifact import Artifact
    from edgecnn.bench.ab import ab_compare
    from edgecnn.bench.compare import compare_results as compare_bench_results
    from edgecnn.bench.results import load_results as load_bench_results
    from edgecnn.bench.runner import run_suite
    from edgecnn.bench.suite import load_suite
    from edgecnn.bundles.writer import write_bundle as bundle
    from edgecnn.evaluation.api import evaluate
    from edgecnn.exporters.api import export
    from edgecnn.exporters.onnx import export_onnx
    from edgecnn.passes.base import PassContext
    from edgecnn.passes.distill import distill
    from edgecnn.passes.dw_separable import dw_separable
    from edgecnn.passes.fold_bn import fold_bn
    from edgecnn.passes.prune import prune
    from edgecnn.passes.sparsify import sparsify
    from edgecnn.pipeline.api import optimize
    from edgecnn.pipeline.recipe import Recipe, load_recipe
    from edgecnn.pipeline.runner import OptimizationResult
    from edgecnn.pipeline.search import SearchResult, search
    from edgecnn.profiling.api import ProfileResult, profile
    from edgecnn.quant.api import QuantizationResult, qat, quantize
    from edgecnn.quant.calibration import load_calibration
    from edgecnn.quant.config import AdvancedQuantization
    from edgecnn.runtime import load_session
    from edgecnn.spec import InputSpec, ModelSpec, Preprocess
    from edgecnn.sweeps.api import SweepResult, sweep
    from edgecnn.zoo.loader import load_model
    from edgecnn.zoo.registry import list_models

# public name -> "module:attr"; resolved on first use
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
    "export_onnx": "edgecnn.exporters.onnx:export_onnx",
    "load_session": "edgecnn.runtime:load_session",
    "fold_bn": "edgecnn.passes.fold_bn:fold_bn",
    "dw_separable": "edgecnn.passes.dw_separable:dw_separable",
    "distill": "edgecnn.passes.distill:distill",
    "quantize": "edgecnn.quant.api:quantize",
    "qat": "edgecnn.quant.api:qat",
    "QuantizationResult": "edgecnn.quant.api:QuantizationResult",
    "AdvancedQuantization": "edgecnn.quant.config:AdvancedQuantization",
    "load_calibration": "edgecnn.quant.calibration:load_calibration",
    "evaluate": "edgecnn.evaluation.api:evaluate",
    "export": "edgecnn.exporters.api:export",
    "bundle": "edgecnn.bundles.writer:write_bundle",
    "profile": "edgecnn.profiling.api:profile",
    "ProfileResult": "edgecnn.profiling.api:ProfileResult",
    "optimize": "edgecnn.pipeline.api:optimize",
    "OptimizationResult": "edgecnn.pipeline.runner:OptimizationResult",
    "sweep": "edgecnn.sweeps.api:sweep",
    "SweepResult": "edgecnn.sweeps.api:SweepResult",
    "search": "edgecnn.pipeline.search:search",
    "SearchResult": "edgecnn.pipeline.search:SearchResult",
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
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
