"""TensorRT backend: runs a serialized engine on the GPU it was built for (TensorRT 10/11 tensor API).

Device buffers are PyTorch CUDA tensors (PyTorch with CUDA is on every machine that has a GPU here), so no
extra CUDA binding is needed; inputs are copied in, `execute_async_v3` runs on a PyTorch stream, and the
outputs are copied back as numpy arrays.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from edgecnn.errors import DeviceUnavailableError, InvalidInputError, require
from edgecnn.runtime.base import SessionBase, SessionOptions, feed


class TensorRTSession(SessionBase):
    backend = "tensorrt"

    def __init__(self, path: str | Path, options: SessionOptions) -> None:
        trt = require("tensorrt", extra="tensorrt", why="needed to run TensorRT engines")
        import torch

        if not torch.cuda.is_available():
            raise DeviceUnavailableError("TensorRT engines need a CUDA GPU and none is available here")
        path = Path(path)
        device = options.device if options.device.startswith("cuda") else "cuda"
        self._torch, self._trt = torch, trt
        self.device = torch.device(device)
        torch.cuda.set_device(self.device)
        self._runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        self._engine = self._runtime.deserialize_cuda_engine(path.read_bytes())
        if self._engine is None:
            raise InvalidInputError(
                f"TensorRT cannot load {path}: built by another TensorRT version or for another GPU? "
                f"{_built_with(path)}"
            )
        self._context = self._engine.create_execution_context()
        self._stream = torch.cuda.Stream(self.device)
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        is_input = {n: self._engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT for n in names}
        self.input_names = [n for n in names if is_input[n]]
        self.output_names = [n for n in names if not is_input[n]]
        # static dims as ints, dynamic ones (-1 in TensorRT) as None, like the other sessions
        self.input_shapes = [
            [d if d >= 0 else None for d in self._engine.get_tensor_shape(n)] for n in self.input_names
        ]
        self._dtypes = {n: np.dtype(trt.nptype(self._engine.get_tensor_dtype(n))) for n in names}
        self.options = options
        self.path = path

    def run(self, inputs: np.ndarray | dict[str, np.ndarray]) -> list[np.ndarray]:
        if self._context is None:
            raise InvalidInputError("this TensorRT session is closed")
        torch = self._torch
        keep = []  # device tensors must outlive the asynchronous execution
        for name, value in feed(self.input_names, inputs).items():
            array = np.ascontiguousarray(value, dtype=self._dtypes[name])
            if not self._context.set_input_shape(name, tuple(array.shape)):
                raise InvalidInputError(
                    f"input '{name}' of shape {array.shape} is outside the engine's optimization profile"
                )
            tensor = torch.from_numpy(array).to(self.device, non_blocking=False)
            self._context.set_tensor_address(name, tensor.data_ptr())
            keep.append(tensor)
        outputs = []
        for name in self.output_names:
            shape = tuple(self._context.get_tensor_shape(name))
            tensor = torch.empty(shape, dtype=_torch_dtype(torch, self._dtypes[name]), device=self.device)
            self._context.set_tensor_address(name, tensor.data_ptr())
            outputs.append(tensor)
        if not self._context.execute_async_v3(self._stream.cuda_stream):
            raise InvalidInputError("TensorRT failed to run the engine (see the TensorRT log)")
        self._stream.synchronize()
        return [t.cpu().numpy() for t in outputs]

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "version": self._trt.__version__,
            "device": str(self.device),
            "gpu": self._torch.cuda.get_device_name(self.device),
            "built_with": _built_with(self.path),
        }

    def close(self) -> None:
        # context before engine before runtime: the reverse of their creation
        self._context = None
        self._engine = None
        self._runtime = None


class TensorRTBackend:
    name = "tensorrt"

    def load(self, artifact: Any, options: SessionOptions) -> TensorRTSession:
        return TensorRTSession(getattr(artifact, "path", artifact), options)


def _built_with(path: Path) -> dict[str, Any] | None:
    meta = path.with_name(path.name + ".json")
    return json.loads(meta.read_text()) if meta.exists() else None


def _torch_dtype(torch: Any, dtype: np.dtype) -> Any:
    return torch.from_numpy(np.zeros(1, dtype=dtype)).dtype
