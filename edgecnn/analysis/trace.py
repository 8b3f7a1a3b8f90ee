"""Walk a model's layer calls in execution order on a real input, recording what `inspect` reports.

Preferred: torch.fx symbolic tracing + an interpreter, which sees the whole graph (residual adds,
concatenations, SE multiplications, functional convs) so the receptive field is exact and activation
liveness is known. Fallback when fx cannot trace (data-dependent control flow): forward hooks on the
leaf modules, which see module calls only; the receptive field through functional ops is then an
estimate and the memory figure a lower bound (the caller says so).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import fx, nn

from edgecnn.analysis.geometry import Geometry, function_geometry, module_geometry
from edgecnn.analysis.macs import function_macs, layer_macs
from edgecnn.analysis.receptive import Field, merge
from edgecnn.errors import InvalidInputError, first_line

log = logging.getLogger("edgecnn.analysis")


@dataclass
class Call:
    """One layer call as observed on the real forward pass."""

    name: str
    type: str
    inputs: list[str]
    input_shapes: list[tuple[int, ...]]
    output_shape: tuple[int, ...] | None
    geometry: Geometry | None
    expected_spatial: tuple[int, ...] | None
    field: Field | None
    params: int
    macs: int


@dataclass
class Walk:
    calls: list[Call]
    peak_activation_bytes: int
    method: str  # "fx" or "hooks"
    outputs: list[tuple[int, ...]]
    notes: list[str] = field(default_factory=list)


def tensors_of(value: Any) -> list[torch.Tensor]:
    """The tensors in a value (a tensor, or nested lists, tuples and dicts), in order."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in tensors_of(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in tensors_of(v)]
    return []


def _check_not_empty(name: str, type_: str, geometry: Geometry, x: torch.Tensor) -> tuple[int, ...] | None:
    """The predicted output size; an empty one is the user's input being too small, named by layer."""
    spatial = tuple(x.shape[2:])
    if geometry.ndim != len(spatial):
        return None
    expected = geometry.expected(spatial)
    if min(expected, default=1) < 1:
        window = (
            f"k={_fmt(geometry.kernel)} s={_fmt(geometry.stride)} "
            f"p={_fmt(geometry.padding)} d={_fmt(geometry.dilation)}"
        )
        raise InvalidInputError(
            f"input too small: layer '{name}' ({type_}, {window}) receives a {'x'.join(map(str, spatial))} feature map "
            f"and its output would be {'x'.join(str(max(v, 0)) for v in expected)} (empty); use a larger input size"
        )
    return expected


def _for_input(geometry: Geometry | None, x: torch.Tensor | None) -> Geometry | None:
    """The geometry as shown for this input (adaptive pooling becomes its equivalent fixed window)."""
    if geometry is None or x is None or geometry.ndim != x.dim() - 2:
        return geometry
    return geometry.with_input(tuple(x.shape[2:]))


def _fmt(values: Iterable) -> str:
    values = tuple(values)
    return str(values[0]) if values and len(set(values)) == 1 else "x".join(map(str, values)) or "-"


def _next_field(
    geometry: Geometry | None,
    x: torch.Tensor | None,
    out: torch.Tensor | None,
    in_fields: list[tuple[torch.Tensor, Field]],
) -> Field | None:
    """Move the receptive field from the inputs of a call to its output."""
    if not in_fields or out is None:
        return None
    if x is None:
        x, _ = in_fields[0]
    ndim = x.dim() - 2
    if geometry is not None:
        base = next((f for t, f in in_fields if t is x), in_fields[0][1])
        if geometry.ndim != base.ndim or ndim != base.ndim:
            return None
        return geometry.move(base, tuple(x.shape[2:]), tuple(out.shape[2:]))
    same_grid = next((f for t, f in in_fields if tuple(t.shape[2:]) == tuple(out.shape[2:])), None)
    merged = merge([f for _, f in in_fields], jump_from=same_grid)
    if ndim == merged.ndim and ndim > 0 and (out.dim() < x.dim() or _global_keepdim(x, out)):
        # flatten, global mean (keepdim or not), view (N, -1): every output sees the whole map
        return merged.collapsed(tuple(x.shape[2:]))
    if out.dim() == x.dim() and ndim == merged.ndim and same_grid is None and x.dim() > 2:
        return merged.resampled(tuple(x.shape[2:]), tuple(out.shape[2:]))
    return merged


def _global_keepdim(x: torch.Tensor, out: torch.Tensor) -> bool:
    """A reduction to 1x1 that keeps the rank, e.g. `x.mean((2, 3), keepdim=True)` in a hand-written SE block."""
    return out.dim() == x.dim() and all(n == 1 for n in out.shape[2:]) and any(n > 1 for n in x.shape[2:])


def _storages(value: Any) -> list[tuple[int, int]]:
    return [(t.untyped_storage().data_ptr(), t.untyped_storage().nbytes()) for t in tensors_of(value)]


