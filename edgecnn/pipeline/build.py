"""Build the Recipe that `edgecnn optimize` flags (or `edgecnn.optimize` keywords) describe.

The CLI and the API both go through here, so `--dry-run` prints exactly what would run.
"""

from __future__ import annotations

from typing import Any

from edgecnn.config import StepBase
from edgecnn.pipeline.recipe import Recipe, load_recipe, validate_step
from edgecnn.pipeline.steps import DistillStep, DwSeparableStep, FoldBNStep, PruneStep, QATStep, QuantizeStep


def build_recipe(
    model: str | None = None,
    *,
    recipe: str | Recipe | dict[str, Any] | None = None,
    target: str | None = None,
    int8: bool = False,
    fp16: bool = False,
    qat: bool = False,
    qat_steps: int | None = None,
    prune: float | None = None,
    fold_bn: bool | None = None,
    dw_separable: bool = False,
    distill_epochs: int | None = None,
    calib_data: str | None = None,
    calib_size: int | None = None,
    eval_data: str | None = None,
    max_accuracy_drop: float | None = None,
    min_speedup: float | None = None,
    require_speedup: bool = False,
    weights: str | None = None,
    arch: str | None = None,
    input_shape: list[int] | None = None,
    device: str | None = None,
    token: str | None = None,
    threads: int | None = None,
    seed: int | None = None,
) -> Recipe:
    """Start from `recipe` (file, dict or Recipe) when given, else from defaults; flags override its fields."""
    if int8 and fp16:
        from edgecnn.errors import InvalidInputError

        raise InvalidInputError("--int8 and --fp16 exclude each other: give one of them")
    if (qat or qat_steps is not None) and not int8:
        from edgecnn.errors import InvalidInputError

        raise InvalidInputError("--qat fine-tunes for int8: give --int8 with it")
    if recipe is not None:
        loaded = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
        data = loaded.model_dump(mode="json")
        data["token"] = loaded.agent_token  # dumps redact the secret; keep the real one
    else:
        if model is None:
            from edgecnn.errors import InvalidInputError

            raise InvalidInputError("give a MODEL or a --recipe")
        # an ONNX input is already BN-folded by its exporter; torch passes cannot run on it anyway
        data = {"model": {"name": model}, "steps": [] if str(model).endswith(".onnx") else [{"type": "fold_bn"}]}
    if model is not None:
        data["model"]["name"] = model
    for key, value in (("weights", weights), ("arch", arch), ("input_shape", input_shape)):
        if value is not None:
            data["model"][key] = value
    if target is not None:
        data["target"] = target
    steps: list[StepBase] = [validate_step(i, s) for i, s in enumerate(data.get("steps") or [])]
    kinds = [s.type for s in steps]
    if fold_bn is False:
        steps = [s for s in steps if not isinstance(s, FoldBNStep)]
    elif fold_bn and "fold_bn" not in kinds:
        steps.insert(0, FoldBNStep())
    if dw_separable and "dw_separable" not in kinds:
        # m=1 substitution starts near chance accuracy; 5 epochs at lr 3e-3 recovered digits to within 1 point
        steps += [DwSeparableStep(), DistillStep(epochs=distill_epochs or 5, lr=3e-3)]
    if prune is not None:
        steps = [s for s in steps if not isinstance(s, PruneStep)]
        steps.append(PruneStep(ratio=prune))
    if int8 or fp16:
        steps = [s for s in steps if not isinstance(s, QuantizeStep)]
        steps.append(QuantizeStep(precision="fp16" if fp16 else "int8"))
    if qat or qat_steps is not None:
        steps = [s for s in steps if not isinstance(s, QATStep)]
        options = {"steps": qat_steps} if qat_steps is not None else {}
        steps.append(QATStep(target=data.get("target") or "onnxruntime", **options))
    data["steps"] = _torch_steps_first(steps)
    data.setdefault("data", {})
    for key, value in (("calib", calib_data), ("calib_size", calib_size), ("eval", eval_data)):
        if value is not None:
            data["data"][key] = value
    data.setdefault("gates", {})
    for key, value in (("max_accuracy_drop", max_accuracy_drop), ("min_speedup", min_speedup)):
        if value is not None:
            data["gates"][key] = value
    if require_speedup:
        data["gates"]["require_speedup"] = True
    if device is not None:
        data["device"] = device
    if token is not None:
        data["token"] = token
    if threads is not None:
        data.setdefault("profile", {})["threads"] = threads
    if seed is not None:
        data["seed"] = seed
    return load_recipe(data)


def _torch_steps_first(steps: list[StepBase]) -> list[StepBase]:
    """Order flag-built steps: training-style passes, then fold_bn, then qat, then the ONNX-level quantize.

    fold_bn goes after dw_separable/prune/distill because distillation re-estimates the BatchNorm
    statistics those passes shift; a folded model has none left (recovery then fails, measured on digits).
    qat comes last of the torch steps: it fine-tunes the weights exactly as quantize will round them.
    """
    order = {FoldBNStep: 1, QATStep: 2}
    return sorted(steps, key=lambda s: 3 if s.stage == "onnx" else order.get(type(s), 0))
