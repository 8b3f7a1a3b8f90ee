"""Environment fingerprint: what a latency number depends on (CPU and flags, cores, GPU, library versions)."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from typing import Any

_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16", "fma", "neon", "asimd", "asimddp", "sve", "i8mm")
_PACKAGES = ("edgecnn", "torch", "torchvision", "onnx", "onnxruntime", "onnxruntime-gpu", "openvino", "nncf", "tensorrt", "numpy")


def _cpuinfo() -> tuple[str, list[str]]:
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key in ("model name", "hardware", "cpu model") and value.strip():
                    model = value.strip()
                elif key in ("flags", "features"):
                    flags.update(value.split())
    except OSError:
        pass
    return model, sorted(f for f in _FLAGS if f in flags)


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for pkg in _PACKAGES:
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def _memory_gib() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def fingerprint(*, threads: int | None = None) -> dict[str, Any]:
    """A JSON-able description of this machine; never imports torch or a backend."""
    model, flags = _cpuinfo()
    return {
        "cpu": model,
        "arch": platform.machine(),
        "flags": flags,
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "gpu": None,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": _versions(),
        "threads": threads,
    }
