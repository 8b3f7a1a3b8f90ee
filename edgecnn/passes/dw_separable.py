"""Replace dense k x k convolutions (groups 1, k > 1) by a depthwise k x k + pointwise 1 x 1 pair.

The pair is initialised from the original weights: for each input channel i the slice W[:, i] (out x k*k)
is a sum of rank-1 terms (pointwise column) x (depthwise kernel); its truncated SVD with m terms is the
best such approximation (Eckart-Young), exact once m reaches min(out, k*k). The depthwise conv therefore
has in*m output channels, ordered i*m + j as PyTorch's grouped convolution expects.
"""

from __future__ import annotations

import fnmatch
import logging
import math
from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from edgecnn.errors import InternalError, InvalidInputError
from edgecnn.metrics import measure_fidelity
from edgecnn.passes.base import Pass, PassContext
from edgecnn.passes.configs import DepthwiseSeparableConfig
from edgecnn.passes.fold_bn import apply_with_shape, run_example
from edgecnn.spec import ModelSpec

log = logging.getLogger("edgecnn.passes.dw_separable")

_CONVS = (nn.Conv1d, nn.Conv2d)


class DepthwiseSeparable(Pass):
    name = "dw_separable"
    Config = DepthwiseSeparableConfig

    def run(self, spec: ModelSpec, ctx: PassContext) -> tuple[ModelSpec, dict[str, Any]]:
        cfg = self.config
        module = spec.module
        if isinstance(module, torch.jit.ScriptModule):
            raise InvalidInputError(
                f"{spec.name}: TorchScript models cannot be transformed; load the architecture and weights instead"
            )
        example = spec.example_input(1)
        original = spec.copy()
        costs_before = conv_costs(module, example)
        candidates = _select_by_name(module, cfg)
        unused = {"macs": 0, "params": 0}  # a layer the forward pass never calls costs nothing
        layers = [
            _plan(name, module.get_submodule(name), cfg.depth_multiplier, costs_before.get(name, unused))
            for name in candidates
        ]
        chosen = [p for p in layers if _passes_budget(p, cfg)]
        if not chosen:
            raise InvalidInputError(_nothing_selected(layers, cfg))
        for plan in chosen:
            _replace(module, plan["layer"], separable_pair(module.get_submodule(plan["layer"]), cfg.depth_multiplier))
        costs_after = conv_costs(module, example)
        report = _report(chosen, layers, costs_before, costs_after, cfg)
        report["check"] = _check(original, spec, exact=all(p["exact"] for p in chosen), tolerance=cfg.tolerance)
        log.info(
            "dw_separable: substituted %d layers; their MACs %s -> %s",
            len(chosen),
            report["substituted_macs_before"],
            report["substituted_macs_after"],
        )
        return spec, report


def dw_separable(
    model: Any,
    *,
    depth_multiplier: int = 1,
    include: str | list[str] | tuple[str, ...] | None = None,
    exclude: str | list[str] | tuple[str, ...] = (),
    min_mac_saving: float | None = None,
    max_error: float | None = None,
    tolerance: float = 1e-4,
    input_shape: tuple[int, ...] | None = None,
    ctx: PassContext | None = None,
    return_report: bool = False,
) -> Any:
    """Substitute dense k x k convs by depthwise + pointwise pairs; returns the same kind (ModelSpec or nn.Module).

    include/exclude: fnmatch patterns on layer names (e.g. "layer3.*"); min_mac_saving: keep only layers whose
    MACs drop by at least this fraction; max_error: keep only layers whose relative reconstruction error is at
    most this. Raises InvalidInputError when the options select no layer. A plain nn.Module needs
    `input_shape` (or an `input_shape` attribute; else (1, 3, 224, 224) is assumed) to count MACs.
    With `return_report=True` returns `(model, report)`.
    """
    pass_ = DepthwiseSeparable(
        depth_multiplier=depth_multiplier,
        include=include,
        exclude=exclude,
        min_mac_saving=min_mac_saving,
        max_error=max_error,
        tolerance=tolerance,
    )
    out, report = apply_with_shape(pass_, model, input_shape, ctx)
    return (out, report) if return_report else out


def eligible(layer: nn.Module) -> bool:
    """A dense (groups 1) Conv1d/Conv2d with a kernel larger than 1."""
    return type(layer) in _CONVS and layer.groups == 1 and math.prod(layer.kernel_size) > 1


