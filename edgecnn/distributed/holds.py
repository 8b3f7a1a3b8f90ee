"""Where and when each latency figure was measured, and the hold a timing takes while it measures.

`edgecnn.profiling.timing.exclusive(device)` wraps every timing; `recording()` installs a hold there that names
the resource the timing needs (the host's `timing:<node>`, or a device agent's `device:<name>`), acquires it
(`acquire`: a Ray resource in a cluster; nothing when runs go one after another) and records the interval.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from edgecnn.profiling.timing import set_hold

Acquire = Callable[[str], contextlib.AbstractContextManager[Any]]


@dataclass(frozen=True)
class TimingRecord:
    """One held timing: the resource held, the node it ran on, the device string, wall-clock start and end."""

    resource: str
    node: str
    device: str
    start: float  # seconds since the epoch: comparable across the nodes of one machine or of synced clocks
    end: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resource_for(device: str, node: str, devices: Mapping[str, str]) -> str:
    """The resource a timing on `device` holds: the agent's `device:<name>` for its tcp:// (tls://) address (`devices`
    maps names to addresses), else this host's `timing:<node>` (CPU and local GPU timings alike)."""
    if device.startswith(("tcp://", "tls://")):
        name = next((n for n, address in devices.items() if address == device), device)
        return f"device:{name}"
    return f"timing:{node}"


@contextlib.contextmanager
def recording(node: str, devices: Mapping[str, str], acquire: Acquire | None = None) -> Iterator[list[TimingRecord]]:
    """Within the block every timing holds its resource (through `acquire`) and is recorded in the yielded list."""
    records: list[TimingRecord] = []

    @contextlib.contextmanager
    def hold(device: str) -> Iterator[None]:
        resource = resource_for(device, node, devices)
        with acquire(resource) if acquire else contextlib.nullcontext():
            start = time.time()
            try:
                yield
            finally:
                records.append(TimingRecord(resource, node, device, start, time.time()))

    previous = set_hold(hold)
    try:
        yield records
    finally:
        set_hold(previous)
