"""`edgecnn.profile(artifact, ...)`: latency, memory and roofline of an artifact, side by side with its float baseline.

The baseline runs on the same backend in the same process (or on the same device agent), in
interleaved rounds (A B A B) so machine drift hits both alike; the result is read as ratios.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgecnn.artifact import Artifact, load_onnx_model
from edgecnn.errors import InvalidInputError, first_line
from edgecnn.metrics import measure_fidelity, size_ratio
from edgecnn.profiling.compare import Comparison, compare_sessions
from edgecnn.profiling.environment import fingerprint, physical_cores
from edgecnn.profiling.memory import file_bytes, track_peak_rss, weight_bytes
from edgecnn.profiling.roofline import get_peak, model_macs, roofline_entry
from edgecnn.profiling.stats import LatencyStats
from edgecnn.profiling.timing import DEFAULT_PROTOCOL, TimingProtocol, exclusive, measure
from edgecnn.runtime import load_session
from edgecnn.targets import TARGETS, Target, agent_target, all_targets, get_target, target_for_format
from edgecnn.targets.base import check_device

log = logging.getLogger("edgecnn.profile")

SCHEMA_VERSION = 1
EMULATION_NOTE = (
    "the device runs under QEMU emulation: its timings measure the emulator, not latency on real "
    "hardware; use them only to validate outputs"
)


@dataclass
class ProfileResult:
    target: str
    backend: str
    device: str
    artifact: dict[str, Any]
    optimized: LatencyStats
    baseline: LatencyStats | None = None
    comparison: Comparison | None = None  # baseline (A) vs optimized (B): ratio with its interval
    baseline_artifact: dict[str, Any] | None = None
    memory: dict[str, Any] = field(default_factory=dict)  # role -> memory dict
    roofline: dict[str, Any] = field(default_factory=dict)  # role -> roofline entry
    sessions: dict[str, Any] = field(default_factory=dict)  # role -> session.describe()
    fidelity: dict[str, Any] | None = None  # Fidelity.to_dict(): optimized vs baseline outputs on the profiling input
    protocol: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)  # the host
    device_environment: dict[str, Any] | None = None  # the remote device (agent) when there is one
    notes: list[str] = field(default_factory=list)
    outputs: dict[str, list[np.ndarray]] = field(
        default_factory=dict, repr=False
    )  # role -> outputs on the profiling input
    inputs: Any = field(default=None, repr=False)  # the profiling input, for validation against a reference

    @property
    def speedup(self) -> float | None:
        """Baseline median over optimized median (> 1: the optimized artifact is faster)."""
        if self.comparison is not None:
            return self.comparison.speedup
        return self.baseline.p50 / self.optimized.p50 if self.baseline else None

    @property
    def size_ratio(self) -> float | None:
        """Optimized file size / baseline file size (`edgecnn.metrics.size_ratio`: < 1 is smaller)."""
        return size_ratio(
            (self.memory.get("optimized") or {}).get("file_bytes"),
            (self.memory.get("baseline") or {}).get("file_bytes"),
        )

    def _side(self, role: str, stats: LatencyStats | None, *, include_times: bool) -> dict[str, Any] | None:
        if stats is None:
            return None
        d = stats.to_dict(include_times=include_times)
        d.pop("environment", None)
        return {
            **d,
            "memory": self.memory.get(role),
            "roofline": self.roofline.get(role),
            "session": self.sessions.get(role),
            "accuracy": None,
        }

    def to_dict(self, *, include_times: bool = True) -> dict[str, Any]:
        artifacts = [{"role": "optimized", **self.artifact}]
        if self.baseline_artifact:
            artifacts.append({"role": "baseline", **self.baseline_artifact})
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": "profile",
            "target": self.target,
            "backend": self.backend,
            "device": self.device,
            "protocol": self.protocol,
            "artifacts": artifacts,
            "optimized": self._side("optimized", self.optimized, include_times=include_times),
            "baseline": self._side("baseline", self.baseline, include_times=include_times),
            "speedup": self.speedup,
            "comparison": self.comparison.to_dict() if self.comparison is not None else None,
            "size_ratio": self.size_ratio,
            "fidelity": self.fidelity,
            "environment": self.environment,
            "device_environment": self.device_environment,
            "notes": list(self.notes),
        }


def _describe_model(model: Any) -> dict[str, Any]:
    if hasattr(model, "module"):
        from edgecnn.profiling.memory import torch_weight_bytes

        return {
            "path": None,
            "format": "pytorch",
            "precision": "fp32",
            "model": model.name,
            "sha256": getattr(model, "sha256", None),
            "bytes": None,
            "weight_bytes": torch_weight_bytes(model.module),
        }
    return model.to_dict()


def _as_model(obj: Any, what: str) -> Any:
    """An Artifact, a ModelSpec, or (from a path or nn.Module) one of those."""

    if isinstance(obj, (str, Path)):
        return Artifact.from_path(obj)
    if isinstance(obj, Artifact) or hasattr(obj, "module"):
        return obj
    if hasattr(obj, "parameters") and hasattr(obj, "forward"):
        raise InvalidInputError(
            f"{what}: wrap a plain nn.Module in a ModelSpec (edgecnn.spec.as_spec(module, input_shape=...))"
        )
    raise InvalidInputError(f"{what}: expected an Artifact, a model file path or a ModelSpec, got {type(obj).__name__}")


def _resolve_target(model: Any, target: str | None, device: str | None) -> tuple[Target, str, str]:
    """(Target, backend, device) from the arguments, the artifact's own target, or its format."""
    check_device(device)

    is_torch = hasattr(model, "module")
    fmt = "pytorch" if is_torch else getattr(model, "format", None)
    if device and device.startswith(("tcp://", "tls://")):
        if is_torch:
            raise InvalidInputError(
                "a remote device runs exported files (.onnx, OpenVINO .xml): export the PyTorch model first"
            )
        return agent_target(target), "remote", device
    if target is None:
        own = getattr(model, "target", None)
        target = own if own in TARGETS else None
    if target is None:
        inferred = target_for_format(fmt)
        if inferred is None:
            names = ", ".join(t.name for t in all_targets(reference=True))
            raise InvalidInputError(f"cannot infer a target for format {fmt!r}; pass target= one of {names}")
        target = inferred.name
    tgt = get_target(target, reference=True)
    backend, default_device = tgt.timing(fmt)
    if backend == "remote":
        raise InvalidInputError(
            f"target '{tgt.name}' runs through the device agent: pass device='tcp://host:port' or tls:// and a token"
        )
    if is_torch and backend != "torch":
        torch_targets = " or ".join(f"'{t.name}'" for t in all_targets(reference=True) if t.timing(fmt)[0] == "torch")
        raise InvalidInputError(f"a PyTorch model runs on target {torch_targets}, not '{tgt.name}': export it first")
    return tgt, backend, device or default_device


