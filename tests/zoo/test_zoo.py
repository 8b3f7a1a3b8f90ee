"""Every zoo model builds, runs and inspects; torchvision models match their published size and cost."""

from __future__ import annotations

import pytest
import torch

from edgecnn.analysis.inspect import inspect_model
from edgecnn.analysis.probe import analysis_mode
from edgecnn.analysis.summary import count_params_macs
from edgecnn.analysis.trace import walk_hooks
from edgecnn.errors import InvalidInputError, UnknownNameError
from edgecnn.zoo import MODELS, load_model
from edgecnn.zoo.loader import RANDOM_WEIGHTS_NOTE

REQUIRED = {
    "mobilenet_v2",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "efficientnet_b0",
    "efficientnet_b1",
    "efficientnet_b2",
    "efficientnet_b3",
    "resnet18",
    "resnet34",
    "resnet50",
    "vgg11_bn",
    "alexnet",
    "lenet5",
    "smallcnn",
    "resblock_net",
    "tcn1d",
}


def _published(name: str) -> tuple[int, float]:
    """(params, GMACs) from torchvision's weight metadata (it names MACs "_ops", in giga)."""
    import torchvision

    meta = torchvision.models.get_model_weights(name).DEFAULT.meta
    return meta["num_params"], meta["_ops"]


def test_the_zoo_has_the_required_models():
    assert REQUIRED <= set(MODELS.names())


# building VGG-11 / AlexNet is mostly initialising 133M / 61M random weights (several seconds each)
_BIG = {"vgg11_bn", "alexnet"}


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in _BIG else n for n in sorted(REQUIRED)]
)
def test_builds_runs_and_inspects_on_a_small_input(name):
    spec = load_model(name, weights="random")
    entry = MODELS.get(name)
    # small inputs keep this fast; 64x64 still passes every torchvision downsampling stage
    shape = (1, 3, 64, 64) if entry.source == "torchvision" else spec.input.shape
    with analysis_mode(spec.module):  # one thread: on a busy 2-core machine two threads ran 80x slower
        out = spec.module(torch.randn(shape))
    assert out.shape == (1, entry.num_classes) and torch.isfinite(out).all()
    assert spec.weights == "random" and RANDOM_WEIGHTS_NOTE in spec.notes
    result = inspect_model(spec, input_shape=shape)
    assert result.method == "fx" and result.mismatches == []
    assert result.outputs == [[1, entry.num_classes]]
    assert (
        result.totals.params
        == sum(p.numel() for p in spec.module.parameters())
        == sum(layer.params for layer in result.layers)
    )
    # the graph walk and plain forward hooks are independent observations of the same layer calls
    with analysis_mode(spec.module):
        hooked = walk_hooks(spec.module, torch.randn(shape))
    assert result.totals.macs == sum(call.macs for call in hooked.calls) > 0
    assert all(layer.receptive_field for layer in result.layers if layer.type.startswith("Conv"))
    if entry.source == "torchvision":
        assert result.totals.params == _published(name)[0]


@pytest.mark.parametrize(("name", "params", "gmacs"), [("resnet50", 25.6e6, 4.1), ("mobilenet_v2", 3.5e6, 0.30)])
def test_published_numbers_at_224(name, params, gmacs):
    result = inspect_model(load_model(name, weights="random"))
    assert result.input.shape == (1, 3, 224, 224)
    assert result.totals.params == pytest.approx(params, rel=0.01)
    assert result.totals.macs / 1e9 == pytest.approx(gmacs, rel=0.01)
    assert result.totals.macs / 1e9 == pytest.approx(_published(name)[1], abs=0.0005)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(n for n in REQUIRED if MODELS.get(n).source == "torchvision"))
def test_every_torchvision_model_matches_published_macs_at_its_default_input(name):
    params, macs = count_params_macs(load_model(name, weights="random"))
    published_params, published_gmacs = _published(name)
    assert params == published_params
    assert macs / 1e9 == pytest.approx(published_gmacs, abs=0.0005)


def test_unknown_model_lists_close_matches():
    with pytest.raises(UnknownNameError, match="Did you mean: mobilenet_v2"):
        load_model("mobilenetv2")


