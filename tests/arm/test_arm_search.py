"""`edgecnn search` against the aarch64 agent under QEMU: the trials are timed there (emulated: not latency)."""

from __future__ import annotations

import pytest

from tests.agent.test_search_on_agent import search_on_agent

from .conftest import TOKEN

pytest.importorskip("optuna")

pytestmark = [pytest.mark.arm, pytest.mark.slow]


def test_search_runs_on_the_emulated_arm_agent(arm_agent, digits_lenet, tmp_path):
    search_on_agent(arm_agent, digits_lenet, tmp_path, target="arm", token=TOKEN)
