"""fp32 ONNX export with simplification, checking, and a numerical comparison against PyTorch."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from edgecnn.artifact import Artifact
from edgecnn.errors import InvalidInputError
from edgecnn.fileio import atomic_path
from edgecnn.spec import ModelSpec

log = logging.getLogger("edgecnn.export")

DEFAULT_OPSET = 17


def export_onnx(
    spec: ModelSpec,
    path: str | Path,
    *,
    opset: int = DEFAULT_OPSET,
    dynamic_batch: bool = False,
    simplify: bool = True,
    check: bool = True,
    inputs: np.ndarray | None = None,
) -> Artifact:
    """Export `spec` to ONNX at `path` (written atomically) and return the Artifact.

    The TorchScript exporter is used: it is fast (under a second) and folds BatchNorm into Conv.
    With `check`, the exported model runs in ONNX Runtime on `inputs` (default: a seeded random batch)
    and the max abs / relative error against PyTorch lands in `artifact.provenance["check"]`.
    """
    import onnx
    import torch

    path = Path(path)
    module = spec.module.eval()
    example = spec.example_input(1)
    in_name, out_name = spec.input.name, "logits"
    axes = {in_name: {0: "batch"}, out_name: {0: "batch"}} if dynamic_batch else None
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice is not actionable for users
        try:
            torch.onnx.export(module, (example,), str(tmp), opset_version=opset, input_names=[in_name],
                              output_names=[out_name], dynamic_axes=axes, dynamo=False, do_constant_folding=True)
        except Exception as exc:
            raise InvalidInputError(f"cannot export {spec.name} to ONNX: {str(exc).splitlines()[0][:300]}") from None
        model = onnx.load(str(tmp))
        nodes_before = len(model.graph.node)
        if simplify:
            model = simplify_onnx(model)
        onnx.checker.check_model(model)
        onnx.save(model, str(tmp))
    artifact = Artifact(
        path=path,
        format="onnx",
        precision="fp32",
        inputs=[{**spec.input.to_dict(), "shape": ["batch" if dynamic_batch else spec.input.shape[0], *spec.input.shape[1:]]}],
        outputs=[{"name": out_name}],
        provenance={"model": spec.describe(), "opset": opset, "exporter": f"torch.onnx {torch.__version__} (TorchScript)",
                    "nodes": {"exported": nodes_before, "final": len(model.graph.node)}, "simplified": simplify},
    )
    if check:
        artifact.provenance["check"] = compare_with_torch(spec, artifact, inputs)
    return artifact


def simplify_onnx(model: Any) -> Any:
    """Fold constants and fuse ops with onnxslim; keep the original when it fails (never lose the export)."""
    try:
        import onnxslim

        return onnxslim.slim(model)
    except Exception as exc:  # onnxslim raises various errors on exotic graphs
        log.warning("onnxslim could not simplify the model (%s); keeping the unsimplified graph", exc)
        return model


def compare_with_torch(spec: ModelSpec, artifact: Artifact, inputs: np.ndarray | None = None) -> dict[str, float]:
    """Run the artifact in ONNX Runtime and PyTorch on the same inputs; report max abs and relative error."""
    import torch

    from edgecnn.runtime import load_session

    x = inputs if inputs is not None else spec.example_input(2 if _dynamic(artifact) else 1, seed=1).numpy()
    with torch.no_grad():
        ref = spec.module(torch.from_numpy(x)).numpy()
    out = load_session(artifact).run(x)[0]
    return output_error(ref, out)


def output_error(ref: np.ndarray, out: np.ndarray) -> dict[str, float]:
    """Max abs error, and that error relative to the reference output scale (max |ref|)."""
    ref = np.asarray(ref, dtype=np.float64)
    out = np.asarray(out, dtype=np.float64)
    abs_err = float(np.max(np.abs(ref - out))) if ref.size else 0.0
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    return {"max_abs_error": abs_err, "max_rel_error": abs_err / scale if scale > 0 else abs_err}


def _dynamic(artifact: Artifact) -> bool:
    return bool(artifact.inputs) and artifact.inputs[0]["shape"][0] == "batch"
