"""Structured channel pruning with Torch-Pruning's dependency graph, verified by side-by-side latency.

Whole output channels are removed together with everything coupled to them (residual adds, depthwise
convolutions, concatenations, squeeze-excitation, BatchNorm, the next layer's inputs), so the result is a
smaller dense model that every runtime runs faster. Torch-Pruning's DependencyGraph finds those couplings by
tracing autograd; writing that by hand for every architecture is what it exists to avoid. Channel counts are
rounded to a multiple (`round_to`) because unaligned counts run slower than the larger aligned ones.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import tempfile
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from edgecnn.analysis.summary import count_params_macs
from edgecnn.errors import InvalidInputError, UnknownNameError, UserError, close_matches, first_line
from edgecnn.exporters.onnx import export_onnx
from edgecnn.metrics import measure_fidelity
from edgecnn.passes.base import Pass, PassContext, apply_pass
from edgecnn.passes.configs import Importance, PruneConfig
from edgecnn.passes.distill import distill
from edgecnn.profiling.compare import compare
from edgecnn.profiling.timing import QUICK_PROTOCOL
from edgecnn.quant.calibration import default_calibration
from edgecnn.spec import ModelSpec, as_spec
from edgecnn.targets import get_target

if TYPE_CHECKING:  # pragma: no cover
    from edgecnn.profiling.timing import TimingProtocol

log = logging.getLogger("edgecnn.passes.prune")

DATA_AWARE = ("taylor", "activation")
# global ranking may otherwise empty a layer whose weights happen to be small
MAX_LAYER_RATIO = 0.9
CALIB_SAMPLES = 64
FIDELITY_SAMPLES = 32  # inputs for the fidelity check when no calibration data is given
_PRUNABLE = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


class Prune(Pass):
    name = "prune"
    Config = PruneConfig

    def run(self, spec: ModelSpec, ctx: PassContext) -> tuple[ModelSpec, dict[str, Any]]:
        cfg: PruneConfig = self.config
        module = spec.module
        if isinstance(module, torch.jit.ScriptModule):
            raise InvalidInputError(
                f"{spec.name}: TorchScript models cannot be pruned (their structure is frozen); load the eager model"
            )
        example = spec.example_input(1)
        order = executed_layers(module, example, spec.name)
        names = {m: n for n, m in module.named_modules()}
        protected = [resolve(module, n, "protect") for n in cfg.protect]
        if cfg.protect_stem_and_head and order:
            protected += [order[0], order[-1]]
        per_layer = {resolve(module, n, "per_layer"): r for n, r in (cfg.per_layer or {}).items()}
        calib = calib_batch(ctx.calib_data, spec)
        if cfg.importance in DATA_AWARE and calib is None:
            raise InvalidInputError(
                f"prune: importance='{cfg.importance}' is data-aware and needs calib_data "
                "(images shaped like the model input)"
            )
        train = train_arrays(ctx.train_data) if cfg.distill_between else None
        if cfg.distill_between and train is None:
            raise InvalidInputError(
                "prune: distill_between needs train_data (an array of inputs, or an (inputs, labels) pair)"
            )

        teacher = copy.deepcopy(module).eval()
        before = _measure(spec)
        widths_before = {names[m]: _out_width(m) for m in order}
        pruner = build_pruner(module, example, spec.name, order, cfg, protected, per_layer)
        steps = []
        for step in range(cfg.iterative_steps):
            _prepare_importance(pruner, module, teacher, calib, cfg.importance)
            pruner.step()
            _clear_importance_state(module)
            recovery = _distill(module, teacher, train, cfg.distill_between, ctx) if cfg.distill_between else None
            steps.append({"step": step + 1, **_measure(spec.replace(module=module)), "distill": recovery})
        module.eval()
        spec = spec.replace(module=module)
        after = steps[-1]
        _check_runs(teacher, module, example, spec.name)
        report: dict[str, Any] = {
            "importance": cfg.importance,
            "protected": sorted({names[m] for m in protected}),
            "params": {
                "before": before["params"],
                "after": after["params"],
                "ratio": after["params"] / before["params"],
            },
            "macs": {"before": before["macs"], "after": after["macs"], "ratio": after["macs"] / max(before["macs"], 1)},
            "layers": [
                {"layer": n, "out_channels": [w, _out_width(module.get_submodule(n))]}
                for n, w in widths_before.items()
                if _out_width(module.get_submodule(n)) != w
            ],
            "steps": steps,
            "fidelity": calib_fidelity(teacher, module, calib, spec),
            "latency": None,
        }
        if cfg.check_latency:
            original = spec.replace(module=teacher)
            report["latency"] = compare_latency(original, spec, target=cfg.target, threads=cfg.threads)
        log.info(
            "prune: params x%.2f, MACs x%.2f (%s, ratio %.2f)",
            report["params"]["ratio"],
            report["macs"]["ratio"],
            cfg.importance,
            cfg.ratio,
        )
        return spec, report


def prune(
    model: Any,
    *,
    ratio: float,
    importance: Importance = "l1",
    global_pruning: bool = False,
    per_layer: dict[str, float] | None = None,
    protect: Iterable[str] | None = None,
    protect_stem_and_head: bool = True,
    round_to: int | None = 8,
    iterative_steps: int = 1,
    distill_between: int = 0,
    calib_data: Any = None,
    train_data: Any = None,
    check_latency: bool = True,
    target: str = "onnxruntime",
    threads: int | None = None,
    input_shape: tuple[int, ...] | None = None,
    ctx: PassContext | None = None,
    return_report: bool = False,
) -> Any:
    """Remove `ratio` of the output channels of every prunable layer group; returns a ModelSpec or nn.Module as given.

    importance: "l1"/"l2" weight magnitude, "bn_scale" (BatchNorm gamma), or the data-aware "taylor" and
    "activation", which need `calib_data` (an array of model inputs). `per_layer` maps module names to
    their own ratio; `protect` names modules to leave alone (the stem and the classifier head are protected
    unless `protect_stem_and_head=False`). With `iterative_steps > 1` the ratio is reached in steps, and with
    `distill_between=N` (epochs; needs `train_data`, an array or an (inputs, labels) pair) the pruned model is
    distilled from the original after each step. With `check_latency` both models are exported to ONNX and
    timed side by side on `target`; a warning is logged when the pruned model is not faster.
    The input is not modified. With `return_report=True` returns `(model, report)`; the report is also appended
    to `ctx.reports` when a PassContext is given.
    """
    config = PruneConfig(
        ratio=ratio,
        importance=importance,
        global_pruning=global_pruning,
        per_layer=dict(per_layer) if per_layer else None,
        protect=tuple(protect or ()),
        protect_stem_and_head=protect_stem_and_head,
        round_to=round_to,
        iterative_steps=iterative_steps,
        distill_between=distill_between,
        check_latency=check_latency,
        target=target,
        threads=threads,
    )
    ctx = ctx or PassContext()
    ctx = dataclasses.replace(
        ctx,
        calib_data=ctx.calib_data if calib_data is None else calib_data,
        train_data=ctx.train_data if train_data is None else train_data,
    )
    if input_shape is not None and not isinstance(model, ModelSpec):
        out, report = apply_pass(Prune(config), as_spec(model, input_shape=input_shape, name=type(model).__name__), ctx)
        out = out.module
    else:
        out, report = apply_pass(Prune(config), model, ctx)
    return (out, report) if return_report else out


def executed_layers(module: nn.Module, example: torch.Tensor, name: str) -> list[nn.Module]:
    """Conv/Linear layers in the order the forward pass runs them (first = stem, last = head)."""
    order: list[nn.Module] = []

    def hook(mod: nn.Module, args: Any, output: Any) -> None:
        if mod not in order:
            order.append(mod)

    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, _PRUNABLE)]
    try:
        with torch.no_grad():
            module(example)
    except Exception as exc:  # any failure of the user's forward on its declared input
        raise InvalidInputError(
            f"{name}: cannot run the model on an input of shape {tuple(example.shape)}: {first_line(exc)}"
        ) from None
    finally:
        for h in handles:
            h.remove()
    return order


def resolve(module: nn.Module, name: str, option: str) -> nn.Module:
    """The submodule called `name`, or an error naming it and the closest existing names."""
    try:
        return module.get_submodule(name)
    except AttributeError:
        known = [n for n, _ in module.named_modules() if n]
        raise UnknownNameError(
            f"{option}: the model has no layer named '{name}'.{close_matches(name, known)}"
        ) from None


def build_pruner(
    module: nn.Module,
    example: torch.Tensor,
    name: str,
    order: list[nn.Module],
    cfg: PruneConfig,
    protected: list[nn.Module],
    per_layer: dict[nn.Module, float],
) -> Any:
    """A Torch-Pruning BasePruner over the traced dependency graph; untraceable models get a clear error."""
    import torch_pruning as tp

    ratios = [cfg.ratio, *per_layer.values()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Torch-Pruning warns about unwrapped parameters it handles itself
        try:
            pruner = tp.pruner.BasePruner(
                module,
                example,
                importance=_importance(cfg.importance),
                global_pruning=cfg.global_pruning,
                pruning_ratio=cfg.ratio,
                pruning_ratio_dict=per_layer or None,
                ignored_layers=protected,
                round_to=cfg.round_to,
                iterative_steps=cfg.iterative_steps,
                max_pruning_ratio=max(MAX_LAYER_RATIO, *ratios),
            )
        except Exception as exc:  # tracing failures surface as assorted errors inside Torch-Pruning
            raise InvalidInputError(f"{name}: cannot trace the model's graph for pruning: {first_line(exc)}") from None
    traced = set(pruner.DG.module2node)
    missing = [n for n, m in module.named_modules() if m in order and m not in traced]
    if missing:
        raise InvalidInputError(
            f"{name}: cannot trace the model's graph for pruning: layers {', '.join(missing[:5])} are not in the "
            "autograd graph (a forward under torch.no_grad, .detach(), numpy or a custom autograd op); pruning them "
            "would break the model"
        )
    return pruner


def _importance(kind: str) -> Any:
    import torch_pruning as tp

    imp = tp.importance
    return {
        "l1": lambda: imp.MagnitudeImportance(p=1),
        "l2": lambda: imp.MagnitudeImportance(p=2),
        "bn_scale": imp.BNScaleImportance,
        "taylor": imp.GroupTaylorImportance,
        "activation": imp.ActivationImportance,
    }[kind]()


def _prepare_importance(
    pruner: Any, module: nn.Module, teacher: nn.Module, calib: torch.Tensor | None, kind: str
) -> None:
    """Data-aware criteria need a pass over calibration data before each step: gradients or activations."""
    if kind == "taylor":
        # the loss is cross-entropy against the original model's predictions, so no labels are needed
        with torch.no_grad():
            targets = teacher(calib).argmax(1)
        module.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(module(calib), targets).backward()
    elif kind == "activation":
        with pruner.importance.compute_importance(module), torch.no_grad():
            module(calib)


def _clear_importance_state(module: nn.Module) -> None:
    module.zero_grad(set_to_none=True)
    for m in module.modules():
        if hasattr(m, "_importance"):
            del m._importance


def calib_batch(data: Any, spec: ModelSpec, limit: int = CALIB_SAMPLES) -> torch.Tensor | None:
    """Up to `limit` calibration samples as one float32 batch shaped like the model input."""
    if data is None:
        return None
    if isinstance(data, tuple) and len(data) == 2 and np.ndim(data[1]) == 1:
        data = data[0]  # an (inputs, labels) pair
    chunks = [np.asarray(data)] if isinstance(data, (np.ndarray, torch.Tensor)) else [np.asarray(b) for b in data]
    x = np.concatenate([c if c.ndim == len(spec.input.shape) else c[None] for c in chunks])[:limit]
    if tuple(x.shape[1:]) != tuple(spec.input.shape[1:]):
        raise InvalidInputError(
            f"calibration data has samples of shape {tuple(x.shape[1:])}; {spec.name} takes {spec.input.shape[1:]}"
        )
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def train_arrays(data: Any) -> tuple[np.ndarray, np.ndarray | None] | None:
    if data is None:
        return None
    if isinstance(data, tuple) and len(data) == 2:
        return np.asarray(data[0], dtype=np.float32), np.asarray(data[1])
    if hasattr(data, "x") and hasattr(data, "y"):  # edgecnn.evaluation.digits.Split and alike
        return np.asarray(data.x, dtype=np.float32), np.asarray(data.y)
    return np.asarray(data, dtype=np.float32), None


def _distill(
    student: nn.Module, teacher: nn.Module, train: tuple[np.ndarray, np.ndarray | None], epochs: int, ctx: PassContext
) -> dict[str, Any]:
    """Recover accuracy by distilling from the original; weights are copied back so the pruner's graph stays valid."""

    x, y = train
    trained, step = distill(
        student, teacher, x, labels=y, epochs=epochs, seed=ctx.seed, progress=ctx.progress, return_report=True
    )
    student.load_state_dict(trained.state_dict())
    student.eval()
    return step["report"]