def _baseline_for(model: Any, baseline: Any, backend: str, workdir: Path) -> Any:
    """The float baseline as something `backend` runs: a ModelSpec becomes an fp32 ONNX file for file backends."""
    if baseline is None:
        path = (getattr(model, "provenance", None) or {}).get("baseline")
        if not path or not Path(path).exists():
            return None
        baseline = path
    baseline = _as_model(baseline, "baseline")
    if hasattr(baseline, "module") and backend not in ("torch",):
        from edgecnn.exporters.onnx import export_onnx

        log.info("exporting the PyTorch baseline to ONNX so it runs on %s like the optimized artifact", backend)
        baseline = export_onnx(baseline, workdir / "baseline_fp32.onnx", check=False)
        baseline.provenance["note"] = "exported from the PyTorch baseline for this profile only (temporary file)"
    return baseline


def _random_inputs(session: Any, model: Any, batch: int, seed: int = 0) -> np.ndarray:
    shape = None
    shapes = getattr(session, "input_shapes", None)
    if shapes:
        shape = [d if isinstance(d, int) and d > 0 else 1 for d in shapes[0]]
    elif hasattr(model, "input"):
        shape = list(model.input.shape)
    elif getattr(model, "inputs", None):
        shape = [d if isinstance(d, int) else 1 for d in model.inputs[0].get("shape", [])]
    elif getattr(model, "path", None):
        shape = _shape_from_file(Path(model.path))
    if not shape:
        raise InvalidInputError("cannot tell the model's input shape: pass inputs= (an array of the right shape)")
    shape[0] = batch
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _shape_from_file(path: Path) -> list[int] | None:
    """First input's shape read from an ONNX or OpenVINO IR file (dynamic dimensions become 1)."""
    if path.suffix == ".onnx":
        dims = load_onnx_model(path).graph.input[0].type.tensor_type.shape.dim
        return [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else 1 for d in dims]
    if path.suffix == ".xml":
        from edgecnn.errors import require

        ov = require("openvino", extra="openvino")
        try:
            inputs = ov.Core().read_model(str(path)).inputs
        except Exception as exc:  # OpenVINO raises RuntimeError subclasses for unreadable IR
            raise InvalidInputError(f"{path} is not a readable OpenVINO IR model: {first_line(exc)}") from None
        if not inputs:
            raise InvalidInputError(f"{path} is not a usable OpenVINO IR model: it has no inputs")
        return [d.get_length() if d.is_static else 1 for d in inputs[0].get_partial_shape()]
    return None


