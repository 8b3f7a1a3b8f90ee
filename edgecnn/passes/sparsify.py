"""Weight sparsity that changes no shape: unstructured magnitude pruning and the 2:4 pattern.

Zeros only turn into speed on runtimes with sparse kernels (2:4 on NVIDIA sparse tensor cores through
TensorRT with sparsity enabled, Ampere or newer); everywhere else the model runs at dense speed and the gain
is storage (the compressed size). The report says so, per layer sparsity and sizes included.
"""

from __future__ import annotations

import dataclasses
import logging
import zlib
from typing import Any

import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from edgecnn.errors import InvalidInputError
from edgecnn.passes.base import Pass, PassContext, apply_pass
from edgecnn.passes.configs import Pattern, SparsifyConfig
from edgecnn.passes.distill import distill
from edgecnn.passes.prune import calib_batch, calib_fidelity, resolve, train_arrays
from edgecnn.spec import ModelSpec

log = logging.getLogger("edgecnn.passes.sparsify")

_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
SPEED_NOTE = (
    "Sparsity changes no tensor shape: ONNX Runtime, OpenVINO and PyTorch on the CPU run this model at dense speed. "
    "Only runtimes with sparse kernels turn the zeros into speed: the 2:4 pattern on NVIDIA sparse tensor cores "
    "(TensorRT with sparsity enabled, Ampere GPUs or newer); unstructured sparsity mainly saves storage "
    "(compressed size)."
)


class Sparsify(Pass):
    name = "sparsify"
    Config = SparsifyConfig

    def run(self, spec: ModelSpec, ctx: PassContext) -> tuple[ModelSpec, dict[str, Any]]:
        cfg: SparsifyConfig = self.config
        module = spec.module
        if isinstance(module, torch.jit.ScriptModule):
            raise InvalidInputError(f"{spec.name}: TorchScript models cannot be sparsified; load the eager model")
        protected = {resolve(module, n, "protect") for n in cfg.protect}
        protected = {m for p in protected for m in p.modules()}
        layers = {n: m for n, m in module.named_modules() if isinstance(m, _LAYERS) and m not in protected}
        # a per_layer name may be a block: its value applies to every conv/linear inside
        overrides = {
            leaf: s
            for n, s in (cfg.per_layer or {}).items()
            for leaf in resolve(module, n, "per_layer").modules()
            if leaf in layers.values()
        }
        train = train_arrays(ctx.train_data) if cfg.distill_epochs else None
        if cfg.distill_epochs and train is None:
            raise InvalidInputError(
                "sparsify: distill_epochs needs train_data (an array of inputs, or an (inputs, labels) pair)"
            )
        reference = spec.copy().module
        zip_before = _zipped_bytes(module)
        skipped: list[dict[str, str]] = []
        if cfg.pattern == "2:4":
            for name, layer in layers.items():
                reason = apply_2_4(layer)
                if reason:
                    skipped.append({"layer": name, "reason": reason})
        else:
            _unstructured(layers, cfg.sparsity, overrides, cfg.global_)
        done = {n: m for n, m in layers.items() if n not in {s["layer"] for s in skipped}}
        recovery = (
            _masked_distill(module, reference, done, train, cfg.distill_epochs, ctx) if train is not None else None
        )
        per_layer = [_layer_stats(n, m.weight) for n, m in done.items()]
        report = {
            "pattern": cfg.pattern,
            "layers": per_layer,
            "skipped": skipped,
            "sparsity": _overall(per_layer),
            "size": _sizes(module, done, cfg.pattern, zip_before),
            "fidelity": calib_fidelity(reference, module, calib_batch(ctx.calib_data, spec)),
            "distill": recovery,
            "speed": SPEED_NOTE,
        }
        log.info(
            "sparsify: %s, %.1f%% of the weights of %d layers are zero (%d skipped). %s",
            cfg.pattern,
            100 * report["sparsity"]["weights"],
            len(done),
            len(skipped),
            SPEED_NOTE,
        )
        return spec, report


