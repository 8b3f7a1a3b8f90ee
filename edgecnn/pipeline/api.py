"""`edgecnn.optimize`: the whole pipeline from Python (MLOps pipelines), same Recipe as the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgecnn.pipeline.build import build_recipe
from edgecnn.pipeline.recipe import Recipe
from edgecnn.pipeline.runner import OptimizationResult, run_recipe


def optimize(
    model: Any = None,
    *,
    target: str | None = None,
    int8: bool = False,
    fp16: bool = False,
    qat: bool = False,
    qat_steps: int | None = None,
    recipe: str | Path | Recipe | dict[str, Any] | None = None,
    calib_data: Any = None,
    eval_data: Any = None,
    out_dir: str | Path = "edgecnn-out",
    prune: float | None = None,
    fold_bn: bool | None = None,
    dw_separable: bool = False,
    input_shape: tuple[int, ...] | None = None,
    max_accuracy_drop: float | None = None,
    min_speedup: float | None = None,
    require_speedup: bool = False,
    device: str | None = None,
    token: str | None = None,
    threads: int | None = None,
) -> OptimizationResult:
    """Optimize `model` (zoo name, file/path string, ONNX file, nn.Module or ModelSpec) for `target`.

    `calib_data` / `eval_data` take paths (as on the CLI) or in-memory data: an (N, C, H, W) float array,
    an iterable of arrays, and for eval_data an (x, y) tuple. Returns an OptimizationResult; failed gates
    are recorded in it (`gates_passed`), not raised. `qat=True` (with int8) fine-tunes for int8 first
    (quantization-aware, by distillation; `qat_steps` optimizer steps, default 200).
    """
    in_memory = model is not None and not isinstance(model, (str, Path))
    name = (
        None if model is None else (getattr(model, "name", None) or type(model).__name__ if in_memory else str(model))
    )
    rec = build_recipe(
        name,
        recipe=recipe,
        target=target,
        int8=int8,
        fp16=fp16,
        qat=qat,
        qat_steps=qat_steps,
        prune=prune,
        fold_bn=fold_bn,
        dw_separable=dw_separable,
        calib_data=calib_data if isinstance(calib_data, (str, Path)) else None,
        eval_data=eval_data if isinstance(eval_data, (str, Path)) else None,
        max_accuracy_drop=max_accuracy_drop,
        min_speedup=min_speedup,
        require_speedup=require_speedup,
        input_shape=list(input_shape) if input_shape else None,
        device=device,
        token=token,
        threads=threads,
    )
    return run_recipe(
        rec,
        out_dir=out_dir,
        model=model if in_memory else None,
        calib_data=None if isinstance(calib_data, (str, Path)) else calib_data,
        eval_data=None if isinstance(eval_data, (str, Path)) else eval_data,
    )
