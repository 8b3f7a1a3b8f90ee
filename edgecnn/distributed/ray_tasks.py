"""The Ray task layer: start or join a cluster, run a callable as a task whose timings hold their hardware.

Ray (`pip install "edgecnn[distributed]"`) does the scheduling, retries and data movement; this module adds only
what Ray has no notion of: a latency measurement must have its host (or device agent) to itself, while the CPU
work around it (export, calibration, QAT) runs in parallel. Each node declares a custom resource
`timing:<node>` with capacity 1, each device agent a resource `device:<name>`; a timing acquires its resource by
creating a placeholder actor that needs it (Ray queues the actor until the resource is free) and releases it
by killing the actor. An actor, not a placement group: it dies with the worker that owns it, so a task killed
mid-timing never leaves its host locked.

`submit(fn, *args)` is what a sweep cell or a search trial goes through: the task yields `(value, timings)`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from edgecnn.distributed.holds import recording
from edgecnn.errors import UserError, require

PARALLEL_HINT = 'pip install "edgecnn[distributed]" to run them in parallel on Ray (this machine\'s cores or a cluster)'
TIMING_PREFIX = "timing:"
DEVICE_PREFIX = "device:"


def import_ray() -> Any:
    return require("ray", extra="distributed", why="sweeps and searches run their tasks on Ray")


def ray_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("ray") is not None


def host_name() -> str:
    """This machine's name in resource names (`timing:<host>`) and records."""
    return socket.gethostname().split(".")[0] or "localhost"


@contextlib.contextmanager
def cluster(address: str | None = None, *, devices: Iterable[str] = (), num_cpus: int | None = None) -> Iterator[Any]:
    """Ray for the block: an in-process local instance with this machine's cores (`address` None), or the
    cluster at `address` ("auto", "ray://HOST:10001"). Yields the `ray` module. A Ray already initialised in
    this process (a test's cluster, a notebook) is used as it is and left running.

    The local instance declares the resources timings hold (this host's and one per device agent); a cluster
    must declare them when its nodes start (`ray start --resources='{"timing:NODE": 1}'`): checked here.
    """
    ray = import_ray()
    started = False
    if not ray.is_initialized():
        quiet = {"logging_level": logging.WARNING, "log_to_driver": False}
        if address is None:
            resources = {TIMING_PREFIX + host_name(): 1, **{DEVICE_PREFIX + d: 1 for d in devices}}
            ray.init(num_cpus=num_cpus or os.cpu_count(), resources=resources, include_dashboard=False, **quiet)
        else:
            try:
                ray.init(address=address, **quiet)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise UserError(f"cannot connect to the Ray cluster at {address}: {str(exc).splitlines()[0]}") from None
        started = True
    try:
        check_resources(ray, devices)
        yield ray
    finally:
        if started:
            ray.shutdown()


def check_resources(ray: Any, devices: Iterable[str] = ()) -> None:
    """Every node that runs tasks (has CPUs) declares a timing resource; each device agent has its resource."""
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    bare = [
        n["NodeManagerAddress"]
        for n in nodes
        if n["Resources"].get("CPU") and not any(k.startswith(TIMING_PREFIX) for k in n["Resources"])
    ]
    if bare:
        raise UserError(
            f"Ray node(s) {', '.join(bare)} declare no timing resource, so timings there could overlap: start each "
            """node with `ray start ... --resources='{"timing:NODE": 1}'` (NODE: a name of your choice)"""
        )
    declared = {k for n in nodes for k in n["Resources"]}
    missing = [d for d in devices if DEVICE_PREFIX + d not in declared]
    if missing:
        raise UserError(
            f"no Ray node declares the device resource(s) {', '.join(DEVICE_PREFIX + d for d in missing)}: start "
            """one node (any) with `ray start ... --resources='{"device:NAME": 1}'` for each device agent"""
        )


class _Holder:
    """A placeholder actor: while it lives, the resource it was created with is taken."""

    def ready(self) -> bool:
        return True


@functools.cache
def _holder_class() -> Any:
    return import_ray().remote(_Holder)


@contextlib.contextmanager
def hold_resource(resource: str) -> Iterator[None]:
    """Hold one unit of the Ray resource `resource` for the block (waits while another task holds it)."""
    ray = import_ray()
    holder = _holder_class().options(num_cpus=0, resources={resource: 1}).remote()
    try:
        ray.get(holder.ready.remote())
        yield
    finally:
        ray.kill(holder)


def node_timing_name() -> str:
    """The `<node>` of the timing resource declared by the node this task runs on."""
    ray = import_ray()
    here = ray.get_runtime_context().get_node_id()
    for node in ray.nodes():
        if node["NodeID"] == here:
            names = sorted(k for k in node["Resources"] if k.startswith(TIMING_PREFIX))
            if names:
                return names[0].removeprefix(TIMING_PREFIX)
    raise UserError(f"this Ray node ({here[:8]}) declares no timing resource (see check_resources)")


class Ledger:
    """An actor counting the attempts of each task key (Ray retries a task whose worker died)."""

    def __init__(self) -> None:
        self.attempts: dict[str, list[dict[str, Any]]] = {}

    def started(self, key: str, info: dict[str, Any]) -> None:
        self.attempts.setdefault(key, []).append(info)

    def get(self, key: str) -> list[dict[str, Any]]:
        return self.attempts.get(key, [])


def new_ledger(name: str | None = None) -> Any:
    """A Ledger actor (named, so a test or a dashboard can look at it) in this job."""
    return import_ray().remote(Ledger).options(num_cpus=0, name=name).remote()


def _task(
    fn: Callable[..., Any],
    args: tuple,
    kwargs: dict[str, Any],
    devices: dict[str, str],
    ledger: Any,
    key: str | None,
) -> tuple[Any, list[dict[str, Any]]]:
    """Runs in the worker: `fn` with every timing holding its resource; returns its value and the timings."""
    node = node_timing_name()
    if ledger is not None:
        ledger.started.remote(key, {"node": node, "pid": os.getpid(), "time": time.time()})
    with recording(node, devices, acquire=hold_resource) as records:
        value = fn(*args, **kwargs)
    return value, [r.to_dict() for r in records]


@functools.cache
def _remote_task() -> Any:
    return import_ray().remote(_task)


def submit(
    fn: Callable[..., Any],
    *args: Any,
    devices: Mapping[str, str] | None = None,
    num_cpus: float = 1,
    max_retries: int = 1,
    ledger: Any = None,
    key: str | None = None,
    **kwargs: Any,
) -> Any:
    """Run `fn(*args, **kwargs)` as a Ray task; the returned ObjectRef yields `(value, timings)`.

    `devices` maps device agent names to their tcp:// addresses (their timings hold `device:<name>`);
    `max_retries`: how often Ray re-runs the task when its worker dies (an exception raised by `fn` is not
    retried); `ledger`/`key`: record each attempt (`new_ledger`). `fn`'s value travels through Ray's object
    store, so it may carry files as bytes to a driver on another machine.
    """
    task = _remote_task().options(num_cpus=num_cpus, max_retries=max_retries, retry_exceptions=False)
    return task.remote(fn, args, kwargs, dict(devices or {}), ledger, key)