def test_corrupt_weights_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "smallcnn.pth"
    bad.write_bytes(b"this is not a checkpoint" * 10)
    with pytest.raises(InvalidInputError, match="cannot read weights file .*corrupt or not a PyTorch state dict"):
        load_model("smallcnn", weights=str(bad))


def test_state_dict_for_another_architecture_names_the_keys(tmp_path):
    path = tmp_path / "lenet.pth"
    torch.save(load_model("lenet5", weights="random").module.state_dict(), path)
    with pytest.raises(
        InvalidInputError,
        match=r"do not fit SmallCNN: missing keys: stem\.0\.weight.*unexpected keys: features\.0\.weight",
    ):
        load_model("smallcnn", weights=str(path))


def test_weights_file_round_trip(tmp_path):
    spec = load_model("smallcnn", weights="random")
    path = tmp_path / "smallcnn.pth"
    torch.save(spec.module.state_dict(), path)
    again = load_model(str(path), arch="smallcnn")
    assert again.weights == "file" and again.sha256 and not again.notes
    x = spec.example_input()
    with torch.inference_mode():
        assert torch.equal(spec.module(x), again.module(x))


def test_factory_path_and_torchscript_file(tmp_path):
    spec = load_model("edgecnn.zoo.small:SmallCNN", input_shape=(1, 3, 32, 32))
    assert inspect_model(spec).totals.params == 94122
    path = tmp_path / "smallcnn.pt"
    torch.jit.save(torch.jit.trace(spec.module, spec.example_input()), str(path))
    scripted = load_model(str(path), input_shape=(1, 3, 32, 32))
    result = inspect_model(scripted)
    assert result.method == "opaque" and result.totals.params == 94122 and result.outputs == [[1, 10]]


def _offline(monkeypatch):
    import urllib.error

    def refuse(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)


def test_pretrained_offline_says_how_to_pass_a_local_file(monkeypatch):
    from edgecnn.errors import UserError

    _offline(monkeypatch)
    with pytest.raises(
        UserError,
        match=r"could not get pretrained weights for resnet18 .*Offline\? "
        r"Download https://\S+resnet18\S+\.pth .*--weights FILE",
    ):
        load_model("resnet18", weights="pretrained")


def test_auto_weights_offline_fall_back_to_random_loudly(monkeypatch, caplog):
    _offline(monkeypatch)
    with caplog.at_level("WARNING", logger="edgecnn.zoo"):
        spec = load_model("mobilenet_v3_small")
    assert spec.weights == "random" and RANDOM_WEIGHTS_NOTE in spec.notes
    assert "using RANDOM weights" in caplog.text


def test_family_aliases_resolve_to_their_documented_default():
    from edgecnn.zoo.registry import ALIASES, MODELS, aliases_of, resolve_name

    assert ALIASES == {
        "mobilenet": "mobilenet_v2",
        "efficientnet": "efficientnet_b0",
        "resnet": "resnet18",
        "vgg": "vgg11_bn",
    }
    assert all(target in MODELS and alias not in MODELS for alias, target in ALIASES.items())
    assert resolve_name("mobilenet") == "mobilenet_v2" and resolve_name("resnet50") == "resnet50"
    assert resolve_name("pkg.mod:factory") == "pkg.mod:factory"
    assert aliases_of("mobilenet_v2") == ["mobilenet"] and aliases_of("resnet50") == []


def test_load_model_by_family_announces_its_choice_and_names_the_member(caplog):
    with caplog.at_level("INFO", logger="edgecnn"):
        spec = load_model("resnet", weights="random")
    assert spec.name == "resnet18" and spec.source == "zoo:resnet18" and spec.family == "resnet"
    assert caplog.text.count("resnet -> resnet18 (the family's default)") == 1


def test_arch_may_be_a_family_alias(tmp_path):
    import torch

    path = tmp_path / "r18.pth"
    torch.save(load_model("resnet18", weights="random").module.state_dict(), path)
    assert load_model(path, arch="resnet").name == "resnet18"


def test_unknown_model_suggests_a_family_alias():
    with pytest.raises(UnknownNameError, match="Did you mean: mobilenet"):
        load_model("mobilnet")
