"""Run a model once on a random batch without autograd, turning shape errors into user errors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edgecnn.errors import InvalidInputError

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn


def run_forward(module: "nn.Module", shape: tuple[int, ...], *, seed: int = 0) -> Any:
    """Forward a random tensor of `shape` through `module` in eval mode (restoring its mode after)."""
    import torch

    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    was_training = module.training
    module.eval()
    try:
        with torch.inference_mode():
            return module(x)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidInputError(f"the model cannot run on an input of shape {tuple(shape)}: {first[:200]}") from None
    finally:
        module.train(was_training)
