"""`edgecnn search` against a device agent on loopback: every trial timed by the agent, no token in any file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from .conftest import TOKEN

pytest.importorskip("optuna")


def search_on_agent(url: str, digits_lenet, tmp_path, *, target: str, token: str = TOKEN):
    """Two trials of a digits-trained lenet5 searched for `target` on the agent at `url`; returns the out dir."""
    import torch

    import edgecnn

    spec, train, test = digits_lenet
    torch.save(spec.module.state_dict(), tmp_path / "lenet5.pt")
    np.save(tmp_path / "calib.npy", train.x[:64])
    np.savez(tmp_path / "eval.npz", x=test.x[:100], y=test.y[:100])
    recipe = {
        "model": {"name": "lenet5", "weights": str(tmp_path / "lenet5.pt")},
        "data": {"calib": str(tmp_path / "calib.npy"), "eval": str(tmp_path / "eval.npz")},
        "profile": {"min_iters": 10, "min_seconds": 0.1, "rounds": 2, "warmup": 2, "threads": 1},
        "search": {
            "max_drop": 5.0,
            "trials": 2,
            "space": {"float_layers": [0], "calibration": ["minmax"], "bias_correction": [False], "prune": [0.0]},
        },
    }
    out = tmp_path / "search"
    result = edgecnn.search(recipe=recipe, target=target, device=url, token=token, out_dir=out)
    assert result.front and (out / "chosen.yaml").is_file()
    reports = [out / "reference" / "report.json", *(out / "trials").glob("*/report.json")]
    assert len(reports) == 3  # the reference and both trials (int8, fp32)
    for path in reports:
        report = json.loads(path.read_text())
        assert report["device_environment"], f"{path}: not timed by the agent"
        assert report["speedup"] is not None
    for path in out.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".yaml", ".md", ".journal"):
            assert token not in path.read_text(errors="replace"), f"the agent token reached {path}"
    return out


@pytest.mark.slow
def test_search_times_every_trial_on_the_agent(agent, digits_lenet, tmp_path):
    url, _, _ = agent
    search_on_agent(url, digits_lenet, tmp_path, target="arm")