def sparsify(
    model: Any,
    *,
    sparsity: float = 0.5,
    pattern: Pattern = "unstructured",
    global_: bool = False,
    per_layer: dict[str, float] | None = None,
    protect: tuple[str, ...] | list[str] = (),
    distill_epochs: int = 0,
    calib_data: Any = None,
    train_data: Any = None,
    ctx: PassContext | None = None,
    return_report: bool = False,
) -> Any:
    """Zero the smallest-magnitude weights of every conv/linear layer; returns the same kind (ModelSpec or nn.Module).

    pattern "unstructured" reaches `sparsity` per layer (or with one global threshold when `global_`; `per_layer`
    maps module names to their own sparsity); "2:4" zeroes the 2 smallest of every 4 consecutive input weights
    (layers whose input channels per group are not a multiple of 4 are skipped and listed). With `calib_data`
    the report gives the top-1 agreement with the dense model. The input is not modified. With
    `return_report=True` returns `(model, report)`; the report is also appended to `ctx.reports`.
    With `distill_epochs=N` and `train_data` (an array, or an (inputs, labels) pair) the sparse model is
    distilled from the dense one for N epochs with its zeros held (every forward re-applies the mask).
    """
    config = SparsifyConfig(
        sparsity=sparsity,
        pattern=pattern,
        global_=global_,
        per_layer=dict(per_layer) if per_layer else None,
        protect=tuple(protect),
        distill_epochs=distill_epochs,
    )
    ctx = ctx or PassContext()
    ctx = dataclasses.replace(
        ctx,
        calib_data=ctx.calib_data if calib_data is None else calib_data,
        train_data=ctx.train_data if train_data is None else train_data,
    )
    out, report = apply_pass(Sparsify(config), model, ctx)
    return (out, report) if return_report else out


def _unstructured(
    layers: dict[str, nn.Module], sparsity: float, overrides: dict[nn.Module, float], global_: bool
) -> None:
    """torch.nn.utils.prune computes the magnitude masks; `remove` then bakes the zeros into the weights."""
    rest = [m for m in layers.values() if m not in overrides]
    if global_ and rest and sparsity > 0:
        torch_prune.global_unstructured(
            [(m, "weight") for m in rest], pruning_method=torch_prune.L1Unstructured, amount=sparsity
        )
    elif sparsity > 0:
        for m in rest:
            torch_prune.l1_unstructured(m, "weight", amount=sparsity)
    for layer, amount in overrides.items():
        torch_prune.l1_unstructured(layer, "weight", amount=amount)
    for m in layers.values():
        if torch_prune.is_pruned(m):
            torch_prune.remove(m, "weight")


def _masked_distill(
    module: nn.Module, teacher: nn.Module, layers: dict[str, nn.Module], train: Any, epochs: int, ctx: PassContext
) -> dict[str, Any]:
    """Projected fine-tuning: a pre-forward hook zeroes the pruned weights again before every forward, so the
    optimizer's updates to them never take effect (as NVIDIA ASP re-masks after every step)."""

    masks = {name: (layer.weight.detach() != 0) for name, layer in layers.items()}

    def remask(mod: nn.Module, args: Any) -> None:
        mod.weight.data.mul_(mod._edgecnn_mask)

    handles = []
    for name, layer in layers.items():
        layer._edgecnn_mask = masks[name]
        handles.append(layer.register_forward_pre_hook(remask))
    try:
        trained, step = distill(
            module,
            teacher,
            train[0],
            labels=train[1],
            epochs=epochs,
            seed=ctx.seed,
            progress=ctx.progress,
            return_report=True,
        )
    finally:
        for h in handles:
            h.remove()
        for layer in layers.values():
            del layer._edgecnn_mask
    module.load_state_dict(trained.state_dict())
    for name, layer in layers.items():
        layer.weight.data.mul_(masks[name])
    module.eval()
    return step["report"]


