"""Fold eval-mode BatchNorm into the preceding Conv1d/Conv2d/Linear, found by tracing the graph (torch.fx).

Tracing (rather than module order) is what makes ResNet downsample branches, inverted residuals and
MBConv + squeeze-excitation fold correctly: a BN folds only when its input is exactly one conv/linear call
whose output feeds nothing else. Folded BNs become `nn.Identity` at the same path, so module names (and
every other layer) stay as they were. BNs that cannot fold stay in place and are listed with the reason.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

import torch
from torch import fx, nn

from edgecnn.errors import InternalError, InvalidInputError, first_line
from edgecnn.metrics import measure_fidelity
from edgecnn.passes.base import Pass, PassContext, apply_pass
from edgecnn.passes.configs import FoldBNConfig
from edgecnn.profiling.compare import compare
from edgecnn.profiling.timing import QUICK_PROTOCOL
from edgecnn.spec import ModelSpec, as_spec

log = logging.getLogger("edgecnn.passes.fold_bn")

_BN_FOR = {nn.Conv1d: nn.BatchNorm1d, nn.Conv2d: nn.BatchNorm2d, nn.Linear: nn.BatchNorm1d}


@dataclass(frozen=True)
class _Pair:
    producer: str  # qualified name of the conv / linear
    bn: str


class FoldBN(Pass):
    name = "fold_bn"
    Config = FoldBNConfig

    def run(self, spec: ModelSpec, ctx: PassContext) -> tuple[ModelSpec, dict[str, Any]]:
        original = spec.copy()  # reference for the numerical check (the base class already copied the input)
        module = spec.module
        if isinstance(module, torch.jit.ScriptModule):
            raise InvalidInputError(
                f"{spec.name}: TorchScript models cannot be transformed; load the architecture and weights instead"
            )
        pairs, unfoldable, method = find_foldable(module, spec.example_input(1))
        for pair in pairs:
            fold_pair(module.get_submodule(pair.producer), module.get_submodule(pair.bn))
            _set_submodule(module, pair.bn, nn.Identity())
        check = _check(original, spec, self.config.tolerance)
        report: dict[str, Any] = {
            "folded": len(pairs),
            "pairs": [{"layer": p.producer, "bn": p.bn} for p in pairs],
            "unfolded": unfoldable,
            "method": method,
            "check": check,
        }
        if self.config.measure_latency and pairs:
            report["latency"] = torch_latency_change(original, spec)
        log.info(
            "fold_bn: folded %d BatchNorm layers, %d left (max rel error %.2e)",
            len(pairs),
            len(unfoldable),
            check["max_rel_error"],
        )
        return spec, report


def fold_bn(
    model: Any,
    *,
    tolerance: float = 1e-4,
    measure_latency: bool = True,
    input_shape: tuple[int, ...] | None = None,
    ctx: PassContext | None = None,
    return_report: bool = False,
) -> Any:
    """Fold BatchNorm into preceding Conv1d/Conv2d/Linear layers; returns the same kind (ModelSpec or nn.Module).

    The input is not modified. A plain nn.Module needs `input_shape` (or an `input_shape` attribute; else
    (1, 3, 224, 224) is assumed) for the numerical check. With `return_report=True` returns `(model, report)`;
    the report is also appended to `ctx.reports` when a PassContext is given.
    """
    out, report = apply_with_shape(
        FoldBN(tolerance=tolerance, measure_latency=measure_latency), model, input_shape, ctx
    )
    return (out, report) if return_report else out


def apply_with_shape(
    pass_: Pass, model: Any, input_shape: tuple[int, ...] | None, ctx: PassContext | None
) -> tuple[Any, dict[str, Any]]:
    """apply_pass, with an explicit input shape for a plain nn.Module."""
    if input_shape is None or isinstance(model, ModelSpec):
        return apply_pass(pass_, model, ctx)
    out, report = apply_pass(pass_, as_spec(model, input_shape=tuple(input_shape), name=type(model).__name__), ctx)
    return out.module, report


def run_example(module: nn.Module, x: torch.Tensor, pass_name: str) -> Any:
    """One forward pass; a model that does not accept the example input is a user error, not a crash."""
    try:
        with torch.no_grad():
            return module(x)
    except (RuntimeError, ValueError, TypeError) as exc:
        raise InvalidInputError(
            f"{pass_name}: the model does not run on an input of shape {tuple(x.shape)} "
            f"({str(exc).splitlines()[0][:160]}); give the right input_shape or a ModelSpec"
        ) from None


def find_foldable(module: nn.Module, example: torch.Tensor) -> tuple[list[_Pair], list[dict[str, str]], str]:
    """(foldable pairs, unfoldable BNs with a reason, "fx" or "sequential")."""
    try:
        graph = fx.symbolic_trace(module).graph
    except Exception as exc:  # fx raises many error types on untraceable Python control flow
        log.warning(
            "fold_bn: cannot trace %s with torch.fx (%s); folding only conv->BN pairs inside nn.Sequential",
            type(module).__name__,
            first_line(exc),
        )
        return (*_sequential_pairs(module), "sequential")
    return (*_traced_pairs(module, graph, example), "fx")


def _traced_pairs(
    module: nn.Module, graph: fx.Graph, example: torch.Tensor
) -> tuple[list[_Pair], list[dict[str, str]]]:
    calls = Counter(n.target for n in graph.nodes if n.op == "call_module")
    ranks = _output_ranks(module, example)
    pairs: list[_Pair] = []
    unfoldable: list[dict[str, str]] = []
    for node in graph.nodes:
        if node.op != "call_module" or not _is_bn(module.get_submodule(node.target)):
            continue
        bn_name = str(node.target)
        reason = _why_not(module, node, calls, ranks)
        if reason:
            unfoldable.append({"bn": bn_name, "reason": reason})
        else:
            pairs.append(_Pair(str(node.args[0].target), bn_name))
    for name, sub in module.named_modules():  # BNs reached only through untraced paths are not in the graph
        if _is_bn(sub) and name not in calls:
            unfoldable.append({"bn": name, "reason": "not called in the traced graph"})
    return pairs, unfoldable


def _why_not(module: nn.Module, node: fx.Node, calls: Counter, ranks: dict[str, int]) -> str | None:
    bn = module.get_submodule(node.target)
    if calls[node.target] > 1:
        return f"the BatchNorm module is called {calls[node.target]} times"
    if bn.running_mean is None or bn.running_var is None:
        return "no running statistics (track_running_stats=False): it normalises with batch statistics"
    src = node.args[0] if node.args else None
    if not isinstance(src, fx.Node) or src.op != "call_module":
        return f"its input is {_describe(src)}, not a conv or linear layer"
    producer = module.get_submodule(src.target)
    kind = type(producer)
    if kind not in _BN_FOR:
        return f"its input is {kind.__name__} '{src.target}', not Conv1d/Conv2d/Linear"
    if not isinstance(bn, _BN_FOR[kind]):
        return f"{type(bn).__name__} cannot follow {kind.__name__}"
    if kind is nn.Linear and ranks.get(str(src.target)) != 2:
        return "Linear output is not 2-d (N, C): BatchNorm1d would normalise a different axis"
    if calls[src.target] > 1:
        return f"'{src.target}' is called {calls[src.target]} times"
    if len(src.users) > 1:
        return f"the output of '{src.target}' has {len(src.users)} consumers"
    width = producer.out_features if kind is nn.Linear else producer.out_channels
    if width != bn.num_features:
        return f"'{src.target}' has {width} outputs but the BatchNorm has {bn.num_features} features"
    return None


def _describe(src: Any) -> str:
    if not isinstance(src, fx.Node):
        return "not a tensor node"
    if src.op == "call_module":
        return f"module '{src.target}'"
    if src.op == "placeholder":
        return "the model input"
    return f"{src.op} {getattr(src.target, '__name__', src.target)}"


def _output_ranks(module: nn.Module, example: torch.Tensor) -> dict[str, int]:
    """Output rank of each Linear (a forward pass with hooks) to check a following BatchNorm1d's axis."""
    ranks: dict[str, int] = {}
    hooks = [
        sub.register_forward_hook(lambda _m, _i, out, name=name: ranks.__setitem__(name, out.dim()))
        for name, sub in module.named_modules()
        if isinstance(sub, nn.Linear)
    ]
    try:
        run_example(module, example, "fold_bn")
    finally:
        for h in hooks:
            h.remove()
    return ranks


