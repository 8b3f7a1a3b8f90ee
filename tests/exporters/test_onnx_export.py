"""ONNX export: opset, simplifiers, named IO, dynamic batch, external data, atomic writes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgecnn.errors import InvalidInputError
from edgecnn.exporters.onnx import default_opset, export_onnx
from edgecnn.runtime import load_session


@pytest.mark.parametrize("simplifier", ["onnxslim", "onnxsim", "none"])
def test_each_simplifier_gives_a_checked_model_that_matches_torch(lenet_spec, digits_1ch, tmp_path, simplifier):
    spec = lenet_spec
    art = export_onnx(spec, tmp_path / "m.onnx", simplify=simplifier, inputs=digits_1ch[1].x[:1])
    assert art.provenance["simplifier"] == simplifier
    assert art.provenance["check"]["max_rel_error"] < 1e-4
    assert art.provenance["nodes"]["final"] <= art.provenance["nodes"]["exported"]


def test_unknown_simplifier_is_a_user_error(lenet_spec, tmp_path):
    with pytest.raises(InvalidInputError, match="unknown simplifier 'magic'"):
        export_onnx(lenet_spec, tmp_path / "m.onnx", simplify="magic")


def test_default_opset_is_the_installed_exporters(lenet_spec, tmp_path):
    import onnx
    from torch.onnx import _constants

    art = export_onnx(lenet_spec, tmp_path / "m.onnx", check=False)
    assert (
        art.provenance["opset"]
        == default_opset()
        == min(_constants.ONNX_DEFAULT_OPSET, _constants.ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET)
    )
    assert onnx.load(str(art.path)).opset_import[0].version == default_opset()


def test_named_io_and_dynamic_batch(lenet_spec, digits_1ch, tmp_path):
    spec = lenet_spec
    art = export_onnx(
        spec, tmp_path / "m.onnx", dynamic_batch=True, input_names=["image"], output_names=["scores"], opset=17
    )
    session = load_session(art)
    assert session.input_names == ["image"] and session.output_names == ["scores"]
    out = session.run({"image": digits_1ch[1].x[:5]})[0]
    with torch.no_grad():
        ref = spec.module(torch.from_numpy(digits_1ch[1].x[:5])).numpy()
    assert out.shape == (5, 10)
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)


def test_external_data_goes_to_a_side_file_that_loads(lenet_spec, digits_1ch, tmp_path):
    spec = lenet_spec
    art = export_onnx(spec, tmp_path / "m.onnx", external_data=True, inputs=digits_1ch[1].x[:1])
    assert [p.name for p in art.files] == ["m.onnx", "m.onnx.data"]
    assert (tmp_path / "m.onnx").stat().st_size < 20_000 < (tmp_path / "m.onnx.data").stat().st_size
    assert art.provenance["check"]["max_rel_error"] < 1e-4
    # re-exporting without external data removes the stale side file
    art = export_onnx(spec, tmp_path / "m.onnx", external_data=False, check=False)
    assert [p.name for p in art.files] == ["m.onnx"]


class _Unexportable(torch.nn.Module):
    def forward(self, x):
        raise RuntimeError("this model fails while being traced")


def test_failed_export_keeps_the_earlier_file_and_leaves_no_temporaries(lenet_spec, tmp_path):
    spec = lenet_spec
    target = tmp_path / "m.onnx"
    export_onnx(spec, target, check=False)
    before = target.read_bytes()
    with pytest.raises(InvalidInputError, match="cannot export"):
        export_onnx(spec.replace(module=_Unexportable()), target, check=False)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]
