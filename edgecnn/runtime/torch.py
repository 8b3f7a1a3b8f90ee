"""PyTorch eager backend (CPU and CUDA): the usual float baseline."""

from __future__ import annotations

from typing import Any

import numpy as np

from edgecnn.errors import DeviceUnavailableError, InvalidInputError
from edgecnn.runtime.base import SessionBase, SessionOptions, feed


class TorchSession(SessionBase):
    backend = "torch"

    def __init__(self, spec: Any, options: SessionOptions) -> None:
        import torch

        if options.device.startswith("cuda") and not torch.cuda.is_available():
            raise DeviceUnavailableError("no CUDA device is available to PyTorch here")
        if options.threads:
            torch.set_num_threads(options.threads)
        self._torch = torch
        self.device = torch.device(options.device)
        self.dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(options.precision or "", torch.float32)
        self.module = spec.module.eval().to(self.device, self.dtype)
        self.options = options
        self.input_names = [spec.input.name]
        self.input_shapes = [[None, *spec.input.shape[1:]]]  # eager modules take any batch
        self.output_names = ["logits"]

    def run(self, inputs: np.ndarray | dict[str, np.ndarray]) -> list[np.ndarray]:
        x = feed(self.input_names, inputs)[self.input_names[0]]
        torch = self._torch
        with torch.inference_mode():
            try:
                y = self.module(torch.as_tensor(x).to(self.device, self.dtype))
            except RuntimeError as exc:
                raise InvalidInputError(
                    f"input of shape {tuple(x.shape)} does not fit the model: {str(exc).splitlines()[0][:200]}"
                ) from None
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return [y.float().cpu().numpy()]

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "version": self._torch.__version__,
            "device": str(self.device),
            "threads": self._torch.get_num_threads(),
            "precision": str(self.dtype).replace("torch.", ""),
        }


class TorchBackend:
    name = "torch"

    def load(self, artifact: Any, options: SessionOptions) -> TorchSession:
        return TorchSession(artifact, options)
