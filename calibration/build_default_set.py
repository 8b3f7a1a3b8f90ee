"""Rebuild the default calibration photos in edgecnn/data/calibration/ from the packages that ship them.

Run with the dev extras installed: `python calibration/build_default_set.py`. Every photo is a real
photograph with a permissive licence (see LICENSES.md); each is saved as a small JPEG (longer side 384)
so the package stays light. Calibration later expands them with seeded random resized crops and flips.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

OUT = Path(__file__).resolve().parents[1] / "edgecnn" / "data" / "calibration"
LONGER_SIDE = 384

# file name -> (package, path inside its data folder); licences in LICENSES.md
SKIMAGE = [
    "astronaut.png",
    "coffee.png",
    "chelsea.png",
    "rocket.jpg",
    "hubble_deep_field.jpg",
    "ihc.png",
    "retina.jpg",
    "camera.png",
    "coins.png",
    "clock_motion.png",
    "brick.png",
    "grass.png",
    "gravel.png",
    "cell.png",
    "text.png",
]
SKLEARN = ["china.jpg", "flower.jpg"]
MATPLOTLIB = ["grace_hopper.jpg"]


def _sources() -> list[tuple[str, Path]]:
    import matplotlib
    import skimage.data
    import sklearn.datasets

    sk = Path(os.path.dirname(skimage.data.__file__))
    sl = Path(os.path.dirname(sklearn.datasets.__file__)) / "images"
    mpl = Path(matplotlib.get_data_path()) / "sample_data"
    return (
        [(f"skimage_{n}", sk / n) for n in SKIMAGE]
        + [(f"sklearn_{n}", sl / n) for n in SKLEARN]
        + [(f"matplotlib_{n}", mpl / n) for n in MATPLOTLIB]
    )


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, src in _sources():
        with Image.open(src) as im:
            im = im.convert("L" if im.mode in ("L", "1", "I", "I;16", "F") else "RGB")
            if im.mode == "L" and np.asarray(im).dtype != np.uint8:
                im = im.point(lambda v: v / 256)
            im.thumbnail((LONGER_SIDE, LONGER_SIDE), Image.BICUBIC)
            dest = OUT / (Path(name).stem + ".jpg")
            im.save(dest, quality=90)
            print(f"{dest.name}: {im.size[0]}x{im.size[1]} {im.mode}")


if __name__ == "__main__":
    main()
