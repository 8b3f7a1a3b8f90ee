"""passes: the torch-stage steps, registered from their configs (`edgecnn.passes.configs`)."""

from edgecnn.passes.base import PASSES
from edgecnn.passes.configs import TORCH_STEPS

for _config in TORCH_STEPS:
    PASSES.add(_config.step_type(), _config.implementation)
