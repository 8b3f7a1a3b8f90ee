"""edgecnn.preprocess: torch-free resize / crop / normalise, checked against PIL and by hand."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from edgecnn.errors import InvalidInputError
from edgecnn.preprocess import center_crop, load_image, preprocess_image, resize, resize_shorter
from edgecnn.spec import Preprocess


def _photo(h: int = 60, w: int = 90) -> np.ndarray:
    rng = np.random.default_rng(0)
    base = np.linspace(0, 255, w, dtype=np.float32)[None, :, None] * np.ones((h, 1, 3), np.float32)
    return np.clip(base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)


def test_resize_matches_pil_bilinear_antialiased():
    img = _photo()
    ours = resize(img.astype(np.float32), (25, 40))
    pil = np.asarray(Image.fromarray(img).resize((40, 25), Image.BILINEAR), dtype=np.float32)
    assert ours.shape == pil.shape
    assert np.abs(ours - pil).max() <= 1.5  # PIL rounds to uint8 between its two passes


def test_resize_shorter_keeps_aspect_and_crop_is_centred():
    img = np.zeros((60, 90, 1), np.float32)
    assert resize_shorter(img, 30).shape == (30, 45, 1)
    marked = np.zeros((5, 7, 1), np.float32)
    marked[2, 3] = 1.0
    assert center_crop(marked, (1, 1))[0, 0, 0] == 1.0


def test_preprocess_normalises_to_chw_float32():
    img = np.full((40, 50, 3), 255, np.uint8)
    x = preprocess_image(img, Preprocess(resize=36, crop=32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)), channels=3)
    assert x.shape == (3, 32, 32) and x.dtype == np.float32
    np.testing.assert_allclose(x, 2.0, atol=1e-5)


def test_grayscale_model_gets_luma_and_gray_image_is_replicated_for_rgb():
    rgb = np.zeros((32, 32, 3), np.uint8)
    rgb[..., 1] = 255  # pure green: luma 0.587
    x = preprocess_image(rgb, Preprocess(crop=32, mean=(0.0,), std=(1.0,), grayscale=True), channels=1)
    assert x.shape == (1, 32, 32)
    np.testing.assert_allclose(x, 0.587, atol=1e-3)
    gray = np.full((32, 32), 128, np.uint8)
    y = preprocess_image(gray, Preprocess(crop=32, mean=(0.0,), std=(1.0,)), channels=3)
    assert y.shape == (3, 32, 32) and np.allclose(y[0], y[2])


def test_no_resize_means_shorter_side_goes_to_the_crop():
    img = _photo(200, 300)
    x = preprocess_image(img, Preprocess(crop=20), channels=3)
    assert x.shape == (3, 20, 20)
    # the whole photo's gradient survives (not a tiny central patch): left and right columns differ a lot
    assert x[0, :, -1].mean() - x[0, :, 0].mean() > 1.0


def test_bad_inputs_raise_user_errors(tmp_path):
    with pytest.raises(InvalidInputError, match="channels"):
        preprocess_image(np.zeros((8, 8, 2), np.uint8), Preprocess(crop=4), channels=3)
    with pytest.raises(InvalidInputError, match="mean"):
        preprocess_image(np.zeros((8, 8, 3), np.uint8), Preprocess(crop=4, mean=(0.1, 0.2)), channels=3)
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image")
    with pytest.raises(InvalidInputError, match="cannot read image"):
        load_image(bad)


def test_load_image_roundtrip(tmp_path):
    img = _photo()
    Image.fromarray(img).save(tmp_path / "a.png")
    Image.fromarray(img[..., 0]).save(tmp_path / "g.png")
    assert np.array_equal(load_image(tmp_path / "a.png"), img)
    assert load_image(tmp_path / "g.png").shape == (60, 90, 1)
