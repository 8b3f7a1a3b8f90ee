"""fp32 ONNX export with simplification, checking, and a numerical comparison against PyTorch."""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from edgecnn.artifact import Artifact
from edgecnn.errors import InvalidInputError
from edgecnn.metrics import measure_fidelity
from edgecnn.runtime import load_session
from edgecnn.spec import ModelSpec

log = logging.getLogger("edgecnn.export")

Simplifier = Literal["onnxslim", "onnxsim", "none"]
SIMPLIFIERS: tuple[str, ...] = ("onnxslim", "onnxsim", "none")
# protobuf cannot serialise a message over 2 GiB; keep a margin for the graph itself
EXTERNAL_DATA_THRESHOLD = 1_800_000_000


def default_opset() -> int:
    """The opset the installed torch exporter defaults to (capped at what its TorchScript path supports)."""
    from torch.onnx import _constants

    return min(_constants.ONNX_DEFAULT_OPSET, _constants.ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET)


def export_onnx(
    spec: ModelSpec,
    path: str | Path,
    *,
    opset: int | None = None,
    dynamic_batch: bool = False,
    simplify: bool | Simplifier = True,
    check: bool = True,
    inputs: np.ndarray | None = None,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    external_data: bool | None = None,
) -> Artifact:
    """Export `spec` to ONNX at `path` (written atomically) and return the Artifact.

    The TorchScript exporter is used: it is fast (under a second) and folds BatchNorm into Conv.
    opset: None takes the installed exporter's default. simplify: True/"onnxslim", "onnxsim", False/"none".
    external_data: None stores weights in a side `<name>.data` file only when the model nears protobuf's
    2 GiB limit; True/False force it. With `check`, the exported model runs in ONNX Runtime on `inputs`
    (default: a seeded random batch) and the max abs / relative error against PyTorch lands in
    `artifact.provenance["check"]`.
    """
    import onnx
    import torch

    path = Path(path)
    opset = default_opset() if opset is None else int(opset)
    simplifier = _simplifier(simplify)
    module = spec.module.eval()
    example = spec.example_input(1)
    in_names = list(input_names or [spec.input.name])
    out_names = list(output_names or ["logits"])
    if len(in_names) != 1:
        raise InvalidInputError(f"{spec.name} takes one input; got {len(in_names)} input names")
    axes = {name: {0: "batch"} for name in in_names + out_names} if dynamic_batch else None
    weight_bytes = sum(t.numel() * t.element_size() for t in [*module.parameters(), *module.buffers()])
    if external_data is None:
        external_data = weight_bytes > EXTERNAL_DATA_THRESHOLD
    with tempfile.TemporaryDirectory(prefix=".edgecnn-export-", dir=_parent(path)) as work, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice is not actionable for users
        raw = Path(work) / "exported.onnx"
        try:
            torch.onnx.export(
                module,
                (example,),
                str(raw),
                opset_version=opset,
                input_names=in_names,
                output_names=out_names,
                dynamic_axes=axes,
                dynamo=False,
                do_constant_folding=True,
            )
        except Exception as exc:
            raise InvalidInputError(f"cannot export {spec.name} to ONNX: {str(exc).splitlines()[0][:300]}") from None
        model = onnx.load(str(raw))
        nodes_before = len(model.graph.node)
        if simplifier != "none":
            model = simplify_onnx(model, simplifier=simplifier, large=external_data)
        save_onnx(model, path, external_data=external_data)
    batch_dim: int | str = "batch" if dynamic_batch else spec.input.shape[0]
    artifact = Artifact(
        path=path,
        format="onnx",
        precision="fp32",
        inputs=[{**spec.input.to_dict(), "name": in_names[0], "shape": [batch_dim, *spec.input.shape[1:]]}],
        outputs=[{"name": n} for n in out_names],
        provenance={
            "model": spec.describe(),
            "opset": opset,
            "exporter": f"torch.onnx {torch.__version__} (TorchScript)",
            "nodes": {"exported": nodes_before, "final": len(model.graph.node)},
            "simplifier": simplifier,
            "external_data": bool(external_data),
        },
    )
    if check:
        artifact.provenance["check"] = compare_with_torch(spec, artifact, inputs)
    return artifact


def save_onnx(model: Any, path: str | Path, *, external_data: bool = False) -> Path:
    """Check and write an ONNX model atomically; with `external_data` the weights go to `<name>.data`.

    Both files are written in a temporary folder beside `path` and then renamed into place (data first),
    so a failure leaves neither a half-written model nor a damaged earlier one.
    """
    import onnx

    path = Path(path)
    with tempfile.TemporaryDirectory(prefix=".edgecnn-save-", dir=_parent(path)) as work:
        staged = Path(work) / path.name
        data_name = path.name + ".data"
        if external_data:
            onnx.save_model(
                model,
                str(staged),
                save_as_external_data=True,
                all_tensors_to_one_file=True,
                location=data_name,
                size_threshold=1024,
            )
            onnx.checker.check_model(str(staged))  # the path form handles models over 2 GiB
            os.replace(staged.with_name(data_name), path.with_name(data_name))
        else:
            onnx.checker.check_model(model)
            onnx.save_model(model, str(staged))
            path.with_name(data_name).unlink(missing_ok=True)  # a stale side file would confuse loaders
        os.replace(staged, path)
    return path


def simplify_onnx(model: Any, *, simplifier: Simplifier = "onnxslim", large: bool = False) -> Any:
    """Fold constants and fuse ops; keep the original when the simplifier fails (never lose the export)."""
    if simplifier == "onnxsim" and large:
        log.warning("onnxsim cannot handle models over 2 GiB; keeping the unsimplified graph")
        return model
    try:
        if simplifier == "onnxsim":
            import onnxsim

            simplified, ok = onnxsim.simplify(model)
            if not ok:
                log.warning("onnxsim's own check of the simplified model failed; keeping the unsimplified graph")
                return model
            return simplified
        import onnxslim

        return onnxslim.slim(model)
    except ImportError as exc:
        raise InvalidInputError(
            f"simplifier {simplifier} is not installed ({exc}); pip install {simplifier}, or pass simplify='none'"
        ) from None
    except Exception as exc:  # simplifiers raise various errors on exotic graphs
        log.warning("%s could not simplify the model (%s); keeping the unsimplified graph", simplifier, exc)
        return model


def compare_with_torch(spec: ModelSpec, artifact: Artifact, inputs: np.ndarray | None = None) -> dict[str, Any]:
    """Run the artifact in ONNX Runtime and PyTorch on the same inputs; their `Fidelity` (max abs/rel error, ...)."""

    x = inputs if inputs is not None else spec.example_input(2 if _dynamic(artifact) else 1, seed=1).numpy()
    with load_session(spec, backend="torch") as reference:
        ref = reference.run(x)[0]
    with load_session(artifact) as session:
        out = session.run(x)[0]
    return measure_fidelity(ref, out).to_dict()


def _simplifier(simplify: bool | str) -> Simplifier:
    if simplify is True:
        return "onnxslim"
    if simplify is False or simplify is None:
        return "none"
    if simplify not in SIMPLIFIERS:
        raise InvalidInputError(f"unknown simplifier '{simplify}'; choose one of {', '.join(SIMPLIFIERS)}")
    return simplify  # type: ignore[return-value]


def _parent(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(path.parent)


def _dynamic(artifact: Artifact) -> bool:
    return bool(artifact.inputs) and artifact.inputs[0]["shape"][0] == "batch"
