"""edgecnn.preprocess: torch-free resize / crop / normalise, checked against torchvision's transforms and by hand."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from edgecnn.errors import InvalidInputError
from edgecnn.preprocess import center_crop, load_image, preprocess_image, resize_shorter
from edgecnn.quant.calibration import DEFAULT_SET
from edgecnn.spec import Preprocess


def _photo(h: int = 60, w: int = 90) -> np.ndarray:
    rng = np.random.default_rng(0)
    base = np.linspace(0, 255, w, dtype=np.float32)[None, :, None] * np.ones((h, 1, 3), np.float32)
    return np.clip(base + rng.normal(0, 20, (h, w, 3)), 0, 255).astype(np.uint8)


IMAGENET = Preprocess(resize=256, crop=224, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
PHOTOS = sorted(DEFAULT_SET.glob("*.jpg"))


def _torchvision(path, pre: Preprocess, *, gray: bool = False) -> np.ndarray:
    """What torchvision's PIL training transforms make of the photo."""
    from torchvision import transforms as T

    crop = pre.crop if isinstance(pre.crop, int) else tuple(pre.crop)
    steps = [T.Grayscale()] if gray else []
    steps += [
        T.Resize(pre.resize or min(_pair(crop))),
        T.CenterCrop(crop),
        T.ToTensor(),
        T.Normalize(pre.mean, pre.std),
    ]
    with Image.open(path) as im:
        return T.Compose(steps)(im.convert("RGB")).numpy()


def _pair(crop):
    return (crop, crop) if isinstance(crop, int) else crop


@pytest.mark.parametrize(
    "pre",
    [
        IMAGENET,
        Preprocess(resize=73, crop=(50, 60), mean=(0.5, 0.4, 0.3), std=(0.2, 0.3, 0.4)),
        Preprocess(resize=None, crop=32),
    ],
    ids=["imagenet", "odd-sizes", "no-resize"],
)
def test_matches_torchvision_transforms_bit_for_bit_on_the_shipped_photos(pre):
    assert len(PHOTOS) >= 10
    for path in PHOTOS:
        ours = preprocess_image(load_image(path), pre, channels=3)
        assert np.array_equal(ours, _torchvision(path, pre)), path.name


def test_grayscale_model_matches_torchvision_grayscale_bit_for_bit():
    pre = Preprocess(resize=None, crop=28, mean=(0.5,), std=(0.5,), grayscale=True)
    for path in PHOTOS:
        ours = preprocess_image(load_image(path), pre, channels=1)
        assert np.array_equal(ours, _torchvision(path, pre, gray=True)), path.name


def test_float_image_is_resized_in_float_within_one_grey_level_of_the_8bit_path():
    # Pillow rounds the 8-bit image to integers between its two passes; float planes are not rounded
    pre = Preprocess(resize=256, crop=224, mean=(0.0,), std=(1 / 255,))
    img = load_image(PHOTOS[0])
    exact = preprocess_image(img, pre, channels=3)
    floating = preprocess_image(img.astype(np.float32), pre, channels=3)
    assert floating.shape == exact.shape and 0 < np.abs(floating - exact).max() <= 1.0 + 1e-4
    assert np.array_equal(preprocess_image(img.astype(np.int64), pre, channels=3), exact)


def test_resize_shorter_keeps_aspect_and_crop_is_centred():
    img = Image.new("L", (90, 60))
    assert resize_shorter(img, 30).size == (45, 30)
    marked = np.zeros((5, 7), np.uint8)
    marked[2, 3] = 255
    assert np.asarray(center_crop(Image.fromarray(marked), (1, 1)))[0, 0] == 255


def test_crop_larger_than_the_image_upscales_instead_of_padding():
    img = Image.fromarray(np.full((20, 20), 200, np.uint8))
    out = center_crop(img, (20, 40))
    assert out.size == (40, 20) and np.asarray(out).min() == 200  # no zero padding


def test_preprocess_normalises_to_chw_float32():
    img = np.full((40, 50, 3), 255, np.uint8)
    x = preprocess_image(img, Preprocess(resize=36, crop=32, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25)), channels=3)
    assert x.shape == (3, 32, 32) and x.dtype == np.float32
    np.testing.assert_allclose(x, 2.0, atol=1e-5)


def test_grayscale_model_gets_luma_and_gray_image_is_replicated_for_rgb():
    rgb = np.zeros((32, 32, 3), np.uint8)
    rgb[..., 1] = 255  # pure green: luma 0.587, which Pillow's 8-bit convert("L") rounds to 150 / 255
    x = preprocess_image(rgb, Preprocess(crop=32, mean=(0.0,), std=(1.0,), grayscale=True), channels=1)
    assert x.shape == (1, 32, 32)
    np.testing.assert_allclose(x, 150 / 255, atol=1e-6)
    y = preprocess_image(
        rgb.astype(np.float32), Preprocess(crop=32, mean=(0.0,), std=(1.0,), grayscale=True), channels=1
    )
    np.testing.assert_allclose(y, 0.587, atol=1e-6)
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