def _peak_bytes(steps: list[list[tuple[int, int]]], last_use: list[int]) -> int:
    """Largest total size of live activation storages over the execution (views and in-place ops share one)."""
    end: dict[int, int] = {}
    size: dict[int, int] = {}
    for i, storages in enumerate(steps):
        for ptr, nbytes in storages:
            end[ptr] = max(end.get(ptr, i), last_use[i])
            size[ptr] = nbytes
    live: dict[int, int] = {}
    peak = 0
    for i, storages in enumerate(steps):
        for ptr, _ in storages:
            live[ptr] = size[ptr]
        peak = max(peak, sum(live.values()))
        for ptr in [p for p in live if end[p] <= i]:
            del live[ptr]
    return peak


class _Recorder(fx.Interpreter):
    def __init__(self, gm: fx.GraphModule) -> None:
        # keep every value alive so storage addresses are never reused (aliasing is read from them)
        super().__init__(gm, garbage_collect_values=False)
        # errors propagate as raised: fx would append node dumps to the message and load torch._dynamo's logging
        self.extra_traceback = False
        self.calls: list[Call] = []
        self.fields: dict[fx.Node, Field] = {}
        self.label: dict[fx.Node, str] = {}
        self.steps: list[list[tuple[int, int]]] = []
        self.order: list[fx.Node] = []
        self.seen_modules: set[int] = set()
        self.pending_params: dict[fx.Node, int] = {}

    def run_node(self, n: fx.Node) -> Any:
        if n.op in ("call_module", "call_function", "call_method"):
            return self._record(n)
        result = super().run_node(n)
        if n.op == "placeholder" and isinstance(result, torch.Tensor):
            self.fields[n] = Field.at_input(result.dim() - 2)
            self.label[n] = n.name
            self._step(n, result)
        elif n.op == "get_attr" and isinstance(result, nn.Parameter):
            self.pending_params[n] = result.numel()
        return result

    def _step(self, n: fx.Node, result: Any) -> None:
        self.order.append(n)
        self.steps.append(_storages(result))

    def _record(self, n: fx.Node) -> Any:
        args, kwargs = self.fetch_args_kwargs_from_env(n)
        module = self.module.get_submodule(n.target) if n.op == "call_module" else None
        x = next(iter(tensors_of(args)), None)
        if module is not None:
            type_, geometry = type(module).__name__, module_geometry(module, x)
        elif n.op == "call_method":
            type_, geometry = str(n.target), None
        else:
            type_ = getattr(n.target, "__name__", str(n.target))
            geometry = function_geometry(n.target, args, kwargs)
        name = str(n.target) if module is not None else n.name
        expected = _check_not_empty(name, type_, geometry, x) if geometry is not None and x is not None else None
        result = super().run_node(n)
        outs = tensors_of(result)
        if not outs:  # sizes, ints, Python values: not a layer
            return result
        self._step(n, result)
        producers = [p for p in n.all_input_nodes if p in self.label]
        in_fields = [
            (self.env[p], self.fields[p])
            for p in producers
            if p in self.fields and isinstance(self.env[p], torch.Tensor)
        ]
        new_field = _next_field(geometry, x, outs[0], in_fields)
        if new_field is not None:
            self.fields[n] = new_field
        self.label[n] = name
        if module is not None:
            params = 0 if id(module) in self.seen_modules else sum(p.numel() for p in module.parameters())
            self.seen_modules.add(id(module))
            macs = layer_macs(module, [tuple(t.shape) for t in tensors_of((args, kwargs))], tuple(outs[0].shape))
        else:
            params = sum(self.pending_params.pop(p, 0) for p in n.all_input_nodes)
            macs = function_macs(n.target, args, kwargs, result)
        self.calls.append(
            Call(
                name=name,
                type=type_,
                inputs=[self.label[p] for p in producers],
                input_shapes=[tuple(self.env[p].shape) for p in producers if isinstance(self.env[p], torch.Tensor)],
                output_shape=tuple(outs[0].shape),
                geometry=_for_input(geometry, x),
                expected_spatial=expected,
                field=self.fields.get(n),
                params=params,
                macs=macs,
            )
        )
        return result


def walk_fx(gm: fx.GraphModule, x: torch.Tensor) -> Walk:
    recorder = _Recorder(gm)
    out = recorder.run(x)
    position = {n: i for i, n in enumerate(recorder.order)}
    last_use = []
    for n in recorder.order:
        users = [position[u] for u in n.users if u in position]
        # the model's outputs stay alive to the end
        last_use.append(
            len(recorder.order) if any(u.op == "output" for u in n.users) else max(users, default=position[n])
        )
    peak = _peak_bytes(recorder.steps, last_use)
    return Walk(recorder.calls, peak, "fx", [tuple(t.shape) for t in tensors_of(out)])


def _leaves(module: nn.Module) -> list[tuple[str, nn.Module]]:
    leaves = [(name, m) for name, m in module.named_modules() if not any(True for _ in m.children())]
    return leaves or [("", module)]