def _measure(spec: ModelSpec) -> dict[str, int]:

    params, macs = count_params_macs(spec)
    return {"params": int(params), "macs": int(macs)}


def _out_width(layer: nn.Module) -> int:
    return int(layer.out_features if isinstance(layer, nn.Linear) else layer.out_channels)


def _check_runs(teacher: nn.Module, module: nn.Module, example: torch.Tensor, name: str) -> None:
    with torch.no_grad():
        ref, out = teacher(example), module(example)
    if ref.shape != out.shape:
        raise InvalidInputError(
            f"{name}: pruning changed the output shape {tuple(ref.shape)} -> {tuple(out.shape)}; "
            "protect the layer that produces the output"
        )


def calib_fidelity(
    reference: nn.Module, module: nn.Module, calib: torch.Tensor | None, spec: ModelSpec | None = None
) -> dict[str, Any] | None:
    """`Fidelity` of the changed model against the original (agreement as a fraction) on the calibration samples,
    or, given the `spec` whose input shape is known to run, on the default calibration photos (an image model) or
    seeded random inputs; `inputs` says which. None without data, or for an output that is not (batch, classes)."""
    source = "calibration data"
    if calib is None and spec is None:
        return None
    if calib is None:
        calib, source = _default_inputs(spec)
    with torch.no_grad():
        ref, out = reference(calib), module(calib)
    if ref.ndim != 2:
        return None
    return {**measure_fidelity(ref.numpy(), out.numpy()).to_dict(), "inputs": source}


