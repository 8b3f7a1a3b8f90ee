"""The environment fingerprint names the CPU's microarchitecture (archspec), which /proc/cpuinfo lacks on ARM."""

from __future__ import annotations

import archspec.cpu
import pytest

from edgecnn.profiling import environment


@pytest.fixture
def fresh_microarch():
    environment.microarch.cache_clear()
    yield
    environment.microarch.cache_clear()


def test_fingerprint_carries_archspecs_name_vendor_and_generation(fresh_microarch):
    host = archspec.cpu.host()
    assert environment.fingerprint()["microarch"] == {
        "name": host.name,
        "vendor": host.vendor,
        "generation": host.generation,
    }


def test_an_arm_host_is_named_and_an_unreadable_one_is_none(fresh_microarch, monkeypatch):
    monkeypatch.setattr(archspec.cpu, "host", lambda: archspec.cpu.TARGETS["neoverse_n1"])
    assert environment.microarch() == {"name": "neoverse_n1", "vendor": "ARM", "generation": 0}
    environment.microarch.cache_clear()

    def unreadable():
        raise OSError("no /proc/cpuinfo")

    monkeypatch.setattr(archspec.cpu, "host", unreadable)
    assert environment.fingerprint()["microarch"] is None
