"""Memory a deployed model costs: file size, weight bytes, and the resident memory a session adds.

Torch-free (the device agent uses it); weight bytes of an ONNX file need the `onnx` package, which the
agent does not have, so there it reports null.
"""

from __future__ import annotations

import contextlib
import resource
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_ELEM_BYTES = {
    1: 4,
    2: 1,
    3: 1,
    4: 2,
    5: 2,
    6: 4,
    7: 8,
    9: 1,
    10: 2,
    11: 8,
    12: 4,
    13: 8,
    16: 2,
}  # onnx TensorProto types


def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM) so the next reading covers only what follows."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def rss_bytes() -> int | None:
    kib = _status_kib("VmRSS")
    return kib * 1024 if kib is not None else None


def peak_rss_bytes() -> int:
    """Peak resident memory of this process (VmHWM; ru_maxrss where /proc is missing)."""
    kib = _status_kib("VmHWM")
    if kib is None:
        kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // (1024 if sys.platform == "darwin" else 1)
    return kib * 1024


@contextlib.contextmanager
def track_peak_rss() -> Iterator[dict[str, Any]]:
    """Measure the peak resident memory a block adds (e.g. loading a session and its first runs).

    Yields a dict filled on exit: `session_peak_rss_bytes` (peak during the block minus resident
    memory before it) and `process_peak_rss_bytes`. Where the peak counter cannot be reset the delta is
    against the process-wide peak and `scope` says so.
    """
    before = rss_bytes() or 0
    scoped = _reset_peak_rss()
    out: dict[str, Any] = {}
    try:
        yield out
    finally:
        peak = peak_rss_bytes()
        out.update(
            {
                "session_peak_rss_bytes": max(0, peak - before),
                "process_peak_rss_bytes": peak,
                "scope": "block" if scoped else "process",
            }
        )


def file_bytes(path: str | Path) -> int | None:
    """Size on disk of a model, including OpenVINO's .bin and ONNX external data next to it."""
    path = Path(path)
    if not path.exists():
        return None
    files = [path]
    if path.suffix == ".xml":
        files.append(path.with_suffix(".bin"))
    files.append(path.with_name(path.name + ".data"))
    return sum(p.stat().st_size for p in files if p.exists())


def onnx_weight_bytes(path: str | Path) -> int | None:
    """Bytes of the initializers (weights, biases, quantization params) in an ONNX model; None without onnx."""
    try:
        import onnx
    except ImportError:
        return None
    model = onnx.load(str(path), load_external_data=False)
    total = 0
    for init in model.graph.initializer:
        n = 1
        for d in init.dims:
            n *= d
        total += n * _ELEM_BYTES.get(init.data_type, 4)
    return total


def torch_weight_bytes(module: Any) -> int:
    """Bytes of an nn.Module's parameters and buffers."""
    tensors = list(module.parameters()) + list(module.buffers())
    return int(sum(t.numel() * t.element_size() for t in tensors))


def weight_bytes(model: Any) -> int | None:
    """Weight bytes of an Artifact/path (ONNX, OpenVINO) or a ModelSpec / nn.Module."""
    module = getattr(model, "module", None) or (model if hasattr(model, "parameters") else None)
    if module is not None:
        return torch_weight_bytes(module)
    path = Path(getattr(model, "path", model))
    if path.suffix == ".onnx":
        return onnx_weight_bytes(path)
    if path.suffix == ".xml" and path.with_suffix(".bin").exists():
        return path.with_suffix(".bin").stat().st_size  # OpenVINO keeps all constants in the .bin
    return None