def _default_inputs(spec: ModelSpec) -> tuple[torch.Tensor, str]:
    if spec.preprocess is not None and spec.input.layout == "NCHW":
        x = default_calibration(spec, size=FIDELITY_SAMPLES)
        return torch.from_numpy(x), "default calibration photos"
    return spec.example_input(FIDELITY_SAMPLES), "seeded random inputs"


def compare_latency(
    original: ModelSpec,
    pruned: ModelSpec,
    *,
    target: str = "onnxruntime",
    threads: int | None = None,
    protocol: TimingProtocol | None = None,
) -> dict[str, Any]:
    """Export both models to ONNX and compare them (`profiling.compare`, quick preset) on the target's backend."""

    tgt = get_target(target)
    with tempfile.TemporaryDirectory(prefix="edgecnn-prune-") as tmp:
        try:
            cmp = compare(
                *(
                    export_onnx(s, Path(tmp) / f"{role}.onnx", check=False)
                    for role, s in (("original", original), ("pruned", pruned))
                ),
                original.example_input(1).numpy(),
                backend=tgt.backend,
                device=tgt.device,
                threads=threads,
                protocol=protocol or QUICK_PROTOCOL,
                names=("original", "pruned"),
            )
        except UserError as exc:  # the target's runtime or device is not available here
            log.warning("prune: latency not checked on %s: %s", target, exc)
            return {"target": target, "skipped": str(exc)}
    if not cmp.faster:
        log.warning(
            "prune: the pruned model is NOT faster on %s (p50 %.3f ms vs %.3f ms original, x%.2f); "
            "try round_to=16 or a different ratio",
            target,
            cmp.b.p50,
            cmp.a.p50,
            cmp.speedup,
        )
    return {
        "target": target,
        "backend": tgt.backend,
        "threads": threads,
        "original_ms": cmp.a.summary(),
        "pruned_ms": cmp.b.summary(),
        "speedup": cmp.speedup,
        "ratio": cmp.ratio,
        "ratio_ci": [cmp.ci_low, cmp.ci_high],
        "faster": cmp.faster,
        "verdict": cmp.verdict(),
        "method": cmp.to_dict()["method"],
    }
