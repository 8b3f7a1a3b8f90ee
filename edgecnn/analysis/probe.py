"""Run a model once on a random batch for analysis, on one thread, turning shape errors into user errors."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from edgecnn.errors import InvalidInputError

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn


@contextlib.contextmanager
def analysis_mode(module: nn.Module) -> Iterator[None]:
    """Eval mode, no autograd, one intra-op thread; restores all three.

    An analysis pass is tiny, shape-only work: on a busy machine a multi-threaded first pass through
    freshly created kernels measured 80x slower (5.6 s vs 0.07 s for EfficientNet-B0 at 64x64).
    """
    import torch

    threads = torch.get_num_threads()
    was_training = module.training
    torch.set_num_threads(1)
    module.eval()
    try:
        with torch.inference_mode():
            yield
    finally:
        module.train(was_training)
        torch.set_num_threads(threads)


def run_forward(module: nn.Module, shape: tuple[int, ...], *, seed: int = 0) -> Any:
    """Forward a random tensor of `shape` through `module` in analysis mode."""
    import torch

    device = next((t.device for t in (*module.parameters(), *module.buffers())), torch.device("cpu"))
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed)).to(device)
    with analysis_mode(module):
        try:
            return module(x)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InvalidInputError(
                f"the model cannot run on an input of shape {tuple(shape)}: {first[:200]}"
            ) from None
