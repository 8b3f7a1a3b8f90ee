"""Torch-free image preprocessing from a `Preprocess`: decode, resize the shorter side, centre crop, normalise.

numpy and Pillow only, so the deployment bundle loader and the device agent can use it without torch. Resize
and crop are Pillow's, called the way torchvision's `Resize(size)` and `CenterCrop(crop)` call them on a PIL
image (bilinear, antialiased, the same output-size and crop-offset rounding), so a uint8 image becomes
bit for bit what torchvision's training transforms make of it (tests/test_preprocess.py checks it).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from edgecnn.errors import InvalidInputError
from edgecnn.spec import Preprocess

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
# ITU-R 601-2 luma, what PIL's convert("L") uses (here for float images and RGB statistics)
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file to HxWxC uint8 (C is 1 for grayscale files, else 3; alpha is dropped)."""
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
    A uint8 image is resized as one 8-bit Pillow image (rounded between passes, as in torchvision);
    a float image (values in 0..255) channel by channel in Pillow's 32-bit float mode.
    """
    planes = _planes(_as_hwc(img), channels, grayscale=pre.grayscale)
    crop = _crop_size(pre.crop, size)
    short = pre.resize or (min(crop) if crop else None)
    if short:
        planes = [resize_shorter(p, short) for p in planes]
    if crop:
        planes = [center_crop(p, crop) for p in planes]
    x = np.dstack([np.asarray(p, dtype=np.float32) for p in planes])
    x = np.repeat(x, channels, axis=2) if x.shape[2] == 1 < channels else x
    mean, std = _stats(pre.mean, channels, "mean"), _stats(pre.std, channels, "std")
    x = (x / np.float32(255.0) - mean) / std
    return np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32)


def resize_shorter(im: Image.Image, short: int) -> Image.Image:
    """Bilinear (antialiased) resize so the shorter side is `short`: torchvision's `Resize(short)` on a PIL image."""
    w, h = im.size
    if min(h, w) == short:
        return im
    if w <= h:
        new_w, new_h = short, int(short * h / w)
    else:
        new_w, new_h = int(short * w / h), short
    return im.resize((new_w, new_h), Image.BILINEAR)


def center_crop(im: Image.Image, crop: tuple[int, int]) -> Image.Image:
    """Centre crop to crop=(h, w) with torchvision's `CenterCrop` offsets.

    An image smaller than the crop is upscaled until the crop fits (torchvision pads it with zeros instead);
    it only happens when there is no resize and the crop is not square, or the resize is smaller than the crop.
    """
    ch, cw = crop
    w, h = im.size
    if h < ch or w < cw:
        scale = max(ch / h, cw / w)
        im = im.resize((max(cw, round(w * scale)), max(ch, round(h * scale))), Image.BILINEAR)
        w, h = im.size
    top, left = int(round((h - ch) / 2.0)), int(round((w - cw) / 2.0))
    return im.crop((left, top, left + cw, top + ch))


def _planes(x: np.ndarray, channels: int, *, grayscale: bool) -> list[Image.Image]:
    """The image as Pillow images: one 8-bit "L"/"RGB" image for uint8 data, one 32-bit float plane per channel else."""
    if channels not in (1, 3):
        raise InvalidInputError(f"image preprocessing supports 1- or 3-channel models, not {channels} channels")
    to_gray = (channels == 1 or grayscale) and x.shape[2] == 3
    if x.dtype == np.uint8:
        im = Image.fromarray(x[:, :, 0] if x.shape[2] == 1 else x)
        return [im.convert("L") if to_gray else im]
    x = x.astype(np.float32)
    if to_gray:
        x = (x @ _LUMA)[:, :, None]
    return [Image.fromarray(np.ascontiguousarray(x[:, :, c]), mode="F") for c in range(x.shape[2])]


def _as_hwc(img: np.ndarray) -> np.ndarray:
    arr = np.asarray(img)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise InvalidInputError(f"expected an HxW or HxWxC image with 1, 3 or 4 channels, got shape {arr.shape}")
    arr = arr[:, :, :3]  # drop alpha
    if (
        arr.dtype != np.uint8
        and np.issubdtype(arr.dtype, np.integer)
        and arr.size
        and 0 <= arr.min() <= arr.max() <= 255
    ):
        arr = arr.astype(np.uint8)  # integer pixels: the exact 8-bit path
    return arr


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
