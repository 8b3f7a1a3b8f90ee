"""The Target base class, quantization profiles, and what a target hands back to the pipeline.

Core: imports nothing of edgecnn but other core modules (artifact, errors, registry). A target reaches the
exporters that convert an ONNX file to its own format through `CONVERTERS`, a registry of lazy
"package.module:attr" strings resolved on first use (the pattern `edgecnn.runtime.BACKENDS` uses), so the
layers above core are never imported from here, not even inside functions. Sessions are opened by the
caller: a target only says which backend, with which options, runs which artifact (`Validation`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from edgecnn.artifact import Artifact
from edgecnn.registry import Registry


@dataclass(frozen=True)
class QuantProfile:
    name: str
    activation_type: Literal["uint8", "int8"]
    activation_symmetric: bool
    weight_type: Literal["int8"] = "int8"
    weight_symmetric: bool = True
    per_channel: bool = True
    quantize_bias: bool = True  # int32 bias Q/DQ: fine for ONNX Runtime, rejected by TensorRT

    @property
    def label(self) -> str:
        return "U8S8" if self.activation_type == "uint8" else "S8S8"


# ONNX Runtime CPU (x86 VNNI, ARM): uint8 asymmetric activations, int8 symmetric per-channel weights.
U8S8 = QuantProfile("u8s8", activation_type="uint8", activation_symmetric=False)
# TensorRT explicit quantization: int8 symmetric everywhere, zero-point 0.
S8S8_SYMMETRIC = QuantProfile("s8s8_symmetric", activation_type="int8", activation_symmetric=True, quantize_bias=False)

PROFILES = {p.name: p for p in (U8S8, S8S8_SYMMETRIC)}

# ONNX file -> a target's own format, by export format. Lazy strings: targets is core and must not import exporters.
CONVERTERS: Registry[Callable[..., Artifact]] = Registry("converter")
CONVERTERS.add("openvino", "edgecnn.exporters.openvino:export_openvino")
CONVERTERS.add("tensorrt", "edgecnn.exporters.tensorrt:export_tensorrt")
# other int8 routes than edgecnn's QDQ ONNX, by name (`Target.int8_routes`): (spec, out, calib_data=) -> Artifact
ROUTES: Registry[Callable[..., Artifact]] = Registry("int8 route")
ROUTES.add("nncf", "edgecnn.exporters.openvino:nncf_quantize_openvino")

ELSEWHERE = "onnxruntime on this CPU (the target runtime is elsewhere)"


@dataclass
class Compiled:
    """What `Target.compile` returns: the deployable float baseline and optimized artifacts, and where both can
    be timed from this machine (`device`; None: they cannot be timed here, `not_done` says why and what to run)."""

    baseline: Artifact
    optimized: Artifact
    device: str | None
    notes: list[str] = field(default_factory=list)
    not_done: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Validation:
    """How to check a target's fidelity here: `load_session(artifact, backend=backend, **options)`; `where` is the
    report's description of that runtime."""

    artifact: Artifact
    backend: str
    where: str
    options: dict[str, Any] = field(default_factory=dict)


class Target:
    """A place a model is deployed to. Subclass it, set the class attributes, override what differs.

    The defaults describe a target whose model is an ONNX file timed by `backend` on `device` here and whose
    fidelity is checked with ONNX Runtime on this CPU.
    """

    name: ClassVar[str]
    quant: ClassVar[QuantProfile]  # the int8 profile that is fast there
    export_format: ClassVar[Literal["onnx", "openvino", "tensorrt"]]
    backend: ClassVar[str]  # runtime backend name in edgecnn.runtime.BACKENDS
    device: ClassVar[Literal["cpu", "cuda", "remote"]]
    description: ClassVar[str]
    # model formats that mean this target when none is named (profiling an .xml means openvino)
    default_for_formats: ClassVar[tuple[str, ...]] = ()
    # the edgecnn device agent can run this target's models (`remote_backend`: the runtime it uses there)
    runs_on_agent: ClassVar[bool] = False
    # CPU architectures (prefixes of `uname -m`) of the device this target is for; empty: any. A profile on an
    # agent of another architecture says so.
    device_arch: ClassVar[tuple[str, ...]] = ()
    # an ONNX file can be timed for this target in this process (the benchmarks time ONNX files)
    times_onnx_here: ClassVar[bool] = True
    # the runtime needs exactly `quant`'s activation format (GPU runtimes: symmetric int8); CPU runtimes run
    # both, so quantize also measures the other format and keeps the faster
    fixed_activation_format: ClassVar[bool] = False
    # keep Relu/Clip after quantized convs in the QDQ graph (TensorRT fuses them itself; ORT's quantizer drops them)
    keeps_removable_activations: ClassVar[bool] = False
    # int8 routes besides the QDQ ONNX (names in ROUTES), built from the PyTorch model and timed against it
    int8_routes: ClassVar[tuple[str, ...]] = ()

    def compile(self, baseline: Artifact, optimized: Artifact, out: Path, *, device: str | None = None) -> Compiled:
        """The target's deployable baseline and optimized artifacts (written under `out`), and where to time them."""
        return Compiled(baseline, optimized, self.device)

    def validation(self, deployable: Artifact, optimized: Artifact) -> Validation:
        """Which session checks the optimized model's outputs against the float reference on this machine."""
        return Validation(optimized, "onnxruntime", ELSEWHERE)

    def timing(self, model_format: str | None) -> tuple[str, str]:
        """(backend, default device) that time a model of `model_format` for this target."""
        return self.backend, self.device

    def remote_backend(self, model_format: str | None) -> str:
        """The runtime the device agent loads this target's model of `model_format` with."""
        return "openvino" if model_format == "openvino" else "onnxruntime"

    def quantize_as(self, precision: str) -> str:
        """The target whose quantization profile fits an artifact of `precision` timed by `timing` here."""
        return self.name

    def __repr__(self) -> str:
        return f"<Target {self.name}: {self.description}>"


def check_device(device: str | None) -> str | None:
    """Refuse a malformed `tcp://HOST:PORT` (or `tls://`) device before anything connects (other names: the
    target's call)."""
    if device is None or not device.startswith(("tcp://", "tls://")):
        return device
    from urllib.parse import urlparse

    from edgecnn.errors import InvalidInputError

    parsed = urlparse(device)
    try:
        port = parsed.port
    except ValueError:
        port = None
    if not parsed.hostname or port is None or not 1 <= port <= 65535:
        raise InvalidInputError(
            f"--device {device!r}: a remote device is tcp://HOST:PORT (or tls://HOST:PORT) with a port in 1..65535"
        )
    return device
