"""evaluate(): accuracy on labelled data and fidelity against a float reference, for any runnable model."""

from __future__ import annotations

import logging
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from edgecnn.artifact import Artifact
from edgecnn.errors import InvalidInputError
from edgecnn.evaluation.digits import load_digits, load_digits_1d
from edgecnn.evaluation.metrics import accuracy
from edgecnn.metrics import measure_fidelity
from edgecnn.quant.calibration import check_shape, input_spec_of_onnx, load_image_folder, read_array_file
from edgecnn.runtime import load_session
from edgecnn.spec import InputSpec, ModelSpec, Preprocess

log = logging.getLogger("edgecnn.evaluate")


def evaluate(
    model: Any,
    data: Any,
    *,
    labels: np.ndarray | None = None,
    reference: Any = None,
    batch: int = 64,
    size: int | None = None,
    seed: int = 0,
    threads: int | None = None,
) -> dict[str, Any]:
    """Run `model` on `data`; report accuracy when labels exist and fidelity when a reference is given.

    model: an Artifact, a model file path, a Session (anything with `.run`) or a ModelSpec.
    data: an array (N, C, ...), a `.npy` file, a `.npz` file (`x` plus optional `y` labels), an image
    folder (ImageFolder sub-folders give labels), or "digits" (scikit-learn's digits test split, sized
    to the model input). reference: reference logits (array) or another model run on the same data.
    `size` caps the number of samples (a seeded random subset).
    """
    session = as_session(model, threads=threads)
    x, data_labels = load_eval_data(data, model, size=size, seed=seed)
    labels = data_labels if labels is None else check_labels(labels, len(x))
    logits = predict(session, x, batch=batch)
    if labels is not None:
        check_labels(labels, len(x), classes=int(np.asarray(logits).reshape(len(logits), -1).shape[1]))
    result: dict[str, Any] = {
        "samples": int(len(x)),
        "accuracy": None,
        "fidelity": None,
        "session": session.describe() if hasattr(session, "describe") else None,
    }
    if labels is not None:
        result["accuracy"] = accuracy(logits, labels)
    else:
        result["accuracy_reason"] = "no labels: accuracy needs a labelled folder, a .npz with y, or labels="
    if reference is not None:
        ref = (
            np.asarray(reference)
            if isinstance(reference, np.ndarray)
            else predict(as_session(reference, threads=threads), x, batch=batch)
        )
        result["fidelity"] = measure_fidelity(ref, logits).to_dict()
        if labels is not None:
            result["reference_accuracy"] = accuracy(ref, labels)
            result["accuracy_delta"] = result["accuracy"]["top1"] - result["reference_accuracy"]["top1"]
    return result


def predict(session: Any, x: np.ndarray, *, batch: int = 64) -> np.ndarray:
    """Logits for every sample of `x`, in batches the session accepts (one at a time for a fixed batch of 1)."""
    fixed = _fixed_batch(session)
    step = fixed or batch
    if fixed and len(x) % fixed:
        raise InvalidInputError(f"the model takes batches of exactly {fixed}; {len(x)} samples do not divide evenly")
    outs = [
        np.asarray(session.run(np.ascontiguousarray(x[i : i + step], dtype=np.float32))[0])
        for i in range(0, len(x), step)
    ]
    return np.concatenate(outs) if outs else np.zeros((0,), np.float32)


def as_session(model: Any, *, threads: int | None = None) -> Any:
    """An already-loaded session passes through; anything else goes to `edgecnn.runtime.load_session`."""
    if hasattr(model, "run") and hasattr(model, "input_names"):
        return model

    return load_session(model, threads=threads)


