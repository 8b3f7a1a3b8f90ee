"""Calibration data: an image folder, an array file, an iterable of arrays, or the default photo set.

Everything ends as one float32 array (N, C, H, W) (or (N, C, L) for 1-D models) already preprocessed the
way the model expects, checked against the model's input shape.
"""

from __future__ import annotations

import logging
import os
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgecnn.artifact import load_onnx_model
from edgecnn.errors import InvalidInputError
from edgecnn.onnx_graph import data_inputs
from edgecnn.preprocess import IMAGE_SUFFIXES, load_image, preprocess_image
from edgecnn.progress import track
from edgecnn.spec import IMAGENET_MEAN, IMAGENET_STD, InputSpec, ModelSpec, Preprocess

log = logging.getLogger("edgecnn.quant")

DEFAULT_SIZE = 300
DEFAULT_SET = Path(__file__).resolve().parents[1] / "data" / "calibration"
_ARRAY_KEYS = ("x", "inputs", "data", "images")


@dataclass
class ImageData:
    """Preprocessed images from a folder; `labels` index into `classes` (None when the folder is flat)."""

    x: np.ndarray
    labels: np.ndarray | None
    classes: list[str] | None
    skipped: int


def load_calibration(
    source: Any,
    spec: ModelSpec | InputSpec,
    *,
    preprocess: Preprocess | None = None,
    size: int = DEFAULT_SIZE,
    seed: int = 0,
) -> np.ndarray:
    """Calibration inputs for `spec` from `source` as float32 (N, C, ...), at most `size` samples.

    source: a folder of images (recursive; jpg/png/...), a `.npy`/`.npz` file, an array, an iterable of
    arrays (single samples or batches), or None for the default photo set (expanded with seeded random
    resized crops and flips). Images get `preprocess` (default: the spec's). The same seed gives the
    same sample.
    """
    input_spec, pre = _resolve(spec, preprocess)
    if size < 1:
        raise InvalidInputError(f"calibration size must be at least 1, got {size}")
    if source is None:
        return default_calibration(input_spec, pre, size=size, seed=seed)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise InvalidInputError(f"calibration data not found: {path}")
        if path.is_dir():
            return load_image_folder(path, input_spec, preprocess=pre, size=size, seed=seed).x
        if path.suffix.lower() in (".npy", ".npz"):
            return _subsample(check_shape(read_array_file(path), input_spec, what=str(path)), size, seed)
        raise InvalidInputError(f"calibration data must be a folder of images or a .npy/.npz file, got {path}")
    if isinstance(source, np.ndarray):
        return _subsample(check_shape(source, input_spec, what="the calibration array"), size, seed)
    if isinstance(source, Iterable):
        return _subsample(
            check_shape(_stack(source, size, len(input_spec.shape)), input_spec, what="the calibration arrays"),
            size,
            seed,
        )
    raise InvalidInputError(
        f"unsupported calibration source of type {type(source).__name__}; "
        "give a folder, a .npy/.npz file, arrays, or nothing for the default photos"
    )


def load_image_folder(
    path: str | os.PathLike,
    spec: ModelSpec | InputSpec,
    *,
    preprocess: Preprocess | None = None,
    size: int | None = None,
    seed: int = 0,
) -> ImageData:
    """Images below `path` (recursive), preprocessed; first-level sub-folders are classes (ImageFolder)."""
    input_spec, pre = _resolve(spec, preprocess)
    _require_images(input_spec)
    root = Path(path)
    if not root.is_dir():
        raise InvalidInputError(f"image folder not found: {root}")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InvalidInputError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found in {root}")
    if size is not None and len(files) > size:
        pick = np.random.default_rng(seed).choice(len(files), size=size, replace=False)
        files = [files[i] for i in sorted(pick)]
    classes = sorted({p.relative_to(root).parts[0] for p in files if len(p.relative_to(root).parts) > 1})
    labelled = bool(classes) and all(len(p.relative_to(root).parts) > 1 for p in files)
    arrays, labels, skipped, first_problem = [], [], 0, ""
    for file in track(files, "reading images"):
        try:
            img = load_image(file)
        except InvalidInputError as exc:
            log.debug("%s", exc)
            first_problem = first_problem or str(exc)
            skipped += 1
            continue
        arrays.append(preprocess_image(img, pre, channels=input_spec.channels, size=input_spec.spatial))
        if labelled:
            labels.append(classes.index(file.relative_to(root).parts[0]))
    if skipped:
        log.warning("skipped %d unreadable image(s) of %d in %s", skipped, len(files), root)
    if not arrays:
        raise InvalidInputError(f"none of the {len(files)} image file(s) in {root} could be read ({first_problem})")
    return ImageData(
        np.stack(arrays), np.asarray(labels, np.int64) if labelled else None, classes if labelled else None, skipped
    )


def default_calibration(
    spec: ModelSpec | InputSpec, preprocess: Preprocess | None = None, *, size: int = DEFAULT_SIZE, seed: int = 0
) -> np.ndarray:
    """The shipped photos expanded to `size` samples with seeded random resized crops and flips."""
    return default_calibration_with_sources(spec, preprocess, size=size, seed=seed)[0]


