"""Recipe validation: shipped recipes validate and dry-run; broken ones name the field and line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from edgecnn.errors import InvalidInputError
from edgecnn.pipeline.build import build_recipe
from edgecnn.pipeline.recipe import load_recipe, recipe_json_schema
from edgecnn.pipeline.shipped import shipped_recipes

REQUIRED = {
    "mobilenet_v2-int8-tensorrt",
    "mobilenet_v2-int8-onnxruntime",
    "mobilenet_v3_large-int8-openvino",
    "efficientnet_b0-fp16-cuda",
    "efficientnet_b0-int8-openvino",
    "resnet18-prune30-int8-onnxruntime",
    "resnet50-dwsep-distill-int8-openvino",
    "smallcnn-all-passes-arm",
    "smallcnn-int8-onnxruntime",  # .ci/wheel-check runs it from an installed wheel
}


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "edgecnn.cli.main", *args], capture_output=True, text=True, timeout=300
    )


def test_required_recipes_are_shipped():
    assert REQUIRED <= set(shipped_recipes())


def test_top_level_recipes_mirror_the_package_data():
    """recipes/ (for people browsing the repository) is a copy of edgecnn/recipes/, which the wheel ships."""
    top = Path(__file__).resolve().parents[2] / "recipes"
    shipped = {p.name: p for p in shipped_recipes().values()}
    assert sorted(p.name for p in top.glob("*.yaml")) == sorted(shipped)
    for name, path in shipped.items():
        assert (top / name).read_bytes() == path.read_bytes(), f"recipes/{name} differs from edgecnn/recipes/{name}"


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_shipped_recipe_validates_and_round_trips(name):
    recipe = load_recipe(shipped_recipes()[name])
    assert recipe.name == name
    assert load_recipe(yaml.safe_load(recipe.to_yaml())) == recipe


def test_every_shipped_recipe_dry_runs_through_the_cli():
    for name in shipped_recipes():
        proc = cli("optimize", "--recipe", name, "--dry-run")
        assert proc.returncode == 0, proc.stderr
        assert yaml.safe_load(proc.stdout)["name"] == name


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "model:\n  name: m\nsteps:\n  - type: fold_bn\n  - type: quantise\n",
            ":5: steps[1]: unknown step type 'quantise'. Did you mean: quantize",
        ),
        ("model:\n  name: m\nsteps:\n  - type: quantize\n    precision: int4\n", ":5: steps[0].precision"),
        ("model:\n  name: m\nsteps:\n  - type: quantize\n    bits: 8\n", "unknown key(s) bits for step 'quantize'"),
        ("steps: []\n", "model: required field is missing"),
        ("model:\n  name: m\n  wieghts: random\n", ":3: model.wieghts: unknown key"),
        ("model:\n  name: m\nprofile:\n  threads: two\n", ":4: profile.threads"),
        ("model:\n  name: m\ntarget: tpu\n", ":3: target"),
        ("model: [unclosed\n", "not valid YAML"),
    ],
)
def test_broken_recipe_names_the_field_and_line(tmp_path, text, expected):
    path = tmp_path / "r.yaml"
    path.write_text(text)
    with pytest.raises(InvalidInputError) as err:
        load_recipe(path)
    assert expected in str(err.value)


def test_broken_recipe_is_one_line_exit_2_on_the_cli(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  name: mobilenet_v2\nsteps:\n  - type: prune\n    ratio: lots\n")
    proc = cli("optimize", "--recipe", str(path), "--dry-run")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "bad.yaml:5: steps[0].ratio" in proc.stderr


def test_flags_build_the_same_recipe_and_override_a_recipe():
    recipe = build_recipe("mobilenet_v2", int8=True, prune=0.3, target="openvino")
    assert [s.type for s in recipe.steps] == ["prune", "fold_bn", "quantize"]
    assert recipe.target == "openvino"
    shipped = shipped_recipes()["mobilenet_v2-int8-onnxruntime"]
    over = build_recipe(None, recipe=shipped, target="arm", device="tcp://127.0.0.1:1", fold_bn=False)
    assert over.target == "arm" and over.device == "tcp://127.0.0.1:1"
    assert "fold_bn" not in [s.type for s in over.steps]
    assert over.gates.min_speedup == 1.5  # untouched fields come from the recipe


def test_json_schema_lists_every_step_type_and_forbids_unknown_keys():
    schema = recipe_json_schema()
    steps = schema["properties"]["steps"]["items"]["oneOf"]
    assert {s["properties"]["type"]["const"] for s in steps} >= {
        "fold_bn",
        "dw_separable",
        "distill",
        "prune",
        "quantize",
    }
    assert all(s["additionalProperties"] is False for s in steps)
    proc = cli("recipes", "--schema")
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["properties"]["target"]


def test_dry_run_prints_the_recipe_without_running(tmp_path):
    proc = cli("optimize", "mobilenet_v2", "--int8", "--target", "tensorrt", "--dry-run", "--out", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stderr
    data = yaml.safe_load(proc.stdout)
    assert data["target"] == "tensorrt" and data["steps"][-1] == {"type": "quantize", **data["steps"][-1]}
    assert not (tmp_path / "o").exists()


def test_steps_are_typed_configs_with_their_stage():
    from edgecnn.passes.configs import PruneConfig
    from edgecnn.quant.config import AdvancedQuantization, QuantizeStep

    recipe = load_recipe(
        {"model": {"name": "m"}, "steps": [{"type": "prune", "ratio": 0.5}, {"type": "quantize", "equalize": True}]}
    )
    prune, quant = recipe.steps
    assert isinstance(prune, PruneConfig) and prune.stage == "torch" and prune.ratio == 0.5
    assert isinstance(quant, QuantizeStep) and quant.stage == "onnx"
    assert quant.advanced == AdvancedQuantization(equalize=True) and quant.settings.precision == "int8"
    assert recipe.torch_steps == [prune] and recipe.onnx_steps == [quant]


def test_recipe_loading_and_the_schema_stay_torch_free():
    code = (
        "import sys\nfrom edgecnn.pipeline.recipe import load_recipe, recipe_json_schema\n"
        "from edgecnn.pipeline.shipped import shipped_recipes\n"
        "[load_recipe(p) for p in shipped_recipes().values()]\nrecipe_json_schema()\n"
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_schema_lists_the_registered_targets():
    from edgecnn.targets import TARGETS

    assert recipe_json_schema()["properties"]["target"]["enum"] == TARGETS.names()
