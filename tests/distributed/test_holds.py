"""The hold every timing takes (edgecnn.profiling.timing.exclusive) and the records of where and when it ran."""

import contextlib

import numpy as np

from edgecnn.distributed.holds import recording, resource_for
from edgecnn.profiling.timing import QUICK_PROTOCOL, exclusive, measure, set_hold, time_rounds


class _Session:
    def run(self, x):
        return [x * 2]


def test_resource_names_a_device_agent_by_its_declared_name_else_the_host():
    devices = {"pi4": "tcp://10.0.0.7:7788"}
    assert resource_for("tcp://10.0.0.7:7788", "node-a", devices) == "device:pi4"
    assert resource_for("cpu", "node-a", devices) == "timing:node-a"
    assert resource_for("cuda:0", "node-a", devices) == "timing:node-a"


def test_each_timing_is_held_once_and_recorded_and_the_hook_is_restored():
    acquired = []

    @contextlib.contextmanager
    def acquire(resource):
        acquired.append(resource)
        yield

    x = np.ones((1, 3), np.float32)
    with recording("node-a", {}, acquire=acquire) as records:
        measure(_Session(), x, QUICK_PROTOCOL)
        with exclusive("cpu"):  # nested: a profile's comparison inside its own hold takes it once
            time_rounds({"a": _Session(), "b": _Session()}, x, QUICK_PROTOCOL)
    assert acquired == ["timing:node-a", "timing:node-a"]
    assert [r.resource for r in records] == ["timing:node-a"] * 2
    assert all(r.start <= r.end for r in records) and records[0].end <= records[1].start
    assert set_hold(None) is None  # recording() put back what was there (nothing)
