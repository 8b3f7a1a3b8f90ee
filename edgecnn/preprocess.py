"""Torch-free image preprocessing from a `Preprocess`: decode, resize the shorter side, centre crop, normalise.

Pure numpy (PIL only decodes files) so the deployment bundle loader and the device agent can use it
without torch. The resize is bilinear with antialiasing (a triangle filter widened when downscaling),
the same filter PIL and torchvision use, so a model sees what it saw in training.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from edgecnn.errors import InvalidInputError
from edgecnn.spec import Preprocess

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
# ITU-R 601-2 luma, what PIL's convert("L") uses
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file to HxWxC uint8 (C is 1 for grayscale files, else 3; alpha is dropped)."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with warnings.catch_warnings():
            # an image between Pillow's pixel limit and twice it only warns: refuse it like a larger one
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                im.load()
                mode = "L" if im.mode in ("L", "I", "I;16", "F", "1") else "RGB"
                arr = np.asarray(im.convert(mode))
    except FileNotFoundError:
        raise InvalidInputError(f"image not found: {path}") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidInputError(
            f"refusing image {path}: it decodes to more than Pillow's limit of {Image.MAX_IMAGE_PIXELS:,} pixels "
            "(a decompression bomb, or an image far larger than a model input)"
        ) from None
    except IsADirectoryError:
        raise InvalidInputError(f"{path} is a directory, not an image file") from None
    except MemoryError:
        raise InvalidInputError(f"image {path} is too large to decode in memory") from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot read image {path}: {exc}") from None
    return arr[:, :, None] if arr.ndim == 2 else arr


def preprocess_image(
    img: np.ndarray, pre: Preprocess, *, channels: int, size: tuple[int, int] | None = None
) -> np.ndarray:
    """HxWxC (or HxW) uint8/float image -> CHW float32 model input.

    Steps: match `channels` (luma for 1, replicate gray for 3), resize the shorter side to `pre.resize`
    (when it is None, to the crop size, so a large photo is not cut down to a tiny patch), centre crop to
    `pre.crop` (or `size` when there is no crop), scale to [0, 1], then (x - mean) / std.
    """
    x = _as_hwc_float(img)
    x = _match_channels(x, channels, grayscale=pre.grayscale)
    crop = _crop_size(pre.crop, size)
    short = pre.resize or (min(crop) if crop else None)
    if short:
        x = resize_shorter(x, short)
    if crop:
        x = center_crop(x, crop)
    mean, std = _stats(pre.mean, channels, "mean"), _stats(pre.std, channels, "std")
    x = (x / 255.0 - mean) / std
    return np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32)


def resize_shorter(img: np.ndarray, short: int) -> np.ndarray:
    """Resize HxWxC so its shorter side is `short`, keeping the aspect ratio (torchvision's Resize(int))."""
    h, w = img.shape[:2]
    if min(h, w) == short:
        return img
    if h <= w:
        new_h, new_w = short, max(1, int(short * w / h))
    else:
        new_h, new_w = max(1, int(short * h / w)), short
    return resize(img, (new_h, new_w))


def resize(img: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """Antialiased bilinear resize of HxWxC data, separable: rows first, then columns."""
    x = img.astype(np.float32, copy=False)
    x = _resample_axis(x, out_hw[0], axis=0)
    return _resample_axis(x, out_hw[1], axis=1)


def _resample_axis(x: np.ndarray, n_out: int, *, axis: int) -> np.ndarray:
    """Each output line is a weighted sum of a few input lines (the filter's support): gather + multiply-add."""
    idx, weights = _bilinear_taps(x.shape[axis], n_out)
    out = None
    for k in range(idx.shape[1]):
        shape = (-1, 1, 1) if axis == 0 else (1, -1, 1)
        term = np.take(x, idx[:, k], axis=axis) * weights[:, k].reshape(shape)
        out = term if out is None else out + term
    return out


def center_crop(img: np.ndarray, crop: tuple[int, int]) -> np.ndarray:
    """Centre crop HxWxC to crop=(h, w); a smaller image is upscaled first so the crop always fits."""
    ch, cw = crop
    h, w = img.shape[:2]
    if h < ch or w < cw:
        scale = max(ch / h, cw / w)
        img = resize(img, (max(ch, round(h * scale)), max(cw, round(w * scale))))
        h, w = img.shape[:2]
    top, left = int(round((h - ch) / 2.0)), int(round((w - cw) / 2.0))
    return img[top : top + ch, left : left + cw]


def _bilinear_taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """(n_out, taps) input indices and weights of PIL's triangle filter, support widened when downscaling."""
    scale = n_in / n_out
    support = max(scale, 1.0)
    centers = (np.arange(n_out, dtype=np.float64) + 0.5) * scale
    taps = int(np.ceil(support)) * 2 + 1
    first = np.floor(centers - support).astype(np.int64)
    idx = first[:, None] + np.arange(taps)[None, :]
    weights = np.clip(1.0 - np.abs(idx + 0.5 - centers[:, None]) / support, 0.0, None)
    weights[(idx < 0) | (idx >= n_in)] = 0.0
    weights /= weights.sum(axis=1, keepdims=True)
    return np.clip(idx, 0, n_in - 1), weights.astype(np.float32)


def _as_hwc_float(img: np.ndarray) -> np.ndarray:
    arr = np.asarray(img)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise InvalidInputError(f"expected an HxW or HxWxC image with 1, 3 or 4 channels, got shape {arr.shape}")
    if arr.shape[2] == 4:
        arr = arr[:, :, :3]
    return arr.astype(np.float32)


def _match_channels(x: np.ndarray, channels: int, *, grayscale: bool) -> np.ndarray:
    if channels == 1 or grayscale:
        if x.shape[2] == 3:
            x = (x @ _LUMA)[:, :, None]
        return np.repeat(x, channels, axis=2) if channels > 1 else x
    if channels == 3:
        return np.repeat(x, 3, axis=2) if x.shape[2] == 1 else x
    raise InvalidInputError(f"image preprocessing supports 1- or 3-channel models, not {channels} channels")


def _crop_size(crop: int | tuple[int, int] | None, size: tuple[int, int] | None) -> tuple[int, int] | None:
    if crop is None:
        return tuple(size) if size else None  # type: ignore[return-value]
    return (crop, crop) if isinstance(crop, int) else (int(crop[0]), int(crop[1]))


def _stats(values: tuple[float, ...], channels: int, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float32)
    if arr.size == 1:
        return np.full(channels, float(arr[0]), dtype=np.float32)
    if arr.size == 3 and channels == 1:
        return np.asarray([float(arr @ _LUMA)], dtype=np.float32)  # an RGB statistic seen through luma
    if arr.size != channels:
        raise InvalidInputError(f"preprocess {what} has {arr.size} values but the model has {channels} channels")
    return arr