def walk_hooks(module: nn.Module, x: torch.Tensor) -> Walk:
    """Leaf-module calls only; a call whose input came from a functional op continues the latest field."""
    calls: list[Call] = []
    produced: dict[int, tuple[str, Field | None]] = {id(x): ("input", Field.at_input(x.dim() - 2))}
    keep: list[Any] = [x]  # hold outputs so tensor ids are not reused
    seen: set[int] = set()
    expected_of: dict[int, tuple[int, ...] | None] = {}
    history: list[tuple[tuple[int, ...], Field]] = [(tuple(x.shape[2:]), Field.at_input(x.dim() - 2))]
    peak = [x.numel() * x.element_size()]

    def pre_hook(name: str):
        def hook(mod: nn.Module, args: tuple) -> None:
            inp = next(iter(tensors_of(args)), None)
            geometry = module_geometry(mod, inp)
            if geometry is not None and inp is not None:
                expected_of[id(mod)] = _check_not_empty(name, type(mod).__name__, geometry, inp)

        return hook

    def post_hook(name: str):
        def hook(mod: nn.Module, args: tuple, output: Any) -> None:
            ins = tensors_of(args)
            outs = tensors_of(output)
            if not outs:
                return
            keep.append(output)
            inp = ins[0] if ins else None
            known = [produced[id(t)] for t in ins if id(t) in produced]
            in_fields = [(t, produced[id(t)][1]) for t in ins if id(t) in produced and produced[id(t)][1] is not None]
            if inp is not None and not in_fields:  # produced by a functional op the hooks did not see:
                in_fields = [
                    (inp, _latest_on_grid(history, tuple(inp.shape[2:])))
                ]  # continue the latest same-grid field
            geometry = module_geometry(mod, inp)
            new_field = _next_field(geometry, inp, outs[0], in_fields)
            if new_field is not None:
                history.append((tuple(outs[0].shape[2:]), new_field))
            for t in outs:
                produced[id(t)] = (name, new_field)
            params = 0 if id(mod) in seen else sum(p.numel() for p in mod.parameters())
            seen.add(id(mod))
            peak[0] = max(peak[0], sum(t.numel() * t.element_size() for t in ins + outs))
            calls.append(
                Call(
                    name=name,
                    type=type(mod).__name__,
                    inputs=[k for k, _ in known],
                    input_shapes=[tuple(t.shape) for t in ins],
                    output_shape=tuple(outs[0].shape),
                    geometry=_for_input(geometry, inp),
                    expected_spatial=expected_of.pop(id(mod), None),
                    field=new_field,
                    params=params,
                    macs=layer_macs(mod, [tuple(t.shape) for t in ins], tuple(outs[0].shape)),
                )
            )

        return hook

    handles = []
    for name, leaf in _leaves(module):
        handles.append(leaf.register_forward_pre_hook(pre_hook(name)))
        handles.append(leaf.register_forward_hook(post_hook(name)))
    try:
        out = module(x)
    finally:
        for h in handles:
            h.remove()
    return Walk(calls, peak[0], "hooks", [tuple(t.shape) for t in tensors_of(out)])


def _latest_on_grid(history: list[tuple[tuple[int, ...], Field]], grid: tuple[int, ...]) -> Field:
    return next((f for g, f in reversed(history) if g == grid), history[-1][1])


def walk(module: nn.Module, x: torch.Tensor) -> Walk:
    """fx when it can trace and run the model, forward hooks otherwise (the returned Walk says which and why).

    Run it inside `edgecnn.analysis.probe.analysis_mode(module)` (eval, no autograd, one thread).

    A RuntimeError while running (wrong channel count, rank...) is the input not fitting the model.
    """
    try:
        gm = fx.symbolic_trace(module)
    except Exception as exc:  # fx raises many kinds (TraceError, TypeError, control flow on proxies...)
        return _fallback(module, x, f"torch.fx could not trace the model ({type(exc).__name__}: {_first_line(exc)})")
    try:
        return _guarded(walk_fx, gm, x)
    except InvalidInputError:
        raise
    except Exception as exc:  # a graph that traced but does not run (e.g. Python values frozen by tracing)
        return _fallback(
            module, x, f"the torch.fx graph of the model failed to run ({type(exc).__name__}: {_first_line(exc)})"
        )


def _fallback(module: nn.Module, x: torch.Tensor, reason: str) -> Walk:
    log.info("%s: %s; falling back to forward hooks", type(module).__name__, reason)
    result = _guarded(walk_hooks, module, x)
    result.notes.append(
        f"{reason}: layers are the leaf modules seen by forward hooks, receptive fields through "
        "functional ops are estimates and peak memory is a lower bound"
    )
    return result


def _guarded(fn, module: nn.Module, x: torch.Tensor) -> Walk:
    try:
        return fn(module, x)
    except RuntimeError as exc:
        raise InvalidInputError(
            f"the model cannot run on an input of shape {tuple(x.shape)}: {_first_line(exc)}"
        ) from None


def _first_line(exc: BaseException) -> str:
    return first_line(exc)
