"""CUDA timing: CUDA events on the stream, with host-to-device input copies timed apart from the model.

Wall-clock timing of an asynchronous GPU call measures the launch, not the work; events recorded on
the stream around the copy and around the forward pass, read after a synchronize, measure both.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from edgecnn.errors import DeviceUnavailableError, InvalidInputError
from edgecnn.profiling.stats import LatencyStats
from edgecnn.profiling.timing import DEFAULT_PROTOCOL, TimingProtocol, _warm_up, exclusive
from edgecnn.runtime.base import feed


def measure_torch_cuda(
    session: Any,
    inputs: np.ndarray | dict[str, np.ndarray],
    protocol: TimingProtocol = DEFAULT_PROTOCOL,
    *,
    channels_last: bool = False,
) -> tuple[LatencyStats, dict[str, Any]]:
    """Time a torch Session on CUDA with events: (LatencyStats with h2d_ms apart, GPU memory dict).

    `session` is an `edgecnn.runtime.torch.TorchSession` loaded with device="cuda[:i]" (its module and
    dtype are used directly so the copy and the model can be timed separately). The GPU is held
    exclusively meanwhile (`edgecnn.profiling.timing.exclusive`).
    """
    with exclusive(str(getattr(session, "device", None) or "cuda")):
        return _measure(session, inputs, protocol, channels_last=channels_last)


def _measure(
    session: Any,
    inputs: np.ndarray | dict[str, np.ndarray],
    protocol: TimingProtocol = DEFAULT_PROTOCOL,
    *,
    channels_last: bool = False,
) -> tuple[LatencyStats, dict[str, Any]]:
    import torch

    if (
        getattr(session, "backend", None) != "torch"
        or getattr(session, "device", None) is None
        or session.device.type != "cuda"
    ):
        raise InvalidInputError("measure_torch_cuda needs a torch session loaded with device='cuda'")
    if not torch.cuda.is_available():
        raise DeviceUnavailableError("no CUDA device is available to PyTorch here")
    device, dtype, module = session.device, session.dtype, session.module
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    if channels_last:
        module = module.to(memory_format=torch.channels_last)
    host = torch.from_numpy(
        np.ascontiguousarray(feed(session.input_names, inputs)[session.input_names[0]])
    ).pin_memory()
    stream = torch.cuda.current_stream(device)

    def copy_in() -> torch.Tensor:
        return host.to(device, non_blocking=True).to(dtype).contiguous(memory_format=fmt)

    def step() -> None:
        with torch.inference_mode():
            module(copy_in())

    torch.cuda.reset_peak_memory_stats(device)
    _warm_up(step, protocol)
    torch.cuda.synchronize(device)
    times, h2d = [], []
    ev = [torch.cuda.Event(enable_timing=True) for _ in range(3)]
    start = time.perf_counter()
    with torch.inference_mode():
        while len(times) < protocol.max_iters and (
            len(times) < protocol.min_iters or time.perf_counter() - start < protocol.min_seconds
        ):
            ev[0].record(stream)
            x = copy_in()
            ev[1].record(stream)
            module(x)
            ev[2].record(stream)
            ev[2].synchronize()
            h2d.append(ev[0].elapsed_time(ev[1]))
            times.append(ev[1].elapsed_time(ev[2]))
    memory = {
        "gpu_peak_allocated_bytes": int(torch.cuda.max_memory_allocated(device)),
        "gpu_peak_reserved_bytes": int(torch.cuda.max_memory_reserved(device)),
        "gpu_name": torch.cuda.get_device_name(device),
    }
    stats = LatencyStats(
        times, batch=int(host.shape[0]), warmup=protocol.warmup, threads=None, clock="cuda_event", h2d_ms=h2d
    )
    return stats, memory