def _select_by_name(module: nn.Module, cfg: DepthwiseSeparableConfig) -> list[str]:
    names = [
        n for n, m in module.named_modules() if eligible(m) and not any(fnmatch.fnmatchcase(n, p) for p in cfg.exclude)
    ]
    if cfg.include is not None:
        names = [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in cfg.include)]
        if not names:
            every = [n for n, m in module.named_modules() if eligible(m)]
            raise InvalidInputError(
                f"dw_separable: include={list(cfg.include)} selects no layer; eligible layers "
                f"(dense convs with k > 1): {_short(every)}"
            )
    return names


def _plan(name: str, layer: nn.Module, m: int, cost: dict[str, int]) -> dict[str, Any]:
    out_ch, in_ch = layer.out_channels, layer.in_channels
    k = math.prod(layer.kernel_size)
    m_eff = min(m, out_ch, k)  # components beyond the slice's rank are zero: they would add cost, not accuracy
    positions = cost["macs"] // (out_ch * in_ch * k)  # output positions per sample
    params_before = out_ch * in_ch * k + (out_ch if layer.bias is not None else 0)
    params_after = in_ch * m_eff * k + out_ch * in_ch * m_eff + (out_ch if layer.bias is not None else 0)
    macs_after = positions * (in_ch * m_eff * k + out_ch * in_ch * m_eff)
    return {
        "layer": name,
        "kernel": list(layer.kernel_size),
        "in_channels": in_ch,
        "out_channels": out_ch,
        "stride": list(layer.stride),
        "depth_multiplier": m_eff,
        "rel_error": round(reconstruction_error(layer.weight, m_eff), 6),
        "exact": m_eff >= min(out_ch, k),
        "macs_before": cost["macs"],
        "macs_after": macs_after,
        "params_before": params_before,
        "params_after": params_after,
        "mac_saving": round(1 - macs_after / cost["macs"], 4) if cost["macs"] else 0.0,
    }


def _passes_budget(plan: dict[str, Any], cfg: DepthwiseSeparableConfig) -> bool:
    if cfg.min_mac_saving is not None and plan["mac_saving"] < cfg.min_mac_saving:
        return False
    return cfg.max_error is None or plan["rel_error"] <= cfg.max_error


def _nothing_selected(layers: list[dict[str, Any]], cfg: DepthwiseSeparableConfig) -> str:
    if not layers:
        return "dw_separable: the model has no eligible layer (a dense Conv1d/Conv2d with groups=1 and kernel > 1)" + (
            f" outside exclude={list(cfg.exclude)}" if cfg.exclude else ""
        )
    best_saving = max(p["mac_saving"] for p in layers)
    best_error = min(p["rel_error"] for p in layers)
    return (
        f"dw_separable: the config selects no layer: {len(layers)} candidates, best MAC saving {best_saving:.2f} "
        f"(min_mac_saving={cfg.min_mac_saving}), lowest reconstruction error {best_error:.3g} "
        f"(max_error={cfg.max_error})"
    )


