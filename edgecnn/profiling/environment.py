"""Environment fingerprint: what a latency number depends on (CPU and flags, cores, GPU, library versions)."""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
from typing import Any

_FLAGS = (
    "avx2",
    "avx512f",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_int8",
    "amx_bf16",
    "fma",
    "neon",
    "asimd",
    "asimddp",
    "sve",
    "i8mm",
)
_PACKAGES = (
    "edgecnn",
    "torch",
    "torchvision",
    "onnx",
    "onnxruntime",
    "onnxruntime-gpu",
    "openvino",
    "nncf",
    "tensorrt",
    "numpy",
)


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


@functools.lru_cache(maxsize=1)
def microarch() -> dict[str, Any] | None:
    """archspec's microarchitecture of this CPU: name ("neoverse_n1", "icelake"), vendor, generation.

    On ARM Linux /proc/cpuinfo has no model name, so "cpu" falls back to "aarch64"; this tells the machines
    apart. The vendor is "generic" when archspec does not know the CPU (the name is then an ISA level).
    """
    try:
        import archspec.cpu  # not on the torch-free device agent (numpy + onnxruntime only): no name there
    except ImportError:
        return None
    try:
        host = archspec.cpu.host()
    except Exception:  # archspec probes /proc, sysctl or the registry: a machine it cannot read has no name
        return None
    return {"name": host.name, "vendor": host.vendor, "generation": host.generation}


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


_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "KMP_AFFINITY", "OMP_WAIT_POLICY")


def physical_cores() -> int:
    """Physical cores (not hyper-threads): the default thread count of every timing run."""
    cores: set[tuple[str, str]] = set()
    try:
        with open("/proc/cpuinfo") as fh:
            phys = core = ""
            for line in fh:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "physical id":
                    phys = value.strip()
                elif key == "core id":
                    core = value.strip()
                    cores.add((phys, core))
    except OSError:
        pass
    logical = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(len(cores) or logical, logical))


def _gpus() -> list[dict[str, str]] | None:
    """NVIDIA GPUs and driver from nvidia-smi (no torch needed); None when there is none."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return None
    try:
        out = subprocess.run(
            [smi, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    gpus = [
        dict(zip(("name", "driver", "memory"), (f.strip() for f in line.split(","))))
        for line in out.splitlines()
        if line.strip()
    ]
    return gpus or None


def emulated() -> str | None:
    """ "qemu" when this process runs under QEMU user-mode emulation (its timings are not latency).

    QEMU user mode hides itself from the guest's uname; the launcher's QEMU_* environment is the tell.
    """
    if any(os.environ.get(v) for v in ("QEMU_CPU", "QEMU_LD_PREFIX", "EDGECNN_EMULATED")):
        return os.environ.get("EDGECNN_EMULATED") or "qemu"
    return None


def fingerprint(*, threads: int | None = None) -> dict[str, Any]:
    """A JSON-able description of this machine; never imports torch or a backend."""
    model, flags = _cpuinfo()
    return {
        "cpu": model,
        "arch": platform.machine(),
        "microarch": microarch(),
        "flags": flags,
        "cores": os.cpu_count(),
        "physical_cores": physical_cores(),
        "memory_gib": _memory_gib(),
        "gpu": _gpus(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": _versions(),
        "threads": threads,
        "thread_env": {v: os.environ[v] for v in _THREAD_VARS if v in os.environ},
        "emulated": emulated(),
    }


def machine_key(fp: dict[str, Any] | None = None) -> str:
    """A short stable hash of what a peak measurement depends on (CPU, flags, cores, runtime versions)."""
    fp = fp or fingerprint()
    basis = {k: fp.get(k) for k in ("cpu", "arch", "flags", "cores", "memory_gib")}
    basis["versions"] = {k: (fp.get("versions") or {}).get(k) for k in ("onnxruntime", "openvino")}
    return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:16]
