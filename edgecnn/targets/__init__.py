"""The targets: each one registered object that knows its int8 profile, what to export, how to compile for it,
which backend runs it, and what can be measured here and why not. Code asks the target; it never branches on
a target's name.

Core: imports nothing of edgecnn but other core modules. Exporters are reached through the lazy `CONVERTERS`
registry ("package.module:attr" strings, resolved on first use, like `edgecnn.runtime.BACKENDS`), never
imported from here. Adding a target is one class (see `base.Target`) and one line below.
"""

from __future__ import annotations

from edgecnn.errors import InvalidInputError, UnknownNameError, close_matches
from edgecnn.registry import Registry
from edgecnn.targets.base import (
    CONVERTERS,
    PROFILES,
    ROUTES,
    S8S8_SYMMETRIC,
    U8S8,
    Compiled,
    QuantProfile,
    Target,
    Validation,
)

TARGETS: Registry[Target] = Registry("target")
TARGETS.add("onnxruntime", "edgecnn.targets.onnxruntime:TARGET")
TARGETS.add("openvino", "edgecnn.targets.openvino:TARGET")
TARGETS.add("tensorrt", "edgecnn.targets.tensorrt:TARGET")
TARGETS.add("cuda", "edgecnn.targets.cuda:TARGET")
TARGETS.add("arm", "edgecnn.targets.arm:TARGET")

# PyTorch eager, the float reference: profiled like a target, never compiled for (not in TARGETS)
_REFERENCE: Registry[Target] = Registry("target")
_REFERENCE.add("torch", "edgecnn.targets.torch:TARGET")


def get_target(name: str, *, reference: bool = False) -> Target:
    """The registered target `name`; with `reference`, also "torch" (PyTorch eager, the float reference)."""
    if reference and name in _REFERENCE:
        return _REFERENCE.get(name)
    if reference and name not in TARGETS:
        names = sorted([*TARGETS.names(), *_REFERENCE.names()])
        raise UnknownNameError(f"unknown target '{name}'.{close_matches(name, names)} Available: {', '.join(names)}")
    return TARGETS.get(name)


def all_targets(*, reference: bool = False) -> list[Target]:
    names = TARGETS.names()
    return [get_target(n) for n in names] + ([_REFERENCE.get(n) for n in _REFERENCE.names()] if reference else [])


def target_for_format(model_format: str | None) -> Target | None:
    """The target a model file of `model_format` means when none is named (.onnx: onnxruntime, .xml: openvino)."""
    return next((t for t in all_targets(reference=True) if model_format in t.default_for_formats), None)


def agent_target(name: str | None) -> Target:
    """The target of a model run through the device agent: `name` (None or "remote": the remote-device target)."""
    runnable = [t for t in all_targets() if t.runs_on_agent]
    if name is None or name == "remote":
        return next(t for t in runnable if t.device == "remote")
    found = next((t for t in runnable if t.name == name), None)
    if found is None:
        listed = [t.name for t in runnable]
        raise InvalidInputError(
            f"on a remote device the target is {', '.join(listed[:-1])} or {listed[-1]}, not '{name}'"
        )
    return found


__all__ = [
    "CONVERTERS",
    "ROUTES",
    "PROFILES",
    "S8S8_SYMMETRIC",
    "TARGETS",
    "U8S8",
    "Compiled",
    "QuantProfile",
    "Target",
    "Validation",
    "agent_target",
    "all_targets",
    "get_target",
    "target_for_format",
]
