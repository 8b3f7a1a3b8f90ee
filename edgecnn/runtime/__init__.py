"""Backends: torch, onnxruntime, openvino, tensorrt, remote (device agent). One `load_session` for all.

    with load_session(artifact, threads=1) as session:
        logits = session.run(x)[0]

Every session is a context manager (`close()` when the block ends); outside a `with`, call `close()`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgecnn.artifact import Artifact
from edgecnn.errors import InvalidInputError
from edgecnn.runtime.base import BACKENDS, Backend, Session, SessionBase, SessionOptions

BACKENDS.add("onnxruntime", "edgecnn.runtime.onnxruntime:OrtBackend")
BACKENDS.add("torch", "edgecnn.runtime.torch:TorchBackend")
BACKENDS.add("openvino", "edgecnn.runtime.openvino:OpenVinoBackend")
BACKENDS.add("tensorrt", "edgecnn.runtime.tensorrt:TensorRTBackend")
BACKENDS.add("remote", "edgecnn.runtime.remote:RemoteBackend")

_FORMAT_BACKEND = {"onnx": "onnxruntime", "openvino": "openvino", "tensorrt": "tensorrt", "pytorch": "torch"}


def load_session(
    artifact: Any,
    *,
    backend: str | None = None,
    threads: int | None = None,
    device: str = "cpu",
    simulate_qdq: bool = False,
    **options: Any,
) -> Session:
    """Load an Artifact, a model file path, or a ModelSpec (torch) into a Session.

    The backend is inferred from the artifact's format when not given. simulate_qdq (onnxruntime only): compute
    every Q/DQ pair as written, in float, as TensorRT does (see `edgecnn.runtime.onnxruntime`).
    """

    if isinstance(artifact, (str, Path)):
        artifact = Artifact.from_path(artifact)
    if backend is None:
        fmt = getattr(artifact, "format", None) or ("pytorch" if hasattr(artifact, "module") else None)
        if fmt not in _FORMAT_BACKEND:
            raise InvalidInputError(
                f"cannot infer a backend for {artifact!r}; name one of {', '.join(BACKENDS.names())}"
            )
        backend = _FORMAT_BACKEND[fmt]
    if simulate_qdq:
        if backend != "onnxruntime":
            raise InvalidInputError(f"simulate_qdq is an option of the onnxruntime backend, not of {backend}")
        options["simulate_qdq"] = True
    impl = BACKENDS.get(backend)()
    opts = SessionOptions(threads=threads, device=device, precision=options.pop("precision", None), extra=options)
    return impl.load(artifact, opts)


__all__ = ["BACKENDS", "Backend", "Session", "SessionBase", "SessionOptions", "load_session"]
