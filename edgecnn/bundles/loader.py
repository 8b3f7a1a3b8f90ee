"""The device-side loader: bundle -> Predictor, with numpy, Pillow and the runtime only (never torch).

It checks every file's sha256 and the runtime version against the manifest, then applies the
manifest's preprocessing to image files or arrays before running the model.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgecnn.artifact import Artifact
from edgecnn.bundles.manifest import RUNTIME_OF_FORMAT, inside, read_manifest, verify_files, version_tuple
from edgecnn.errors import InvalidInputError, MissingDependencyError
from edgecnn.preprocess import load_image, preprocess_image
from edgecnn.runtime import load_session
from edgecnn.spec import Preprocess

log = logging.getLogger("edgecnn.bundle")


class Predictor:
    """A loaded bundle: `predict(x)` -> logits, `classify(x)` -> top-k (label, probability)."""

    def __init__(
        self,
        root: Path,
        manifest: dict[str, Any],
        entry: dict[str, Any],
        session: Any,
        cleanup: tempfile.TemporaryDirectory | None = None,
    ) -> None:
        self.root, self.manifest, self.entry, self.session = root, manifest, entry, session
        self.labels: list[str] | None = manifest.get("labels")
        pre = manifest.get("preprocess")
        self.preprocess = Preprocess.from_dict(pre) if pre else None
        self.input = entry["inputs"][0]
        self._static_batch = isinstance(self.input["shape"][0], int)
        self._cleanup = cleanup  # an extracted .zip lives as long as the predictor

    @property
    def runtime(self) -> dict[str, Any]:
        return self.session.describe()

    def prepare(self, x: Any) -> np.ndarray:
        """Image path(s), raw HxWxC image array(s), or a ready float batch -> the model's input batch.

        A float array shaped like the model input (C,H,W or N,C,H,W) is taken as already preprocessed;
        paths, uint8 arrays and other HxWxC arrays get the manifest's preprocessing.
        """
        if isinstance(x, (str, os.PathLike)):
            return self._images([x])
        if isinstance(x, (list, tuple)) and x and isinstance(x[0], (str, os.PathLike)):
            return self._images(list(x))
        arr = np.asarray(x)
        sample = tuple(int(d) for d in self.input["shape"][1:])
        if (
            arr.dtype.kind == "f"
            and tuple(arr.shape[-len(sample) :]) == sample
            and arr.ndim in (len(sample), len(sample) + 1)
        ):
            return np.ascontiguousarray(arr.reshape((-1, *sample)), dtype=np.float32)
        if arr.ndim in (2, 3):
            return self._images([arr])
        if arr.ndim == 4:
            return self._images(list(arr))
        raise InvalidInputError(
            f"cannot make a model input of shape {self.input['shape']} from an array of shape {arr.shape}"
        )

    def predict(self, x: Any) -> np.ndarray:
        """Logits (N, classes) for image path(s), image array(s) or a preprocessed batch."""
        batch = self.prepare(x)
        if self._static_batch and self.input["shape"][0] != len(batch):
            return np.concatenate([self.session.run(batch[i : i + 1])[0] for i in range(len(batch))])
        return self.session.run(batch)[0]

    __call__ = predict

    def classify(self, x: Any, *, top_k: int = 5) -> list[list[tuple[str, float]]]:
        """Top-k (label, softmax probability) per input."""
        logits = self.predict(x).astype(np.float64)
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        labels = self.labels or [str(i) for i in range(probs.shape[1])]
        return [[(labels[i], float(p[i])) for i in np.argsort(-p)[:top_k]] for p in probs]

    def _images(self, images: Sequence[Any]) -> np.ndarray:

        if self.preprocess is None:
            raise InvalidInputError("this bundle has no preprocessing in its manifest: pass preprocessed float arrays")
        size = tuple(int(d) for d in self.input["shape"][2:])
        channels = int(self.input["shape"][1])
        out = [
            preprocess_image(
                load_image(img) if isinstance(img, (str, os.PathLike)) else np.asarray(img),
                self.preprocess,
                channels=channels,
                size=size,
            )
            for img in images
        ]  # type: ignore[arg-type]
        return np.stack(out)

    def close(self) -> None:
        if self._cleanup is not None:
            self._cleanup.cleanup()
            self._cleanup = None


def load(
    path: str | os.PathLike,
    *,
    artifact: str | int | None = None,
    backend: str | None = None,
    threads: int | None = None,
    device: str = "cpu",
    precision: str | None = None,
    check_runtime: bool = True,
) -> Predictor:
    """Open a bundle directory or .zip, verify it, and return a Predictor.

    artifact: the name or index of the artifact to run (default: the first whose runtime is installed).
    check_runtime: refuse a runtime older than the one the bundle was made and verified with.
    """
    path = Path(path)
    cleanup = None
    if path.is_file() and path.suffix.lower() == ".zip":
        from edgecnn.bundles.safezip import safe_extract

        cleanup = tempfile.TemporaryDirectory(prefix="edgecnn-bundle-")
        root = Path(cleanup.name)
        try:
            safe_extract(path, root)
        except BaseException:
            cleanup.cleanup()
            raise
    elif path.is_dir():
        root = path
    else:
        raise InvalidInputError(f"bundle not found (expected a directory or a .zip): {path}")
    try:
        manifest = read_manifest(root)
        verify_files(root, manifest)
        entry = _choose(manifest, artifact)
        session = _open(
            root,
            entry,
            backend=backend,
            threads=threads,
            device=device,
            precision=precision,
            check_runtime=check_runtime,
        )
    except BaseException:
        if cleanup is not None:
            cleanup.cleanup()
        raise
    return Predictor(root, manifest, entry, session, cleanup)


def _choose(manifest: dict[str, Any], wanted: str | int | None) -> dict[str, Any]:
    entries = manifest.get("artifacts") or []
    if not entries:
        raise InvalidInputError("the bundle lists no artifacts")
    if isinstance(wanted, int):
        if not 0 <= wanted < len(entries):
            raise InvalidInputError(f"artifact index {wanted} is out of range (the bundle has {len(entries)})")
        return entries[wanted]
    if wanted is not None:
        for entry in entries:
            if entry["name"] == wanted:
                return entry
        raise InvalidInputError(
            f"no artifact named {wanted!r} in the bundle; it has {', '.join(e['name'] for e in entries)}"
        )
    for entry in entries:
        if importlib.util.find_spec(entry["runtime"]["name"]) is not None:
            return entry
    needed = sorted({e["runtime"]["name"] for e in entries})
    raise MissingDependencyError(" or ".join(needed), why="the bundle's models need one of these runtimes")


def _open(
    root: Path,
    entry: dict[str, Any],
    *,
    backend: str | None,
    threads: int | None,
    device: str,
    precision: str | None,
    check_runtime: bool,
) -> Any:

    runtime = entry["runtime"]["name"]
    if runtime != RUNTIME_OF_FORMAT.get(entry["format"]):
        raise InvalidInputError(f"artifact {entry['name']}: format {entry['format']} cannot run on {runtime}")
    module = _import_runtime(runtime)
    installed, made_with = getattr(module, "__version__", "0"), entry["runtime"]["version"]
    if version_tuple(installed)[:2] < version_tuple(made_with)[:2]:
        message = (
            f"{runtime} {installed} is older than the {made_with} this bundle was made and verified with; "
            "upgrade it (or load with check_runtime=False to try anyway)"
        )
        if check_runtime:
            raise InvalidInputError(message)
        log.warning(message)
    art = Artifact(
        path=inside(root.resolve(), entry["file"]),
        format=entry["format"],
        precision=entry["precision"],
        target=entry.get("target"),
        inputs=entry["inputs"],
        outputs=entry["outputs"],
    )
    options = {"precision": precision} if precision else {}
    return load_session(art, backend=backend, threads=threads, device=device, **options)


def _import_runtime(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        raise MissingDependencyError(name, why="the bundle's model runs on it") from None
