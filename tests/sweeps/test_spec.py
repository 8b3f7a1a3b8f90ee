"""The sweep file: validated with line numbers, expanded into cells models x recipes x targets (x devices)."""

from pathlib import Path

import pytest

from edgecnn.errors import InvalidInputError
from edgecnn.sweeps.spec import load_sweep


def test_cells_are_models_x_recipes_x_targets_with_the_sweeps_profile(tmp_path, write_sweep):
    sweep = load_sweep(write_sweep(tmp_path, models=["lenet5", "smallcnn"], targets=["onnxruntime", "openvino"]))
    assert len(sweep.cells) == 8 and len({c.id for c in sweep.cells}) == 8
    cell = next(c for c in sweep.cells if c.id == "smallcnn--int8--openvino")
    assert (cell.recipe.model.name, cell.recipe.target, cell.recipe.profile.threads) == ("smallcnn", "openvino", 1)
    assert [s.type for s in cell.recipe.steps] == ["fold_bn", "quantize"]
    assert cell.digest == load_sweep(tmp_path / "test-sweep.yaml").cells[7].digest  # stable: --resume relies on it


def test_a_shipped_recipe_by_name_gets_each_cells_model(tmp_path):
    path = tmp_path / "s-sweep.yaml"
    path.write_text("models: [lenet5]\nrecipes: {int8: smallcnn-int8-onnxruntime}\ntargets: [onnxruntime]\n")
    (cell,) = load_sweep(path).cells
    assert cell.recipe.model.name == "lenet5" and cell.id == "lenet5--int8--onnxruntime"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("models: [lenet5]\nrecipes: {a: {steps: []}}\ntargets: [onnxruntime]\nfoo: 1\n", ":4: foo: unknown key"),
        ("models: [lenet5]\nrecipes: {a: {steps: []}}\ntargets:\n  - tpu\n", ":3: targets: unknown target(s) tpu"),
        ("models: [lenet5]\nrecipes:\n  a: {stepz: []}\ntargets: [onnxruntime]\n", ":3: recipes.a with model lenet5"),
        ("models: [lenet5]\nrecipes: {a: {steps: []}}\ntargets: [arm]\n", ":3: target arm runs on a device agent"),
        ("models: [lenet5]\nrecipes: {a: nope-recipe}\ntargets: [onnxruntime]\n", ":2: no recipe file or shipped"),
    ],
)
def test_a_mistake_is_one_line_naming_the_file_line_and_field(tmp_path, text, expected):
    path = tmp_path / "bad-sweep.yaml"
    path.write_text(text)
    with pytest.raises(InvalidInputError) as info:
        load_sweep(path)
    assert f"{path}{expected}" in str(info.value) and "\n" not in str(info.value)


def test_a_device_target_gets_one_cell_per_agent(tmp_path, write_sweep):
    devices = {"pi-a": {"address": "tcp://127.0.0.1:7001"}, "pi-b": {"address": "tcp://127.0.0.1:7002"}}
    sweep = load_sweep(write_sweep(tmp_path, recipes=["fp32"], targets=["onnxruntime", "arm"], devices=devices))
    assert [c.id for c in sweep.cells] == [
        "lenet5--fp32--onnxruntime",
        "lenet5--fp32--arm--pi-a",
        "lenet5--fp32--arm--pi-b",
    ]
    assert sweep.cells[2].recipe.device == "tcp://127.0.0.1:7002" and sweep.devices["pi-a"] == "tcp://127.0.0.1:7001"


@pytest.mark.parametrize("path", sorted((Path(__file__).parents[2] / "benchmarks" / "sweeps").glob("*sweep*.yaml")))
def test_the_shipped_sweep_files_load(path):
    assert load_sweep(path).cells