def load_eval_data(
    data: Any, model: Any, *, size: int | None = None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray | None]:
    """(inputs, labels or None) from an array, .npy/.npz, image folder or "digits"."""

    input_spec, pre = model_io(model)
    if isinstance(data, str) and data == "digits":
        x, y = _digits(input_spec)
    elif isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if path.is_dir():
            if input_spec is None:
                raise InvalidInputError(
                    "evaluating on an image folder needs the model's input shape (give a ModelSpec or an ONNX file)"
                )
            folder = load_image_folder(path, input_spec, preprocess=pre)
            x, y = folder.x, folder.labels
        elif path.suffix.lower() == ".npz":
            x, y = _npz(path)
        elif path.suffix.lower() == ".npy":
            x, y = read_array_file(path), None
        else:
            raise InvalidInputError(
                f"evaluation data must be an image folder, .npy/.npz file, array or 'digits', got {path}"
            )
    elif isinstance(data, tuple) and len(data) == 2:
        x, y = np.asarray(data[0]), np.asarray(data[1])
    elif hasattr(data, "x") and hasattr(data, "y"):  # a digits Split
        x, y = np.asarray(data.x), np.asarray(data.y)
    else:
        x, y = np.asarray(data), None
    if input_spec is not None:
        x = check_shape(x, input_spec, what="the evaluation data")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if size is not None and len(x) > size:
        pick = np.sort(np.random.default_rng(seed).choice(len(x), size=size, replace=False))
        x, y = x[pick], (y[pick] if y is not None else None)
    return x, (check_labels(y, len(x)) if y is not None else None)


def check_labels(labels: Any, samples: int, *, classes: int | None = None) -> np.ndarray:
    """Class indices as int64 (N,): whole numbers, one per sample, in [0, classes) when the classes are known."""
    y = np.asarray(labels)
    if y.dtype.kind not in "iub" and not (y.dtype.kind == "f" and np.isfinite(y).all() and (y == np.round(y)).all()):
        raise InvalidInputError(f"labels must be whole class indices, got dtype {y.dtype}")
    y = y.astype(np.int64).reshape(-1)
    if len(y) != samples:
        raise InvalidInputError(f"{len(y)} labels for {samples} samples: give one label per sample")
    if len(y) and y.min() < 0:
        raise InvalidInputError(f"label {int(y.min())} is negative: labels are class indices from 0")
    if classes is not None and len(y) and y.max() >= classes:
        raise InvalidInputError(
            f"label {int(y.max())} is out of range: the model has {classes} classes (labels 0..{classes - 1})"
        )
    return y


def model_io(model: Any) -> tuple[InputSpec | None, Preprocess | None]:
    """The input spec and preprocessing of a ModelSpec, an Artifact (from its provenance) or an ONNX file."""
    if isinstance(model, ModelSpec):
        return model.input, model.preprocess

    path = model.path if isinstance(model, Artifact) else Path(model) if isinstance(model, (str, os.PathLike)) else None
    if path is None or path.suffix.lower() != ".onnx":
        return None, None

    pre = None
    if isinstance(model, Artifact):
        described = (model.provenance.get("model") or {}).get("preprocess")
        pre = Preprocess.from_dict(described) if described else None
    try:
        return input_spec_of_onnx(path), pre
    except InvalidInputError:
        return None, pre


def _fixed_batch(session: Any) -> int | None:
    shapes = getattr(session, "input_shapes", None)
    if shapes and shapes[0] and isinstance(shapes[0][0], int):
        return int(shapes[0][0])
    return None


def _npz(path: Path) -> tuple[np.ndarray, np.ndarray | None]:

    try:
        with np.load(path, allow_pickle=False) as z:
            y = next((np.asarray(z[k]) for k in ("y", "labels", "targets") if k in z.files), None)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise InvalidInputError(f"cannot read {path} as a .npz file: {str(exc).splitlines()[0]}") from None
    return read_array_file(path), y


def _digits(input_spec: InputSpec | None) -> tuple[np.ndarray, np.ndarray]:

    if input_spec is None:
        raise InvalidInputError("'digits' needs the model's input shape (give a ModelSpec or an ONNX file)")
    if input_spec.layout == "NCL":
        _, test = load_digits_1d(input_spec.shape[-1])
    else:
        _, test = load_digits(size=input_spec.shape[-1], channels=input_spec.channels)
    return test.x, test.y