def default_calibration_with_sources(
    spec: ModelSpec | InputSpec, preprocess: Preprocess | None = None, *, size: int = DEFAULT_SIZE, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """`default_calibration` plus the source photo of each sample (an index into the sorted photos), so a
    held-out split can keep every crop of one photo on one side."""
    input_spec, pre = _resolve(spec, preprocess)
    _require_images(input_spec)
    photos = sorted(DEFAULT_SET.glob("*.jpg"))
    if not photos:
        raise InvalidInputError(f"the default calibration photos are missing from {DEFAULT_SET}; reinstall edgecnn")
    images = [load_image(p) for p in photos]
    rng = np.random.default_rng(seed)
    out = np.empty((size, *input_spec.shape[1:]), np.float32)
    sources = np.empty(size, np.int64)
    for i in track(range(size), "calibration photos"):
        if i < len(images):
            sources[i], img = i, images[i]
        else:
            sources[i] = rng.integers(len(images))
            img = _random_resized_crop(images[sources[i]], rng)
        out[i] = preprocess_image(img, pre, channels=input_spec.channels, size=input_spec.spatial)
    return out, sources


def read_array_file(path: Path) -> np.ndarray:
    """A float array from .npy (the array) or .npz (key x/inputs/data/images, else the first array)."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise InvalidInputError(f"cannot read array file {path}: {str(exc).splitlines()[0]}") from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            if not loaded.files:
                raise InvalidInputError(f"{path} holds no arrays")
            key = next((k for k in _ARRAY_KEYS if k in loaded.files), loaded.files[0])
            return np.asarray(loaded[key])
    return np.asarray(loaded)


def check_shape(x: np.ndarray, spec: InputSpec, *, what: str) -> np.ndarray:
    """Accept (N, *sample) or one sample; the sample shape must be the model's (C, H, W) / (C, L)."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.number):
        raise InvalidInputError(f"{what} must be numeric, got dtype {x.dtype}")
    sample = spec.shape[1:]
    if x.ndim == len(sample):
        x = x[None]
    if x.ndim != len(spec.shape) or tuple(x.shape[1:]) != tuple(sample):
        hint = " (1-D models need arrays (N, C, L))" if spec.layout == "NCL" else ""
        raise InvalidInputError(
            f"{what} has shape {tuple(x.shape)} but the model expects (N, {', '.join(map(str, sample))}){hint}"
        )
    if len(x) == 0:
        raise InvalidInputError(f"{what} is empty")
    x = np.ascontiguousarray(x, dtype=np.float32)
    bad = int(x.size - np.count_nonzero(np.isfinite(x)))
    if bad:
        raise InvalidInputError(f"{what} has {bad} value(s) that are not finite (NaN or Inf); clean the data first")
    return x


def input_spec_of_onnx(path: str | os.PathLike) -> InputSpec:
    """The InputSpec of an ONNX model's first input (a dynamic batch becomes 1)."""
    model = load_onnx_model(path)
    first = data_inputs(model.graph)[0]
    dims = [d.dim_value if d.HasField("dim_value") else None for d in first.type.tensor_type.shape.dim]
    if any(d is None for d in dims[1:]):
        raise InvalidInputError(
            f"{path}: input '{first.name}' has dynamic non-batch dimensions {dims}; export it with a fixed size"
        )
    shape = (1, *dims[1:])
    return InputSpec(tuple(int(d) for d in shape), layout="NCL" if len(shape) == 3 else "NCHW", name=first.name)


def _resolve(spec: ModelSpec | InputSpec, preprocess: Preprocess | None) -> tuple[InputSpec, Preprocess]:
    if isinstance(spec, ModelSpec):
        input_spec, pre = spec.input, preprocess or spec.preprocess
    elif isinstance(spec, InputSpec):
        input_spec, pre = spec, preprocess
    else:
        raise InvalidInputError(f"expected a ModelSpec or InputSpec, got {type(spec).__name__}")
    if pre is None and input_spec.layout == "NCHW":
        # no preprocessing known (an ONNX file, a custom module): ImageNet statistics at the input size
        pre = Preprocess(
            crop=tuple(input_spec.spatial),
            mean=IMAGENET_MEAN if input_spec.channels == 3 else (0.5,),
            std=IMAGENET_STD if input_spec.channels == 3 else (0.5,),
        )
    return input_spec, pre or Preprocess()


def _require_images(spec: InputSpec) -> None:
    if spec.layout != "NCHW":
        raise InvalidInputError(
            f"a {spec.layout} (1-D) model cannot be calibrated with images; "
            "pass calibration arrays (.npy/.npz, or arrays of shape (N, C, L))"
        )


def _random_resized_crop(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """torchvision RandomResizedCrop's box sampling (8-100% of the area, aspect 3/4-4/3) plus a random flip."""
    h, w = img.shape[:2]
    for _ in range(10):
        area = h * w * rng.uniform(0.08, 1.0)
        aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
        ch, cw = int(round(np.sqrt(area / aspect))), int(round(np.sqrt(area * aspect)))
        if 0 < ch <= h and 0 < cw <= w:
            top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
            img = img[top : top + ch, left : left + cw]
            break
    return img[:, ::-1] if rng.random() < 0.5 else img


def _stack(source: Iterable[Any], size: int, rank: int) -> np.ndarray:
    """Items of the model's rank are batches (concatenated); one rank lower, single samples (stacked)."""
    parts, count = [], 0
    for item in source:
        arr = np.asarray(item.numpy() if hasattr(item, "numpy") else item)
        if arr.ndim not in (rank, rank - 1):
            raise InvalidInputError(
                f"a calibration array has shape {arr.shape}; expected {rank}-d batches or {rank - 1}-d samples"
            )
        parts.append(arr if arr.ndim == rank else arr[None])
        count += len(parts[-1])
        if count >= size * 4:  # enough to subsample from; do not drain an endless generator
            break
    if not parts:
        raise InvalidInputError("the calibration iterable yielded no arrays")
    try:
        return np.concatenate(parts)
    except ValueError as exc:
        raise InvalidInputError(f"calibration arrays have different shapes: {exc}") from None


def _subsample(x: np.ndarray, size: int, seed: int) -> np.ndarray:
    if len(x) <= size:
        return x
    pick = np.sort(np.random.default_rng(seed).choice(len(x), size=size, replace=False))
    return np.ascontiguousarray(x[pick])
