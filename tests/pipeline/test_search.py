"""`edgecnn search` on a digits-trained smallcnn: the front, its reproducible YAML, resume after Ctrl-C, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("optuna")

FAST_PROFILE = {"min_iters": 20, "min_seconds": 0.2, "rounds": 2, "warmup": 3}
SPACE = {
    "float_layers": [0, 2],
    "calibration": ["minmax"],
    "bias_correction": [False],
    "prune": [0.0, 0.25],
    "round_to": [8],
    "distill_epochs": 1,
}


@pytest.fixture(scope="module")
def digits_files(digits_smallcnn, tmp_path_factory):
    """The trained smallcnn as a weights file and its data as files: a recipe can name them (a YAML reproduces)."""
    import torch

    spec, train, test = digits_smallcnn
    d = tmp_path_factory.mktemp("digits")
    torch.save(spec.module.state_dict(), d / "smallcnn.pt")
    np.save(d / "calib.npy", train.x[:128])
    np.savez(d / "eval.npz", x=test.x[:200], y=test.y[:200])
    return d


def recipe(d, trials: int, **search) -> dict:
    return {
        "model": {"name": "smallcnn", "weights": str(d / "smallcnn.pt")},
        "data": {"calib": str(d / "calib.npy"), "eval": str(d / "eval.npz")},
        "profile": {**FAST_PROFILE, "threads": 1},
        "search": {"max_latency": "1.5x", "max_drop": 2.0, "trials": trials, "space": SPACE, **search},
    }


def test_search_writes_a_front_whose_chosen_yaml_reproduces_the_artifact(digits_files, tmp_path):
    import edgecnn
    from edgecnn.pipeline.recipe import load_recipe
    from edgecnn.pipeline.runner import run_recipe

    out = tmp_path / "search"
    result = edgecnn.search(recipe=recipe(digits_files, 3), out_dir=out)
    data = json.loads((out / "search.json").read_text())
    assert {"search.md", "pareto.png", "chosen.yaml", "study.journal"} <= {p.name for p in out.iterdir()}
    assert (out / "bundle" / "manifest.json").is_file()
    assert data["trials"][0]["params"]["precision"] == "int8"  # the plain int8 point goes first
    built = [t for t in data["trials"] if not t["cached"]]
    assert len(built) == 3 and len({t["recipe"] for t in built}) == 3  # no recipe built twice
    assert result.front and result.chosen is result.front[0]
    for row in result.front:  # every front point is within both budgets, measured
        assert row["feasible"] and row["latency_ratio"] <= 1.5 and row["accuracy_drop"] <= 2.0
    assert result.chosen["latency_ratio"] == min(r["latency_ratio"] for r in result.front)
    assert result.reference["delivered"] in ("int8", "fp32")
    assert "**chosen**" in (out / "search.md").read_text()

    again = run_recipe(load_recipe(out / "chosen.yaml"), out_dir=tmp_path / "again")  # `optimize --recipe`
    sha = next(a["sha256"] for a in again.report["artifacts"] if a["role"] == "optimized")
    assert sha == result.chosen["sha256"], "the chosen point's YAML did not rebuild the same artifact"


def test_an_interrupted_search_resumes_without_repeating_a_trial(digits_files, tmp_path, monkeypatch):
    import edgecnn
    from edgecnn.pipeline import search as search_module

    real = search_module.run_recipe
    built: list[str] = []

    def interrupt_second(rec, *, out_dir, **kw):
        if out_dir.parent.name == "trials" and len([b for b in built if b != "reference"]) == 1:
            # Ctrl-C during the second trial's build
            built.append("interrupted")
            raise KeyboardInterrupt
        built.append(out_dir.name)
        return real(rec, out_dir=out_dir, **kw)

    monkeypatch.setattr(search_module, "run_recipe", interrupt_second)
    out = tmp_path / "search"
    with pytest.raises(KeyboardInterrupt):
        edgecnn.search(recipe=recipe(digits_files, 3), out_dir=out)
    first = json.loads((out / "search.json").read_text())  # written on the way out
    assert [t["state"] for t in first["trials"]] == ["complete", "fail"]
    interrupted = first["trials"][1]

    edgecnn.search(recipe=recipe(digits_files, 3), out_dir=out)
    data = json.loads((out / "search.json").read_text())
    assert data["trials"][2]["params"] == interrupted["params"]  # the interrupted point runs first on resume
    assert data["trials"][0]["sha256"] and data["trials"][0] == first["trials"][0]  # kept, not re-run
    trials = [b for b in built if b not in ("reference", "interrupted")]
    assert len(trials) == len(set(trials)) == 3, built  # each recipe built once across both invocations


def test_a_parallel_search_on_ray_never_overlaps_timings_and_resumes_after_ctrl_c(digits_files, tmp_path, monkeypatch):
    """--parallel 2 on the in-process Ray: two trials build at once, each timing holds the node alone; Ctrl-C
    with trials in flight, then the same command resumes and runs them again first."""
    import edgecnn
    from edgecnn.pipeline import search as search_module

    pytest.importorskip("ray")
    real, calls = search_module._Search._conclude, []

    def ctrl_c_at_the_second_result(self, *args):
        calls.append(args)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, *args)

    monkeypatch.setattr(search_module._Search, "_conclude", ctrl_c_at_the_second_result)
    out = tmp_path / "search"
    with pytest.raises(KeyboardInterrupt):
        edgecnn.search(recipe=recipe(digits_files, 4), parallel=2, out_dir=out)
    monkeypatch.undo()
    first = json.loads((out / "search.json").read_text())  # written on the way out
    assert first["trials"][0]["params"]["precision"] == "int8" and first["trials"][0]["state"] != "fail"
    interrupted = [t["params"] for t in first["trials"] if t["state"] == "fail"]
    assert interrupted, first["trials"]

    edgecnn.search(recipe=recipe(digits_files, 4), parallel=2, out_dir=out)
    data = json.loads((out / "search.json").read_text())
    trials = data["trials"]
    assert trials[0] == first["trials"][0]  # kept, not re-run
    resumed = trials[len(first["trials"]) :]
    assert [t["params"] for t in resumed[: len(interrupted)]] == interrupted  # run again first
    done = [t for t in trials if not t["cached"] and t["state"] in ("complete", "pruned")]
    assert len(done) == 4 and len({t["recipe"] for t in done}) == 4  # no recipe built twice
    assert data["front"]
    builds = sorted((t["task"]["start"], t["task"]["end"]) for t in resumed if t["task"])
    assert any(b[0] < a[1] for a, b in zip(builds, builds[1:])), builds  # two built at once: the holds mattered
    for t in (t for t in done if t["state"] == "complete"):  # its folder came back through Ray's object store
        report = json.loads((out / "trials" / t["recipe"] / "report.json").read_text())
        assert str(tmp_path) in json.dumps(report["artifacts"]) and "edgecnn-trial-" not in json.dumps(report)
    spans = [(s["start"], s["end"], s["resource"]) for t in trials for s in t["timings"]]
    spans += [(s["start"], s["end"], s["resource"]) for s in data["reference"]["timings"]]
    assert len({r for *_, r in spans}) == 1 and spans[0][2].startswith("timing:")  # one node: one resource
    spans.sort()
    assert len(spans) >= 4 and all(b[0] >= a[1] for a, b in zip(spans, spans[1:])), spans  # never overlapped


def test_without_ray_a_search_with_an_address_says_how_to_install_it(monkeypatch, tmp_path):
    import edgecnn
    from edgecnn.errors import UserError

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(UserError, match=r'pip install "edgecnn\[distributed\]"'):
        edgecnn.search("lenet5", address="auto", out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()  # refused before any work


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edgecnn.cli.main", "search", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )


@pytest.mark.parametrize(
    "args,message",
    [
        (["smallcnn", "--max-latency", "fast"], "latency budget 'fast'"),
        (["smallcnn", "--time", "5 minutes"], "time budget '5 minutes'"),
        (["no_such_model", "--max-latency", "0.5x"], "no_such_model"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path):
    proc = cli(*args, "--out", str(tmp_path / "out"), "--trials", "1")
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]  # after the progress log lines, one error line
    assert last.startswith("error:") and message in last, proc.stderr


def test_without_optuna_search_says_how_to_install_it(monkeypatch):
    import edgecnn
    from edgecnn.errors import UserError

    monkeypatch.setitem(sys.modules, "optuna", None)  # `import optuna` raises ImportError
    with pytest.raises(UserError, match=r"pip install 'edgecnn\[search\]'"):
        edgecnn.search("smallcnn")


def test_the_recipe_search_section_is_validated():
    from edgecnn.errors import InvalidInputError
    from edgecnn.pipeline.recipe import load_recipe

    rec = load_recipe({"model": {"name": "smallcnn"}, "search": {"max_latency": "2.5ms", "space": {"prune": [0.5]}}})
    assert rec.search.space.prune == [0.5] and rec.search.trials == 20
    with pytest.raises(InvalidInputError, match="prune"):
        load_recipe({"model": {"name": "smallcnn"}, "search": {"space": {"prune": [1.5]}}})
    with pytest.raises(InvalidInputError, match="unknown|extra|not permitted"):
        load_recipe({"model": {"name": "smallcnn"}, "search": {"budget": 1}})
