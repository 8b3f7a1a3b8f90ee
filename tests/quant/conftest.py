"""The quantization tests' own model, `tiny_dw_*`: a random depthwise-separable net with uneven channels.

The digits-trained LeNet these tests also use is `digits_lenet` from tests/conftest.py.
"""

from __future__ import annotations

import numpy as np
import pytest


def _tiny_dw_module():
    from torch import nn

    class Tiny(nn.Module):
        """conv -> relu -> depthwise -> relu -> pointwise -> relu -> pool -> linear: every CLE pair kind."""

        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 8, 3, padding=1),
                nn.BatchNorm2d(8),
                nn.ReLU(),
                nn.Conv2d(8, 8, 3, padding=1, groups=8),
                nn.BatchNorm2d(8),
                nn.ReLU(),
                nn.Conv2d(8, 16, 1),
                nn.ReLU(),
            )
            self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))

        def forward(self, x):
            return self.head(self.features(x))

    return Tiny


@pytest.fixture(scope="session")
def tiny_dw_spec():
    """A random-weight depthwise-separable model at 3x16x16, with channel ranges made deliberately uneven."""
    import torch

    from edgecnn.spec import InputSpec, ModelSpec, Preprocess

    torch.manual_seed(0)
    module = _tiny_dw_module()().eval()
    with torch.no_grad():
        scale = torch.logspace(-1.5, 1.0, 8)  # depthwise channels spanning ~30x: what CLE is for
        module.features[3].weight.mul_(scale[:, None, None, None])
        module.features[6].weight.div_(scale[None, :, None, None])  # the next layer leans on the small channels
        for bn in (module.features[1], module.features[4]):
            bn.running_mean.uniform_(-0.2, 0.2)
            bn.running_var.uniform_(0.5, 2.0)
    return ModelSpec(
        module=module, input=InputSpec((1, 3, 16, 16)), name="tiny", preprocess=Preprocess(resize=None, crop=16)
    )


@pytest.fixture(scope="session")
def tiny_dw_onnx(tiny_dw_spec, tmp_path_factory):
    """tiny_dw_spec as an fp32 ONNX Artifact (static batch 1)."""
    from edgecnn.exporters.onnx import export_onnx

    return export_onnx(tiny_dw_spec, tmp_path_factory.mktemp("tiny") / "tiny.onnx")


@pytest.fixture(scope="session")
def tiny_dw_calib():
    """32 seeded random calibration inputs for the tiny_dw model, (32, 3, 16, 16) float32."""
    return np.random.default_rng(0).standard_normal((32, 3, 16, 16)).astype(np.float32)