def _spectrum(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per input channel A_i = W[:, i] (out x k), float64: slices A (in, out, k), squared singular values
    (in, k) in descending order and right singular vectors V (in, k, k).

    From the eigen-decomposition of the small k x k Gram matrix: several times faster than a batched SVD of
    the tall slices, and the rank-m approximation A V_m V_m^T does not need U itself.
    """
    out_ch, in_ch = weight.shape[:2]
    slices = weight.detach().double().reshape(out_ch, in_ch, -1).transpose(0, 1)
    evals, evecs = torch.linalg.eigh(slices.transpose(1, 2) @ slices)
    return slices, evals.flip(-1).clamp(min=0), evecs.flip(-1)


def reconstruction_error(weight: torch.Tensor, m: int) -> float:
    """||W - W_m||_F / ||W||_F with m components per input channel (the discarded singular values)."""
    sq = _spectrum(weight)[1]
    total = float(sq.sum())
    return math.sqrt(float(sq[:, m:].sum()) / total) if total > 0 else 0.0


@torch.no_grad()
def separable_pair(layer: nn.Module, m: int) -> nn.Sequential:
    """The depthwise + pointwise nn.Sequential approximating `layer` with m components per input channel."""
    out_ch, in_ch = layer.out_channels, layer.in_channels
    m = min(m, out_ch, math.prod(layer.kernel_size))
    slices, sq, v = _spectrum(layer.weight)
    v = v[..., :m]  # (in, k, m)
    # term j of channel i: (A v_j / sqrt(s_j)) x (sqrt(s_j) v_j): the singular value is split evenly so both
    # factors get comparable scales for fine-tuning; terms with s_j ~ 0 contribute nothing and are zeroed
    root = sq[:, :m].sqrt().sqrt()
    keep = sq[:, :m] > sq[:, :1] * 1e-24
    safe = torch.where(keep, root, torch.ones_like(root))
    dw_weight = (v * torch.where(keep, root, torch.zeros_like(root))[:, None, :]).transpose(1, 2)
    pw_weight = (slices @ v) / safe[:, None, :] * keep[:, None, :]  # (in, out, m)
    conv = type(layer)
    depthwise = conv(
        in_ch,
        in_ch * m,
        layer.kernel_size,
        stride=layer.stride,
        padding=layer.padding,
        dilation=layer.dilation,
        groups=in_ch,
        bias=False,
        padding_mode=layer.padding_mode,
    )
    pointwise = conv(in_ch * m, out_ch, 1, bias=layer.bias is not None)
    depthwise.weight.copy_(dw_weight.reshape(depthwise.weight.shape))
    pointwise.weight.copy_(pw_weight.permute(1, 0, 2).reshape(pointwise.weight.shape))
    if layer.bias is not None:
        pointwise.bias.copy_(layer.bias)
    return nn.Sequential(OrderedDict(depthwise=depthwise, pointwise=pointwise)).to(
        layer.weight.device, layer.weight.dtype
    )


def conv_costs(module: nn.Module, example: torch.Tensor) -> dict[str, dict[str, int]]:
    """Per-sample MACs and params of every Conv1d/Conv2d, from one forward pass with hooks."""
    costs: dict[str, dict[str, int]] = {}

    def hook(name: str):
        def record(layer: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
            per_position = (layer.in_channels // layer.groups) * math.prod(layer.kernel_size)
            macs = output[0].numel() * per_position
            costs[name] = {
                "macs": costs.get(name, {}).get("macs", 0) + macs,
                "params": sum(p.numel() for p in layer.parameters(recurse=False)),
            }

        return record

    handles = [m.register_forward_hook(hook(n)) for n, m in module.named_modules() if type(m) in _CONVS]
    try:
        run_example(module, example[:1], "dw_separable")
    finally:
        for h in handles:
            h.remove()
    return costs


def _replace(root: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, attr = name.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, attr, new)


def _report(chosen, layers, before, after, cfg) -> dict[str, Any]:
    sub_before = sum(p["macs_before"] for p in chosen)
    sub_after = sum(p["macs_after"] for p in chosen)
    conv_before = sum(c["macs"] for c in before.values())
    conv_after = sum(c["macs"] for c in after.values())
    return {
        "substituted": len(chosen),
        "candidates": len(layers),
        "skipped": [p["layer"] for p in layers if p not in chosen],
        "layers": chosen,
        "substituted_macs_before": sub_before,
        "substituted_macs_after": sub_after,
        "substituted_mac_reduction": round(sub_before / sub_after, 3) if sub_after else None,
        "conv_macs_before": conv_before,
        "conv_macs_after": conv_after,
        "conv_mac_ratio": round(conv_after / conv_before, 4) if conv_before else None,
        "params_before": sum(p["params_before"] for p in chosen),
        "params_after": sum(p["params_after"] for p in chosen),
    }


def _check(original: ModelSpec, new: ModelSpec, *, exact: bool, tolerance: float) -> dict[str, Any]:
    """Output error vs the input model; when every substitution is exact it must be within tolerance."""
    x = original.example_input(2, seed=1)
    with torch.no_grad():
        err = measure_fidelity(original.module(x).numpy(), new.module(x).numpy()).to_dict()
    if exact and err["max_rel_error"] > tolerance:
        raise InternalError(
            f"dw_separable: exact substitution changed {original.name}'s outputs by "
            f"{err['max_rel_error']:.2e} relative (tolerance {tolerance:g}); please report this model"
        )
    return {**err, "exact": exact, "tolerance": tolerance if exact else None}


def _short(names: list[str], n: int = 8) -> str:
    return ", ".join(names[:n]) + (f" ... ({len(names)} in all)" if len(names) > n else "") if names else "none"