def _sequential_pairs(module: nn.Module) -> tuple[list[_Pair], list[dict[str, str]]]:
    """Fallback for untraceable models: inside nn.Sequential a layer's output feeds only the next layer."""
    pairs: list[_Pair] = []
    paired: set[str] = set()
    for seq_name, seq in module.named_modules():
        if not isinstance(seq, nn.Sequential):
            continue
        children = list(seq.named_children())
        for (a_name, a), (b_name, b) in zip(children, children[1:]):
            if (
                type(a) in _BN_FOR
                and isinstance(b, _BN_FOR[type(a)])
                and b.running_mean is not None
                and type(a) is not nn.Linear
            ):
                prefix = f"{seq_name}." if seq_name else ""
                pairs.append(_Pair(prefix + a_name, prefix + b_name))
                paired.add(prefix + b_name)
    unfoldable = [
        {"bn": n, "reason": "model not traceable and the BN does not follow a conv inside an nn.Sequential"}
        for n, m in module.named_modules()
        if _is_bn(m) and n not in paired
    ]
    return pairs, unfoldable


def _is_bn(m: nn.Module) -> bool:
    return isinstance(m, nn.modules.batchnorm._BatchNorm)


@torch.no_grad()
def fold_pair(layer: nn.Module, bn: nn.Module) -> None:
    """W' = W * g / sqrt(var + eps) per output channel; b' = (b - mean) * g / sqrt(var + eps) + beta (in float64)."""
    weight = layer.weight.detach().double()
    scale = bn.running_var.double().add(bn.eps).rsqrt()
    if bn.weight is not None:
        scale = scale * bn.weight.detach().double()
    shift = -bn.running_mean.double() * scale
    if bn.bias is not None:
        shift = shift + bn.bias.detach().double()
    bias = layer.bias.detach().double() if layer.bias is not None else torch.zeros_like(shift)
    dtype = layer.weight.dtype
    layer.weight.copy_((weight * scale.view(-1, *([1] * (weight.dim() - 1)))).to(dtype))
    layer.bias = nn.Parameter((bias * scale + shift).to(dtype), requires_grad=layer.weight.requires_grad)


