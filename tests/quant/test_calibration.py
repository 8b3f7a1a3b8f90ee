"""Calibration sources and their errors: folders, arrays, iterables, the default photo set."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from PIL import Image

from edgecnn.errors import InvalidInputError
from edgecnn.quant.calibration import DEFAULT_SET, load_calibration, load_image_folder
from edgecnn.spec import InputSpec, Preprocess

RGB32 = InputSpec((1, 3, 32, 32))
PRE = Preprocess(crop=32)


def _write_images(folder, n, size=(40, 48), seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(
            folder / f"img{i}.{'png' if i % 2 else 'jpg'}"
        )


def test_folder_is_recursive_labelled_and_seeded(tmp_path):
    _write_images(tmp_path / "cat", 3)
    _write_images(tmp_path / "dog" / "deeper", 2, seed=1)
    data = load_image_folder(tmp_path, RGB32, preprocess=PRE)
    assert data.x.shape == (5, 3, 32, 32) and data.x.dtype == np.float32
    assert data.classes == ["cat", "dog"] and sorted(data.labels.tolist()) == [0, 0, 0, 1, 1]
    a = load_calibration(tmp_path, RGB32, preprocess=PRE, size=3, seed=7)
    b = load_calibration(tmp_path, RGB32, preprocess=PRE, size=3, seed=7)
    assert a.shape == (3, 3, 32, 32) and np.array_equal(a, b)


def test_unreadable_images_are_skipped_and_counted(tmp_path, caplog):
    _write_images(tmp_path, 2)
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with caplog.at_level(logging.WARNING, logger="edgecnn.quant"):
        data = load_image_folder(tmp_path, RGB32, preprocess=PRE)
    assert data.skipped == 1 and len(data.x) == 2
    assert "skipped 1 unreadable image(s) of 3" in caplog.text


def test_folder_errors(tmp_path):
    with pytest.raises(InvalidInputError, match="no images"):
        load_calibration(tmp_path, RGB32)
    (tmp_path / "a.png").write_bytes(b"garbage")
    with pytest.raises(InvalidInputError, match="none of the 1 image"):
        load_calibration(tmp_path, RGB32)
    with pytest.raises(InvalidInputError, match="not found"):
        load_calibration(tmp_path / "missing.npy", RGB32)


def test_arrays_npy_npz_and_iterables(tmp_path):
    x = np.random.default_rng(0).standard_normal((10, 3, 32, 32)).astype(np.float32)
    np.save(tmp_path / "c.npy", x)
    np.savez(tmp_path / "c.npz", x=x, y=np.arange(10))
    assert np.array_equal(load_calibration(tmp_path / "c.npy", RGB32), x)
    assert np.array_equal(load_calibration(tmp_path / "c.npz", RGB32), x)
    assert load_calibration(x, RGB32, size=4).shape == (4, 3, 32, 32)
    assert load_calibration((s for s in x), RGB32).shape == (10, 3, 32, 32)  # single samples
    assert load_calibration([x[:4], x[4:]], RGB32).shape == (10, 3, 32, 32)  # batches


def test_wrong_shapes_are_user_errors(tmp_path):
    with pytest.raises(InvalidInputError, match=r"expects \(N, 3, 32, 32\)"):
        load_calibration(np.zeros((4, 1, 32, 32), np.float32), RGB32)
    with pytest.raises(InvalidInputError, match="different shapes|expected"):
        load_calibration([np.zeros((3, 32, 32)), np.zeros((3, 16, 16))], RGB32)
    with pytest.raises(InvalidInputError, match="no arrays"):
        load_calibration(iter([]), RGB32)
    with pytest.raises(InvalidInputError, match="size"):
        load_calibration(None, RGB32, size=0)


def test_default_photos_rgb_and_grayscale():
    assert len(list(DEFAULT_SET.glob("*.jpg"))) >= 15
    rgb = load_calibration(None, RGB32, preprocess=PRE, size=24, seed=3)
    assert rgb.shape == (24, 3, 32, 32) and np.isfinite(rgb).all() and rgb.std() > 0.3
    assert np.array_equal(rgb, load_calibration(None, RGB32, preprocess=PRE, size=24, seed=3))
    assert not np.array_equal(rgb, load_calibration(None, RGB32, preprocess=PRE, size=24, seed=4))
    gray = load_calibration(
        None, InputSpec((1, 1, 32, 32)), preprocess=Preprocess(crop=32, mean=(0.5,), std=(0.5,), grayscale=True), size=5
    )
    assert gray.shape == (5, 1, 32, 32) and -1.01 <= gray.min() and gray.max() <= 1.01


def test_one_dimensional_models_need_arrays():
    spec = InputSpec((1, 1, 128), layout="NCL")
    with pytest.raises(InvalidInputError, match="1-D.*arrays"):
        load_calibration(None, spec)
    x = np.zeros((6, 1, 128), np.float32)
    assert load_calibration(x, spec).shape == (6, 1, 128)
