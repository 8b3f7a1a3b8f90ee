"""The device-agent token never reaches a file or a log: reports, bundles, --dry-run output, recipes echoed back."""

from __future__ import annotations

import json
import sys

from typer.testing import CliRunner

from edgecnn.cli.main import app
from edgecnn.pipeline.recipe import load_recipe

SECRET = "LEAKME-robustness-token-93b1"

QUICK_RECIPE = f"""
model: {{name: lenet5, weights: random}}
steps: [{{type: quantize, precision: int8}}]
token: {SECRET}
data: {{calib_size: 8}}
profile: {{warmup: 1, min_iters: 3, min_seconds: 0, rounds: 1, threads: 1}}
"""


def _grep(root, needle: str) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]


def test_the_token_is_redacted_in_every_dump_but_still_connects():
    recipe = load_recipe({"model": {"name": "lenet5"}, "token": SECRET})
    assert recipe.agent_token == SECRET
    assert SECRET not in recipe.to_yaml() and SECRET not in json.dumps(recipe.model_dump(mode="json"))
    assert SECRET not in repr(recipe) and SECRET not in str(recipe)


def test_dry_run_does_not_print_the_token(monkeypatch):
    monkeypatch.setenv("EDGECNN_AGENT_TOKEN", SECRET)
    res = CliRunner().invoke(app, ["optimize", "lenet5", "--int8", "--dry-run"])
    assert res.exit_code == 0, res.output
    assert SECRET not in res.output and "token" in res.output  # shown as '**********'
    res = CliRunner().invoke(app, ["optimize", "lenet5", "--dry-run", "--token", SECRET])
    assert res.exit_code == 0 and SECRET not in res.output


def test_a_run_writes_the_token_nowhere(tmp_path, monkeypatch, capsys):
    """Token both in the environment (read by --token) and in the recipe; local target: not needed at all."""
    from edgecnn.cli.main import run

    monkeypatch.setenv("EDGECNN_AGENT_TOKEN", SECRET)
    (tmp_path / "r.yaml").write_text(QUICK_RECIPE)
    out = tmp_path / "run"
    monkeypatch.setattr(sys, "argv", ["edgecnn", "optimize", "--recipe", str(tmp_path / "r.yaml"), "--out", str(out)])
    try:
        run()
    except SystemExit as exc:
        assert exc.code in (0, 3, None), exc.code
    stdout, stderr = capsys.readouterr()
    assert (out / "report.json").exists() and (out / "report.html").exists() and (out / "report.md").exists()
    assert (out / "bundle" / "manifest.json").exists()
    assert _grep(tmp_path / "run", SECRET) == []
    assert SECRET not in stdout and SECRET not in stderr
    assert json.loads((out / "report.json").read_text())["recipe"]["token"] == "**********"


def test_profile_results_do_not_hold_the_token(tmp_path, monkeypatch, lenet_onnx):
    monkeypatch.setenv("EDGECNN_AGENT_TOKEN", SECRET)
    out = tmp_path / "p.json"
    args = ["profile", str(lenet_onnx.path), "--min-iters", "3", "--min-seconds", "0", "--warmup", "1"]
    res = CliRunner().invoke(app, [*args, "--threads", "1", "--no-roofline", "--json", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert SECRET not in res.output and _grep(tmp_path, SECRET) == []