def _set_submodule(root: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, attr = name.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, attr, new)


def _check(original: ModelSpec, folded: ModelSpec, tolerance: float) -> dict[str, Any]:
    x = original.example_input(2, seed=1)
    ref = run_example(original.module, x, "fold_bn").numpy()
    with torch.no_grad():
        out = folded.module(x).numpy()
    err = measure_fidelity(ref, out).to_dict()
    if err["max_rel_error"] > tolerance:
        raise InternalError(
            f"fold_bn changed {original.name}'s outputs by {err['max_rel_error']:.2e} relative "
            f"(tolerance {tolerance:g}); please report this model"
        )
    return {**err, "tolerance": tolerance, "passed": True}


def torch_latency_change(before: ModelSpec, after: ModelSpec) -> dict[str, Any]:
    """Batch-1 PyTorch latency before/after: a quick `Comparison` (interleaved; on a noisy machine read the ratio)."""

    cmp = compare(
        before,
        after,
        before.example_input(1).numpy(),
        backend="torch",
        protocol=QUICK_PROTOCOL,
        names=("before", "after"),
    )
    return {
        "backend": "torch",
        "p50_ms_before": round(cmp.a.p50, 4),
        "p50_ms_after": round(cmp.b.p50, 4),
        "speedup": round(cmp.speedup, 3),
        "ratio_ci": [round(cmp.ci_low, 3), round(cmp.ci_high, 3)],
        "verdict": cmp.verdict(),
    }