def _load(
    model: Any, backend: str, device: str, threads: int | None, precision: str | None, extra: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:

    with track_peak_rss() as rss:
        session = load_session(model, backend=backend, threads=threads, device=device, precision=precision, **extra)
    if backend == "remote":
        return session, dict(session.memory)
    return session, rss


def _interleave_rounds(
    timers: dict[str, Callable[[TimingProtocol], LatencyStats]],
    protocol: TimingProtocol,
    rounds_ms: dict[str, list[list[float]]] | None = None,
) -> dict[str, LatencyStats]:
    """A B, B A, ... rounds for timers that run a whole protocol at once (device agent, CUDA events).

    Each round's times are also appended to `rounds_ms[name]` when given (what a `Comparison` resamples).
    """
    import dataclasses

    per_round = dataclasses.replace(
        protocol,
        min_iters=max(1, protocol.min_iters // protocol.rounds),
        min_seconds=protocol.min_seconds / protocol.rounds,
        max_iters=max(1, protocol.max_iters // protocol.rounds),
    )
    merged: dict[str, LatencyStats] = {}
    names = list(timers)
    for r in range(protocol.rounds):
        for name in names if r % 2 == 0 else names[::-1]:  # alternate the order, as profiling.timing.time_rounds does
            timer = timers[name]
            stats = timer(per_round if r == 0 else dataclasses.replace(per_round, warmup=1, warmup_seconds=0.0))
            if rounds_ms is not None:
                rounds_ms.setdefault(name, []).append(list(stats.times_ms))
            if name in merged:
                merged[name].times_ms.extend(stats.times_ms)
                if stats.h2d_ms:
                    merged[name].h2d_ms = (merged[name].h2d_ms or []) + stats.h2d_ms
            else:
                stats.warmup = protocol.warmup
                merged[name] = stats
    return merged


def profile(
    artifact: Any,
    *,
    target: str | None = None,
    baseline: Any = None,
    protocol: TimingProtocol = DEFAULT_PROTOCOL,
    threads: int | None = None,
    batch: int = 1,
    inputs: np.ndarray | dict[str, np.ndarray] | None = None,
    device: str | None = None,
    token: str | None = None,
    precision: str | None = None,
    roofline: bool = True,
    channels_last: bool = False,
) -> ProfileResult:
    """Profile `artifact` on `target` (inferred from the artifact when omitted), against `baseline` when given.

    artifact / baseline: an Artifact, a model file path, or a ModelSpec (PyTorch eager). Without
    `baseline`, the artifact's provenance["baseline"] path is used when it exists.
    threads: CPU threads (default: all physical cores), reported. inputs: real data (array or dict);
    default a seeded random batch of the model's input shape with `batch` items.
    device: "cpu", "cuda[:i]", or "tcp://host:port" for a device running `edgecnn agent serve` (needs `token`).
    precision: the optimized session's runtime precision (PyTorch "fp16"/"bf16" on CUDA, OpenVINO "bf16"/"auto");
    the baseline always runs fp32. channels_last: NHWC memory format for PyTorch on CUDA.
    """

    if batch < 1:
        raise InvalidInputError(f"batch must be at least 1, got {batch}")
    model = _as_model(artifact, "artifact")
    tgt, backend, device = _resolve_target(model, target, device)
    if threads is None and backend != "remote":
        threads = physical_cores()
    if threads is not None and threads < 1:
        raise InvalidInputError(f"threads must be at least 1, got {threads}")
    extra: dict[str, Any] = {}
    if backend == "remote":
        extra = {"token": token, "remote_backend": tgt.remote_backend(getattr(model, "format", None))}
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="edgecnn-profile-") as tmp:  # holds an exported baseline, if any
        base_model = _baseline_for(model, baseline, backend, Path(tmp))
        roles = {"optimized": model, **({"baseline": base_model} if base_model is not None else {})}
        if base_model is None:
            notes.append("no float baseline given: latency reported alone, without a speed-up")
        sessions: dict[str, Any] = {}
        memory: dict[str, Any] = {}
        try:
            for role, m in roles.items():
                # a float baseline on OpenVINO must state f32: OpenVINO would otherwise pick bf16 on some CPUs
                role_precision = precision if role == "optimized" else ("fp32" if backend == "openvino" else None)
                sessions[role], memory[role] = _load(m, backend, device, threads, role_precision, extra)
                memory[role].update(
                    {
                        "file_bytes": file_bytes(m.path) if getattr(m, "path", None) else None,
                        "weight_bytes": weight_bytes(m),
                    }
                )
            x = inputs if inputs is not None else _random_inputs(sessions["optimized"], model, batch)
            first = next(iter(x.values())) if isinstance(x, dict) else x
            batch = int(np.shape(first)[0]) if np.ndim(first) else 1
            outputs: dict[str, list[np.ndarray]] = {}
            if backend != "remote":  # the first run allocates the session's buffers: count it as session memory
                from edgecnn.profiling.memory import track_peak_rss

                for role, s in sessions.items():
                    with track_peak_rss() as first_run:
                        outputs[role] = list(s.run(x))
                    memory[role]["session_peak_rss_bytes"] += first_run["session_peak_rss_bytes"]
            with exclusive(device):  # the hardware is held for the whole comparison, remote devices included
                stats, comparison, remote_outputs, device_env = _time(
                    sessions, x, protocol, backend, device, memory, channels_last
                )
            outputs = outputs or remote_outputs
            described = {r: s.describe() for r, s in sessions.items()}
        finally:
            for s in sessions.values():
                s.close()
        fidelity = None
        if "baseline" in outputs and outputs["baseline"] and outputs["optimized"]:
            fidelity = measure_fidelity(outputs["baseline"][0], outputs["optimized"][0]).to_dict()
        rl = _roofline(roles, stats, backend, threads, batch) if roofline else {}
        artifact_info = _describe_model(model)
        baseline_info = _describe_model(base_model) if base_model is not None else None
    if device_env and device_env.get("emulated"):
        notes.append(EMULATION_NOTE)
    arch = (device_env or {}).get("arch")
    if arch and tgt.device_arch and not str(arch).startswith(tgt.device_arch):
        notes.append(
            f"the device is {arch}, not {' / '.join(tgt.device_arch)}: target '{tgt.name}' names the target whose "
            f"agent ran it ({tgt.description}); the timings are this {arch} device's own"
        )
    for role, entry in rl.items():
        own = entry.get("pct_of_int8_peak" if entry["precision"] == "int8" else "pct_of_fp32_peak")
        if own and own > 100:
            notes.append(
                f"{role} runs faster than the cached peak of this machine: the peak was measured under heavier load; "
                "re-measure it with edgecnn.profiling.roofline.get_peak(backend, threads=..., refresh=True)"
            )
    for role, st in stats.items():
        lo, hi = st.median_ci()
        if st.p50 > 0 and (hi - lo) / st.p50 > 0.10:
            notes.append(
                f"{role}: the median's 95% interval is {100 * (hi - lo) / st.p50:.0f}% wide: the machine is noisy, "
                "compare the ratio rather than absolute numbers"
            )
    return ProfileResult(
        target=tgt.name,
        backend=backend,
        device=device,
        artifact=artifact_info,
        optimized=stats["optimized"],
        baseline=stats.get("baseline"),
        comparison=comparison,
        baseline_artifact=baseline_info,
        memory=memory,
        roofline=rl,
        sessions=described,
        fidelity=fidelity,
        protocol=protocol.to_dict(),
        environment=fingerprint(threads=threads),
        device_environment=device_env,
        notes=notes,
        outputs=outputs,
        inputs=x,
    )


def _time(
    sessions: dict[str, Any],
    x: Any,
    protocol: TimingProtocol,
    backend: str,
    device: str,
    memory: dict[str, Any],
    channels_last: bool,
) -> tuple[dict[str, LatencyStats], Comparison | None, dict[str, list[np.ndarray]], dict[str, Any] | None]:
    """Run the timing protocol on every session, interleaved, and compare optimized against the baseline.

    A device agent also returns its outputs on `x`.
    """
    if backend == "remote":
        results: dict[str, Any] = {}

        def remote_timer(name: str) -> Callable[[TimingProtocol], LatencyStats]:
            def timer(p: TimingProtocol) -> LatencyStats:
                stats_dict, outs, fp = sessions[name].profile(x, p)
                results[name] = (outs, fp)
                st = LatencyStats.from_dict(stats_dict)
                st.environment = fp
                return st

            return timer

        rounds: dict[str, list[list[float]]] = {}
        stats = _interleave_rounds({n: remote_timer(n) for n in sessions}, protocol, rounds)
        device_env = results["optimized"][1]
        for st in stats.values():
            st.environment = device_env
        return stats, _comparison(stats, rounds, protocol), {n: r[0] for n, r in results.items()}, device_env
    outputs: dict[str, list[np.ndarray]] = {}  # the caller ran the local sessions already
    if backend == "torch" and device.startswith("cuda"):
        from edgecnn.profiling.cuda import measure_torch_cuda

        def cuda_timer(name: str) -> Callable[[TimingProtocol], LatencyStats]:
            def timer(p: TimingProtocol) -> LatencyStats:
                st, gpu = measure_torch_cuda(sessions[name], x, p, channels_last=channels_last)
                memory[name].update(gpu)
                return st

            return timer

        rounds = {}
        stats = _interleave_rounds({n: cuda_timer(n) for n in sessions}, protocol, rounds)
        return stats, _comparison(stats, rounds, protocol), outputs, None
    if len(sessions) == 1:
        return {"optimized": measure(sessions["optimized"], x, protocol)}, None, outputs, None
    cmp = compare_sessions(
        sessions["baseline"], sessions["optimized"], x, protocol=protocol, names=("baseline", "optimized")
    )
    return {"baseline": cmp.a, "optimized": cmp.b}, cmp, outputs, None


def _comparison(
    stats: dict[str, LatencyStats], rounds: dict[str, list[list[float]]], protocol: TimingProtocol
) -> Comparison | None:
    if "baseline" not in stats:
        return None
    return Comparison.from_rounds(
        rounds["baseline"],
        rounds["optimized"],
        a=stats["baseline"],
        b=stats["optimized"],
        names=("baseline", "optimized"),
        protocol=protocol,
    )


def _roofline(
    roles: dict[str, Any], stats: dict[str, LatencyStats], backend: str, threads: int | None, batch: int
) -> dict[str, Any]:

    peak = get_peak(backend, threads=threads) if threads else None
    out = {}
    for role, m in roles.items():
        precision = "fp32" if hasattr(m, "module") else str(getattr(m, "precision", "fp32"))
        out[role] = roofline_entry(model_macs(m), stats[role].p50, batch, precision, peak)
    return out