def apply_2_4(layer: nn.Module) -> str | None:
    """Keep the 2 largest of every 4 consecutive input weights; returns why the layer was skipped, if it was.

    Written by hand: torch's semi-structured sparse tensors need CUDA, and ASP (apex) is not a dependency here.
    The groups run along the input-channel axis, the layout sparse tensor cores read (NVIDIA ASP does the same).
    """
    w = layer.weight.data
    fan_in = w.shape[1]
    if fan_in % 4:
        return f"{fan_in} input channels per group is not a multiple of 4"
    moved = w.movedim(1, -1)  # (out, *kernel, in): consecutive input weights are adjacent
    groups = moved.reshape(-1, 4)
    keep = torch.zeros_like(groups, dtype=torch.bool)
    keep.scatter_(1, groups.abs().topk(2, dim=1).indices, True)
    layer.weight.data = (groups * keep).reshape(moved.shape).movedim(-1, 1).contiguous()
    return None


def is_2_4(weight: torch.Tensor) -> bool:
    """True when every group of 4 consecutive input weights holds at least 2 zeros."""
    groups = weight.detach().movedim(1, -1).reshape(-1, 4)
    return bool(((groups == 0).sum(1) >= 2).all())


def _layer_stats(name: str, weight: torch.Tensor) -> dict[str, Any]:
    zeros = int((weight == 0).sum())
    return {
        "layer": name,
        "shape": list(weight.shape),
        "weights": weight.numel(),
        "zeros": zeros,
        "sparsity": zeros / weight.numel(),
    }


def _overall(per_layer: list[dict[str, Any]]) -> dict[str, float]:
    total = sum(d["weights"] for d in per_layer)
    zeros = sum(d["zeros"] for d in per_layer)
    return {"weights": zeros / total if total else 0.0, "sparsified_layers": len(per_layer)}


def _zipped_bytes(module: nn.Module) -> int:
    """Size of all parameters and buffers as float32, deflate-compressed: what zipping the weights gives."""
    blob = b"".join(
        t.detach().cpu().float().numpy().tobytes() for t in module.state_dict().values() if t.is_floating_point()
    )
    return len(zlib.compress(blob, 1))  # level 1: near level 6 on float data, several times faster


def _sizes(module: nn.Module, done: dict[str, nn.Module], pattern: str, zip_before: int) -> dict[str, Any]:
    """Dense fp32 bytes, measured deflate sizes, and the sparse-format estimate for the sparsified weights.

    The estimate is CSR (fp32 values + int32 column indices + int32 row pointers, rows = output channels) for
    unstructured sparsity, and NVIDIA's compressed 2:4 format (the kept half of the values + 2 bits of index
    metadata per kept value) for 2:4; every other tensor counts dense.
    """
    dense = sum(t.numel() * 4 for t in module.state_dict().values() if t.is_floating_point())
    sparse_part = dense_part = 0
    for m in done.values():
        w = m.weight.detach()
        dense_part += w.numel() * 4
        nnz = int((w != 0).sum())
        if pattern == "2:4":
            sparse_part += w.numel() // 2 * 4 + w.numel() // 2 * 2 // 8
        else:
            sparse_part += nnz * 8 + (w.shape[0] + 1) * 4
    estimate = dense - dense_part + sparse_part
    zip_after = _zipped_bytes(module)
    fmt = "2:4 compressed (values + 2-bit indices)" if pattern == "2:4" else "CSR (fp32 values, int32 indices)"
    return {
        "dense_fp32_bytes": dense,
        "sparse_format": fmt,
        "sparse_format_bytes": estimate,
        "sparse_format_ratio": estimate / dense if dense else 1.0,
        "zip_bytes_before": zip_before,
        "zip_bytes_after": zip_after,
        "zip_ratio": zip_after / zip_before if zip_before else 1.0,
    }
